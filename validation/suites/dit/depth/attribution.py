"""Attribution in the depth suite: each block's share of the replica difference at the output (dit_bridge.attribution).

    attribution_steps(num_steps, n) -> the kept sampler steps
    attribution_record(model, mix, st) -> the cell (effects per kept step, pair and feature)
    analyse_attribution(cell, labels, n_boot, seed) -> depth.json's "attribution" block
    attribution_text(a) -> one sentence
    control_record(model, expect, st) -> the record of one depth control (dit_depth_localise's rule on its attribution)

Shares are pooled over the kept steps: block l's total share on feature k is
sum_{steps, pairs} c_lk Delta_k / sum_{steps, pairs} Delta_k^2 (c the total effect, Delta the actual
difference of phi_k . x0_hat); the direct shares and the input's close on 1 up to the closure error.
Intervals: percentile bootstrap over pairs (the same pairs at every kept step).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict

import numpy as np

from syncgap.theory.checks import InputError, check_choice, check_int
from syncgap.theory.intervals import interval_fields, read_triple

from syncgap.validation.suites.dit.depth.localise import MIN_NULL, control_k, localise, margin, set_effects

EFFECTS = ("actual", "skip", "input_direct", "direct", "total")


def attribution_steps(num_steps: int, n: int) -> list[int]:
    """n interior sampler steps spread evenly over 0 .. num_steps - 1 (the ends excluded: pure noise, last read)."""
    n = check_int("n_attribution_steps", n, 1, max(1, num_steps - 2))
    return sorted({int(round(s)) for s in np.linspace(0, num_steps - 1, n + 2)[1:-1]})


def attribution_record(model, mix, st) -> dict:
    """The cell: per kept step (axis 0) actual, skip, input_direct (P, F) and direct, total (L, P, F). The pair
    runs uncoupled: attribution is defined at g = 0 only (InputError otherwise)."""
    from syncgap.dit_bridge.attribution import attribution_run   # torch: imported where the cell runs
    if st.g != 0:
        raise InputError(f"attribution runs the uncoupled pair: the depth settings' g must be 0, got {st.g}")
    t0 = time.process_time()
    steps = attribution_steps(st.num_steps, st.n_attribution_steps)
    r = attribution_run(model, mix, n_pairs=st.attribution_pairs, num_steps=st.num_steps, steps=steps, seed=st.seed,
                        eps=st.eps)
    out = {k: np.stack([r[s][k] for s in steps]) for k in EFFECTS}
    return {"steps": steps, "timesteps": [r[s]["timestep"] for s in steps], **out,
            "cpu_s": round(time.process_time() - t0, 2)}


def pooled_shares(cell: dict, pairs: np.ndarray | None = None) -> dict:
    """Shares pooled over kept steps (module docstring) on the pairs `pairs` (default all): total, direct (L, F),
    input and closure_error (F,)."""
    def take(k):
        v = np.asarray(cell[k], float)
        return v if pairs is None else np.take(v, pairs, axis=-2)
    act = take("actual")                                   # (S_a, P, F)
    norm = (act ** 2).sum((0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        def share(v):                                      # v (..., S_a, P, F) -> (..., F)
            return np.where(norm > 0, (v * act).sum((-3, -2)) / norm, np.nan)
        direct = share(np.moveaxis(take("direct"), 1, 0))   # (L, F)
        total = share(np.moveaxis(take("total"), 1, 0))
        inp = share(take("skip")) + share(take("input_direct"))
    return {"total": total, "direct": direct, "input": inp, "closure_error": 1 - inp - direct.sum(0)}


def share_boots(cell: dict, n_boot: int, seed: int) -> dict:
    """Estimates and bootstrap resamples (over pairs, one rng(seed)) of pooled_shares: {name: (est, (B, ...))}."""
    est = pooled_shares(cell)
    n = np.asarray(cell["actual"]).shape[1]
    rng = np.random.default_rng(seed)
    boots = [pooled_shares(cell, rng.integers(0, n, n)) for _ in range(check_int("n_boot", n_boot, 10))]
    return {k: (est[k], np.stack([b[k] for b in boots])) for k in est}


def _interval(est, boots) -> tuple:
    """(est, low, high), each of est's shape, from an estimate (...) and resamples (B, ...) (95% percentile,
    NaN-aware)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an all-NaN slice (no difference at all) stays NaN
        lo, hi = np.nanquantile(boots, [0.025, 0.975], axis=0)
    return est, lo, hi


