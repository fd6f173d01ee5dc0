"""Necessity by ablation in the depth suite (`validate --full`): does removing one block's replica difference in
the fine feature's band, during its commitment window, move that feature's commitment in the cloning window?

    ablation_part(model, mix, feature, out_dir, s, say) -> depth.json's "ablation" block (cells cached per block)
    analyse_ablation(t, reference, runs, feature, k, n_boot, seed) -> the same from the arrays (pure)

Per block: the shift tau_ablated - tau_reference of the feature's cloning commitment step (midpoint of the
agreement curve against t_int, dit_bridge.commitment.commitment_time, rising), bootstrapped jointly over the
same pairs; the effect is -shift / removed energy (positive when the block's difference in the band delays
agreement), so blocks that remove different energies compare per unit removed. Blocks run: the last k, the
first k and MIN_NULL random other blocks (the null); the localisation rule (dit_depth_localise.localise)
compares the mean effect of the last k and of the first k with the random blocks' effects.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from syncgap.theory.intervals import list_fields, triple_fields
from syncgap.validation.store import compute_cell, numbers_only

from syncgap.validation.suites.dit.depth.localise import MIN_NULL, control_k, localise


@dataclass(frozen=True)
class AblationSettings:
    n_pairs: int = 32
    num_steps: int = 20
    t_ints: tuple = (0, 4, 6, 8, 10, 12, 14, 16, 18)
    half_window: int = 2        # sampler steps each side of the reference commitment step that are ablated
    n_random: int = MIN_NULL    # random other blocks: the null
    n_boot: int = 200
    seed: int = 0


def _tau(t, agree):
    from syncgap.dit_bridge.commitment import commitment_time
    x = commitment_time(t, np.asarray(agree, float).mean(0), direction="rising")
    return x if x is not None and t[0] <= x <= t[-1] else None


def analyse_ablation(t, reference, runs: dict, feature: int, k: int, n_layers: int, n_boot: int = 200,
                     seed: int = 0) -> dict:
    """runs: {block (0-based): (agreement (P, F, T), removed energy per pair and call)}; reference (P, F, T).
    Per block the shift (joint bootstrap over pairs) and the effect -shift / removed, each with its interval (lists
    per block, theory.intervals), and the rule's inputs and answer (mean effect of the last k / first k blocks
    against the random blocks')."""
    t = np.asarray(t, float)
    ref = np.asarray(reference, float)[:, feature]
    blocks = sorted(runs)
    arr = np.stack([np.asarray(runs[b][0], float)[:, feature] for b in blocks])   # (B, P, T)
    removed = np.asarray([float(runs[b][1]) for b in blocks])
    n = ref.shape[0]

    def effects(idx):
        r = _tau(t, ref[idx])
        taus = [_tau(t, a[idx]) for a in arr]
        shift = np.asarray([np.nan if r is None or x is None else x - r for x in taus])
        with np.errstate(invalid="ignore", divide="ignore"):
            return shift, np.where(removed > 0, -shift / removed, np.nan)
    est_shift, est_eff = effects(np.arange(n))
    rng = np.random.default_rng(seed)
    boots = [effects(rng.integers(0, n, n)) for _ in range(n_boot)]
    bs, be = np.stack([b[0] for b in boots]), np.stack([b[1] for b in boots])

    def iv(e, b):
        ok = b[np.isfinite(b)]
        if not np.isfinite(e):
            return [None, None, None]
        if ok.size < b.size / 2:
            return [float(e), None, None]
        return [float(e), float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))]
    pos = {b: i for i, b in enumerate(blocks)}
    last, first = list(range(n_layers - k, n_layers)), list(range(k))

    def set_iv(members):
        if not all(m in pos for m in members):
            return None
        idx = [pos[m] for m in members]
        return iv(est_eff[idx].mean(), be[:, idx].mean(1))
    null_blocks = [b for b in blocks if b not in last and b not in first]
    null = [float(est_eff[pos[b]]) for b in null_blocks if np.isfinite(est_eff[pos[b]])]
    last_iv, first_iv = set_iv(last), set_iv(first)
    eff = {"k": k, **triple_fields("last", last_iv), **triple_fields("first", first_iv), "null": null,
           "null_blocks": null_blocks}
    answer, reason = localise(last_iv, first_iv, null, k)
    return {"blocks": blocks, "removed_energy": removed.tolist(), "reference_tau": _tau(t, ref),
            **list_fields("shift", [iv(est_shift[i], bs[:, i]) for i in range(len(blocks))]),
            **list_fields("effect", [iv(est_eff[i], be[:, i]) for i in range(len(blocks))]),
            "localisation": {**eff, "answer": answer, "reason": reason}}