def analyse_attribution(cell: dict, labels: list[str], n_boot: int, seed: int, fine: int | None = None) -> dict:
    """Per block and feature the total and direct shares, the input share and the closure error, each with its
    interval (theory.intervals); per kept step the point shares (figure); and the localisation rule's inputs and answer
    on feature `fine` (default the last): the summed total shares of the last and first k = control_k(L) blocks
    against MIN_NULL random k-sets (dit_depth_localise)."""
    b = share_boots(cell, n_boot, seed)
    per_step = [pooled_shares({k: np.asarray(cell[k])[i:i + 1] for k in EFFECTS}) for i in range(len(cell["steps"]))]
    fine = len(labels) - 1 if fine is None else fine
    est, boots = b["total"]
    eff = set_effects(est[:, fine], boots[:, :, fine], control_k(est.shape[0]), MIN_NULL, seed)
    answer, reason = localise(read_triple(eff, "last"), read_triple(eff, "first"), eff["null"], eff["k"])
    return {"steps": cell["steps"], "features": labels, "n_pairs": int(np.asarray(cell["actual"]).shape[1]),
            **{f: v for k in ("total", "direct", "input", "closure_error")
               for f, v in interval_fields(k, *_interval(*b[k])).items()},
            "total_by_step": np.stack([s["total"] for s in per_step]), "cpu_s": cell["cpu_s"],
            "localisation": {**eff, "feature": labels[fine], "answer": answer, "reason": reason}}


def attribution_text(a: dict) -> str:
    """One sentence: the blocks with the largest total shares on the coarse and fine features, and the closure."""
    at = a["attribution"]
    tot = np.asarray([[np.nan if v is None else v for v in blk] for blk in at["total"]], float)   # (L, F)
    parts = []
    for name in a.get("gap_features") or [at["features"][0], at["features"][-1]]:
        k = at["features"].index(name)
        top = np.argsort(-np.nan_to_num(tot[:, k], nan=-np.inf))[:3]
        parts.append(f"{name}: blocks {', '.join(str(int(i) + 1) for i in top)} carry the largest total shares "
                     f"({', '.join(f'{tot[i, k]:.2f}' for i in top)}), the last 5 together "
                     f"{np.nansum(tot[-5:, k]):.2f}")
    clos = np.asarray([np.nan if v is None else v for v in at["closure_error"]], float)   # (F,)
    return (f"Attribution (JVP of the rest of the network, {at['n_pairs']} pairs at steps {at['steps']}): "
            + "; ".join(parts) + f"; closure error of the direct decomposition at most "
            f"{np.nanmax(np.abs(clos)):.3g}. Localisation rule on {at['localisation']['feature']}: "
            f"{at['localisation']['answer']} ({at['localisation']['reason']}).")


def control_record(model, expect: str, st) -> dict:
    """The cached record of one depth control (dit_depth_localise.RECORD_FILE beside its weights): the attribution run of the depth
    suite (`attribution_record`, sizes `st` a DepthSettings) on the model's finest generated feature, the
    rule's inputs and its answer, against the construction `expect` ("last" or "first").

    Fields: model, weights (fingerprint), expect, k, feature, last and first (each with _low and _high), null, null_sets,
    answer, reason, margin (of the expected end), settings, cpu_s."""
    from syncgap.dit_bridge.registry import weights_fingerprint   # torch: imported where a control runs

    from syncgap.validation.suites.dit import cells as dit_cells
    check_choice("expect", expect, ("last", "first"))
    mix = dit_cells.fhgm_mixture(model)
    if mix is None:
        raise InputError(f"model {model.name!r} is not trained on the FHGM: a depth control needs its features")
    gen = dit_cells.generated_units(model, mix)
    cell = attribution_record(model, mix, st)
    loc = analyse_attribution(cell, list(mix.names), st.n_boot, st.seed, gen[-1])["localisation"]
    return {"model": model.name, "weights": weights_fingerprint(model.model), "expect": expect, **loc,
            "margin": margin(loc, expect), "settings": asdict(st), "cpu_s": cell["cpu_s"]}


__all__ = ["EFFECTS", "attribution_steps", "attribution_record", "pooled_shares", "share_boots",
           "analyse_attribution", "attribution_text", "control_record"]