def ablation_blocks(n_layers: int, k: int, n_random: int, seed: int) -> list[int]:
    """The last k, the first k and n_random random other blocks (0-based, numpy default_rng(seed))."""
    ends = set(range(k)) | set(range(n_layers - k, n_layers))
    others = [b for b in range(n_layers) if b not in ends]
    pick = np.random.default_rng(seed).choice(others, size=min(n_random, len(others)), replace=False)
    return sorted(ends | {int(b) for b in pick})


def ablation_part(model, mix, feature: int, out_dir: str, s: AblationSettings = AblationSettings(),
                  say=lambda m: None) -> dict:
    """Run (or reuse) the reference and every block's ablated cloning cell of one model and analyse them."""
    from syncgap.dit_bridge.ablation import ablated_cloning
    from syncgap.dit_bridge.layer_modes import mode_groups
    from syncgap.dit_bridge.recording import token_grid
    from syncgap.dit_bridge.registry import weights_fingerprint
    from syncgap.dit_bridge.sampling import make_scheduler
    h, w = token_grid(model.model)
    band = mode_groups(mix, h, w, model.model.config.patch_size)[1][feature]
    base = {"kind": "depth_ablation", "model": model.name, "weights": weights_fingerprint(model.model),
            "feature": feature, **asdict(s)}
    folder = os.path.join(out_dir, "dit", model.name.replace("/", "_"), "depth_ablation")

    def cell(layer, window):
        path = os.path.join(folder, f"block{'_ref' if layer is None else layer}.json")
        r, reused = compute_cell(path, {**base, "layer": -1 if layer is None else layer, "window": list(window)},
                                 lambda: ablated_cloning(model, mix.patterns, layer, band, window, s.t_ints,
                                                         n_pairs=s.n_pairs, num_steps=s.num_steps, seed=s.seed),
                                 validate=numbers_only)
        say(f"dit {model.name}: depth ablation block {layer}: {'reused' if reused else 'done'}")
        return r["result"]
    ref = cell(None, (0, 0))
    t = np.asarray(ref["t_int"], float)
    tau = _tau(t, np.asarray(ref["agreement"], float)[:, feature])
    if tau is None:
        return {"feature": mix.names[feature], "reason": f"{mix.names[feature]} does not commit in the cloning "
                "window (flat agreement curve): no window to ablate", "settings": asdict(s)}
    sched = make_scheduler(model, "ddpm")
    sched.set_timesteps(s.num_steps)
    ts = [int(x) for x in sched.timesteps]
    lo_step, hi_step = max(0, int(np.floor(tau)) - s.half_window), min(s.num_steps - 1, int(np.ceil(tau)) + s.half_window)
    window = (ts[hi_step], ts[lo_step])          # timesteps fall along the run
    k = control_k(model.num_layers)
    runs = {}
    for b in ablation_blocks(model.num_layers, k, s.n_random, s.seed):
        r = cell(b, window)
        runs[b] = (r["agreement"], r["removed_energy"])
    out = analyse_ablation(t, ref["agreement"], runs, feature, k, model.num_layers, s.n_boot, s.seed)
    return {"feature": mix.names[feature], "window_steps": [lo_step, hi_step], "window_timesteps": list(window),
            "settings": asdict(s), **out}


def ablation_text(a: dict) -> str:
    """One sentence on the ablation block of depth.json."""
    ab = a["ablation"]
    if "localisation" not in ab:
        return f"Ablation (cloning window, {ab['feature']}'s band): not measured: {ab['reason']}."
    loc = ab["localisation"]
    return (f"Ablation ({ab['feature']}'s token band removed at one block during sampler steps {ab['window_steps'][0]}"
            f"-{ab['window_steps'][1]}, cloning commitment step {ab['reference_tau']:.2f} without ablation): the rule "
            f"answers {loc['answer']} ({loc['reason']}).")


ABLATION_COST = "about 10 CPU-minutes on the 16-block testbed (609 CPU-s, 338 s on 2 threads, 2026-12-06)"


def ablation_not_run_text() -> str:
    """The depth section's sentence where the ablation did not run (everything but validate --full)."""
    return ("Ablation (necessity: a block's band removed during the finest feature's commitment window) is not in "
            f"this report: `syncgap validate --full` runs it ({ABLATION_COST}).")


__all__ = ["AblationSettings", "ABLATION_COST", "analyse_ablation", "ablation_blocks", "ablation_part", "ablation_text",
           "ablation_not_run_text"]
