"""P2's third finding, "the gap appears only in the last layers", measured per layer (docs/science.md §5, docs/protocols.md).

    depth_part(out_dir, *, quick, full, model, device, say) -> DepthPart(checks, figures, notes, files)
    submit_depth(...) then finish_depth(...): the same with the cells computed by a CellWorkers pool

Per FHGM-trained model, cells reused on rerun (dit/<model>/):
- depth_g<g>.json: a shared-noise DDPM pair run with hooks on every block (dit_bridge.depth.depth_run)
  reduced to (a) the global/local energy of each block increment's replica difference on the token
  DCT-II, (b) the held-out correctness of per-layer ridge probes of each feature's final sign
  (dit_bridge.probes) with the Bayes ceiling from x_t, (c) P2's own measure: the normalised replica
  difference of every state x_t, h_0 .. h_L, the network's x0_hat and the exact posterior mean on each
  feature's token modes against the step (dit_bridge.layer_modes; dit_depth_modes).
- depth_attribution_g<g>.json: each block's increment difference pushed to the output by a JVP of the
  rest of the network, shares per feature and the closure error (dit_bridge.attribution;
  dit_depth_attribution).
- depth_ablation/ (validate --full only): the fine feature's band removed at one block during its
  commitment window, the shift of its cloning commitment step per energy removed (dit_depth_ablation).
From the cells alone: depth.json and its figures. The checks:
- increment_structure, probe_reads_coarse (finding MEASUREMENT: the instruments see structure, not P2.3's
  verdict): the pooled global share of the increment difference against its chance level |global| / T
  (sign check); the last layer's probe reads dct01's final sign at the last step (accuracy >= 0.9).
- localisation (P2.3): the localisation rule (dit_depth_localise.localise) on the attribution shares of the
  finest generated feature, last k (dit_depth_localise.control_k: 5, at most L/3) against the first k and >= 5 random k-sets; n/a with
  the reason while the model's positive and negative controls (dit_depth_localise.CONTROLS, records from
  `syncgap dit depth-controls`) do not both answer as constructed; ablation_localisation the same on the
  ablation effects (--full). The controls' own checks: dit.<control>.depth.control.answer.
The per-layer probe gap is a description only: on the FHGM a linear read-out of x_t is already the Bayes
classifier of each feature's sign, so no layer can add to it.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.theory.intervals import list_fields, read_triple, read_triples, triple_fields
from syncgap.validation.checks import Check, bound, decided, sign
from syncgap.validation.suites.result import Figure
from syncgap.validation.cell_workers import CellWorkers
from syncgap.validation.store import atomic_write_json, to_plain

from syncgap.validation.suites.dit import cells as dit_cells
from syncgap.validation.suites.dit.depth.ablation import ablation_not_run_text, ablation_text
from syncgap.validation.suites.dit.depth.localise import control_checks, localisation_check
from syncgap.validation.suites.dit.depth.attribution import analyse_attribution, attribution_record, attribution_text
from syncgap.validation.suites.dit.depth.modes import analyse_modes, modes_record, modes_text

FINDING = "gap appears only in the last layers"
MEASUREMENT = "depth measurement (sanity of the instruments, not P2.3's verdict)"
CLAIM = "the last ~5 of 28 layers"


@dataclass(frozen=True, kw_only=True)
class DepthSettings:
    """Sizes of one depth run (the demo's by default; QUICK for --quick and tests, FULL for validate --full)."""

    n_pairs: int = 128            # replica pairs; the probes see 2 n_pairs trajectories, folds by pair
    num_steps: int = 20           # DDPM sampler steps
    n_probe_steps: int = 10       # sampler steps at which every layer is probed
    n_windows: int = 3            # step windows of the increment shares (early, middle, late)
    n_folds: int = 5              # cross-validation folds (by pair)
    alpha: float = 1.0            # ridge penalty, lambda = alpha trace(X^T X) / d
    n_boot: int = 200
    n_boot_modes: int = 100       # bootstrap of the per-layer mode-energy commitment steps (a logistic fit each)
    attribution_pairs: int = 16   # pairs of the attribution run (JVPs through the rest of the network)
    n_attribution_steps: int = 8  # interior sampler steps at which every block is attributed (16 x 8: both controls resolve)
    eps: float = 0.3              # antisymmetric start perturbation
    g: float = 0.0                # coupling of the run (0: the intrinsic gap)
    seed: int = 0


QUICK = DepthSettings(n_pairs=24, num_steps=12, n_probe_steps=5, n_boot=60, n_boot_modes=30, attribution_pairs=4,
                      n_attribution_steps=2)
FULL = DepthSettings(n_pairs=384, num_steps=30, n_probe_steps=15, n_boot=400, n_boot_modes=400, attribution_pairs=32,
                     n_attribution_steps=28)
DEFAULT_MODELS = ("fhgm-deep16", "fhgm")   # the deep testbed (its last blocks work; it has controls); --quick: fhgm


@dataclass
class DepthPart:
    checks: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    notes: list = field(default_factory=list)     # finding text, one sentence per model
    files: list = field(default_factory=list)
    submitted: list = field(default_factory=list)   # (name, model, mix, settings, depth cell, attribution cell)


def predicted_first_layer(n_layers: int) -> int:
    """P2 [digest]: the gap appears in the last ~5 of 28 layers -> the state after block L - ceil(5L/28) + 1 (1-based),
    i.e. state index L - ceil(5L/28) + 1 in 0 (input x_t) .. L: 24 of 28, 4 of 4."""
    return int(n_layers - math.ceil(5 * n_layers / 28) + 1)


def window_of_steps(steps: np.ndarray, n_windows: int) -> np.ndarray:
    """(S,) window index 0..n_windows-1 of each sampler step: equal thirds (etc.) of the run, early first."""
    steps = np.asarray(steps)
    return np.minimum((np.arange(steps.size) * n_windows) // steps.size, n_windows - 1)


def depth_record(model, mix, st: DepthSettings) -> dict:
    """The cell: increment energies per window (W, L, P, 2), per-mode energy per window (W, L, T), probe correctness."""
    from syncgap.dit_bridge.depth import depth_run
    from syncgap.dit_bridge.probes import probe_correct
    t0 = time.process_time()
    r = depth_run(model, mix, n_pairs=st.n_pairs, num_steps=st.num_steps, seed=st.seed, eps=st.eps, g=st.g,
                  n_probe_steps=st.n_probe_steps)
    win = window_of_steps(r["steps"], st.n_windows)
    inc = np.stack([r["increments"][win == w].sum(0) for w in range(st.n_windows)])        # (W, L, P, 2)
    modes = np.stack([r["mode_energy"][win == w].sum(0) for w in range(st.n_windows)])     # (W, L, T)
    correct = probe_correct(r, st.n_folds, st.alpha, st.seed).astype(np.int8)             # (P, 2, L+1, S_p, F)
    return {"steps": r["steps"], "windows": [[int(r["steps"][win == w][0]), int(r["steps"][win == w][-1])]
                                             for w in range(st.n_windows)],
            "increments": inc, "mode_energy": modes, "mode_index": r["mode_index"], "global_mask": r["global_mask"],
            "chance_share": r["chance_share"], "probe_steps": r["probe_steps"], "correct": correct,
            "feature_coverage": r["feature_coverage"], **modes_record(r), "cpu_s": round(time.process_time() - t0, 2)}


def share_interval(inc: np.ndarray, n_boot: int, seed: int) -> list:
    """[estimate, low, high] of the pooled global share sum glob / sum total; inc (..., P, 2), pairs resampled."""
    from syncgap.ou_models.estimators import bootstrap
    units = np.moveaxis(np.asarray(inc, float), -2, 0).reshape(inc.shape[-2], -1, 2)  # (P, cells, 2)
    iv = bootstrap(lambda u: float(u[..., 0].sum() / max(u[..., 1].sum(), 1e-300)), units, n_boot, seed=seed)
    return [iv.estimate, iv.low, iv.high]


def analyse(name: str, cell: dict, st: DepthSettings, labels: list[str], n_layers: int,
            generated: list[int] | None = None, attribution: dict | None = None) -> dict:
    """depth.json content of one model, from its cell result alone. The gap is tau_l(finest) - tau_l(coarsest)
    of the features the model generates (`generated`, dit_cells.generated_units; None: all of them): the final
    sign of a feature the model does not make is set by noise, so its "commitment" is not one."""
    from syncgap.dit_bridge.probes import layer_commitment
    ends = (generated[0], generated[-1]) if generated else (0, len(labels) - 1)
    inc = np.asarray(cell["increments"], float)   # (W, L, P, 2)
    shares = [[share_interval(inc[w, layer], st.n_boot, st.seed) for layer in range(inc.shape[1])]
              for w in range(inc.shape[0])]
    probes = layer_commitment(np.asarray(cell["probe_steps"], float), np.asarray(cell["correct"], float),
                              coarse=ends[0], fine=ends[1], n_boot=st.n_boot, seed=st.seed)
    return {"model": name, "n_layers": n_layers, "features": labels, "settings": asdict(st),
            "chance_share": cell["chance_share"], "windows": cell["windows"], **list_fields("share", shares),
            **triple_fields("share_pooled", share_interval(inc, st.n_boot, st.seed)), "probe_steps": cell["probe_steps"],
            **({"bayes_ceiling": np.asarray(cell["bayes_accuracy"])[np.searchsorted(cell["steps"], cell["probe_steps"])]}
               if "bayes_accuracy" in cell else {}),
            "feature_coverage": cell["feature_coverage"], "predicted_first_layer": predicted_first_layer(n_layers),
            "cpu_s": cell["cpu_s"], "gap_features": [labels[ends[0]], labels[ends[1]]],
            "not_generated": [x for i, x in enumerate(labels) if generated and i not in generated], **probes,
            "layer_modes": analyse_modes(cell, labels, generated, st.n_boot_modes, st.seed),
            **({} if attribution is None else
               {"attribution": analyse_attribution(attribution, labels, st.n_boot, st.seed, ends[1])})}


def _num(x):
    return None if x is None or not math.isfinite(float(x)) else float(x)


def checks_for(a: dict, control_reason: str | None = "the depth controls were not read") -> list[Check]:
    """The checks of one model's depth.json (see the module docstring): two measurement checks (finding
    MEASUREMENT, not P2.3's verdict) and the localisation check (P2.3), n/a with `control_reason` when the
    controls do not show the test can answer (None: they do)."""
    m, boot = a["model"], "95% percentile bootstrap over pairs"
    est, lo, hi = (_num(v) for v in read_triple(a, "share_pooled"))
    chance = a["chance_share"]
    excess = None if est is None else est - chance
    ci = None if None in (est, lo, hi) else (lo - chance, hi - chance)
    out = [decided(f"dit.{m}.depth.increment_structure", "global share of the block increments' replica difference "
                   "(token DCT modes with both indices <= 2, pooled over layers, steps and pairs) minus its chance "
                   f"level {chance:.3g} (an isotropic difference): the measurement sees structure", None, excess, ci,
                   "share of energy", sign(excess, ci, expected=1), kind="sign", model=m,
                   finding=MEASUREMENT, expects="> 0", tolerance=f"sign: {boot}; n/a (blind) when it contains 0, "
                   "fails when wholly below (the difference sits in the fine modes)")]
    acc = np.asarray(a["accuracy"], float)   # (L + 1, S_p, F)
    last = float(acc[-1, -1, 0])
    out.append(decided(f"dit.{m}.depth.probe_reads_coarse", f"held-out accuracy of the last layer's probe of "
                       f"{a['features'][0]}'s final sign at the last probed step", 0.9, last, (last, last),
                       "accuracy", bound(0.9, last, (last, last), side="above"), kind="bound",
                       model=m, finding=MEASUREMENT, tolerance="point estimate over all held-out trajectories"))
    if "attribution" in a:
        out.append(localisation_check(m, a["attribution"]["localisation"], control_reason, FINDING,
                                      f"total attribution shares on {a['attribution']['localisation']['feature']}"))
    if "localisation" in a.get("ablation", {}):
        out.append(localisation_check(m, a["ablation"]["localisation"], control_reason, FINDING,
                                      f"ablation of {a['ablation']['feature']}'s band: commitment shift per energy "
                                      "removed, random single blocks as the null", "ablation_localisation"))
    return out


def _ends(a: dict) -> list[str]:
    """[coarse, fine]: the features the gap is read on (older depth.json: the first and the last feature)."""
    return a.get("gap_features") or [a["features"][0], a["features"][-1]]


def emergence_layer(a: dict) -> int | None:
    """Where the gap emerges: the first layer resolving gap_l, or, when layer 0 (x_t) already resolves it, the
    first layer whose change gap_l - gap_0 is resolved (a linear probe reads x_t, so layer 0 holds the data's own
    gap; only a change can be the network's). None: nothing resolved."""
    first = a["first_resolved_layer"]
    return first if first is None or first > 0 else a.get("first_changed_layer")


def finding_text(a: dict) -> str:
    """One sentence: the per-layer gap and the verdict against P2's claim (reproduced / not reproduced / not resolved)."""
    m, first, pred, n = a["model"], a["first_resolved_layer"], a["predicted_first_layer"], a["n_layers"]
    gaps, changes = read_triples(a, "gap"), read_triples(a, "gap_change")   # per layer

    def iv(x):
        return "none" if x[0] is None else f"{x[0]:.2f} [{_fmt(x[1])}, {_fmt(x[2])}]"
    left = a.get("not_generated") or []
    head = (f"{m} ({n} blocks): probe gap tau_l({_ends(a)[1]}) - tau_l({_ends(a)[0]}) in sampler steps "
            f"at the input x_t {iv(gaps[0])}, after block 1 {iv(gaps[1])}, after the last block {iv(gaps[-1])}; "
            f"increment global share pooled {a['share_pooled']:.3g} vs chance {a['chance_share']:.3g}. "
            + (f"The gap leaves out {', '.join(left)}, which the model does not generate (below half its amplitude "
               "on the model card). " if left else ""))
    changed = a.get("first_changed_layer")
    change = (f" No layer changes the gap from the input's beyond its interval (gap_l - gap_0 after the last block "
              f"{iv(changes[-1])})." if changed is None else
              f" The gap first differs from the input's after block {changed} (gap_l - gap_0 = "
              f"{iv(changes[changed])}).") if changes else ""
    probe = ("Per-layer probes (a description, not the verdict: on the FHGM each feature's final sign depends on "
             "x_t through phi_k . x_t alone, so a linear read-out of the block input is already the Bayes classifier "
             "and no layer can add to it): ")
    if first is None:
        return head + probe + "no layer resolves the probe gap." + change
    emerged = emergence_layer(a)
    if emerged is None:
        return head + probe + "the probe gap is resolved already in the block input x_t (layer 0) and no layer " \
            "changes it beyond its interval." + change
    how = f"is resolved from layer {emerged}" if first > 0 else f"first changes from the input's after block {emerged}"
    return head + probe + f"the probe gap {how} (P2's layers: >= {pred} here)." + (change if first == 0 else "")


def _fmt(x):
    return "-" if x is None else f"{x:.3g}"


def _models(model, quick: bool) -> list[str]:
    if model is None:
        return list(DEFAULT_MODELS[1:] if quick else DEFAULT_MODELS)
    return [model] if isinstance(model, str) else list(model)


def depth_part(out_dir, *, quick: bool, full: bool = False, model=None, device: str = "cpu",
               say=lambda m: None) -> DepthPart:
    """Measure, analyse, check and draw the depth finding for every FHGM-trained model of `model`
    (default: fhgm-deep16 and fhgm; --quick: fhgm), its cells computed in this process (`submit_depth` and
    `finish_depth` with one worker). Other models are skipped with a note; a default model that cannot be
    loaded is a failed check."""
    with CellWorkers(1, say) as pool:
        return finish_depth(submit_depth(out_dir, quick=quick, full=full, model=model, device=device, pool=pool),
                            out_dir, full=full, say=say, pool=pool)


def submit_depth(out_dir, *, quick: bool, full: bool, model, device: str, pool: CellWorkers) -> DepthPart:
    """Submit the depth and attribution cells of every FHGM-trained model of `model` to `pool` (depth_part); the
    part holds the skipped models' notes and checks, and under `submitted` what `finish_depth` reads."""
    from syncgap.dit_bridge.registry import load_model, weights_fingerprint
    if quick and full:
        raise InputError("quick and full exclude each other")
    st = QUICK if quick else FULL if full else DepthSettings()
    part = DepthPart()
    for name in _models(model, quick):
        try:
            loaded = load_model(name, device=device)
        except InputError as exc:
            if model is not None:
                raise
            part.checks.append(Check(f"dit.{name}.depth.available", f"default depth model {name} loads", None, None,
                                     None, "", False, model=name, finding=FINDING, reason=str(exc)))
            continue
        mix = dit_cells.fhgm_mixture(loaded)
        if mix is None:
            part.notes.append(f"{loaded.name}: not trained on the FHGM, no feature probes: depth not measured.")
            continue
        path = dit_cells.cell_file(out_dir, name, "depth", st.g)
        config = {"kind": "depth", "model": loaded.name, "source": loaded.source,
                  "weights": weights_fingerprint(loaded.model),
                  **asdict(st)}
        attr_path = dit_cells.cell_file(out_dir, name, "depth_attribution", st.g)
        depth = dit_cells.submit_cell(pool, path, config, lambda m=loaded, x=mix: depth_record(m, x, st))
        attr = dit_cells.submit_cell(pool, attr_path, {**config, "kind": "depth_attribution"},
                                     lambda m=loaded, x=mix: attribution_record(m, x, st))
        part.submitted.append((name, loaded, mix, st, depth, attr))
    return part


def finish_depth(part: DepthPart, out_dir, *, full: bool, say, pool: CellWorkers) -> DepthPart:
    """Wait for the cells `submit_depth` put in `part`, then analyse, check and draw each model's depth finding."""
    from syncgap.validation.suites.dit.depth.figures import draw_depth_figures
    for name, loaded, mix, st, depth, attr in part.submitted:
        r, reused = pool.result(depth)
        say(f"dit {name}: depth {'reused' if reused else 'done'} ({r['provenance']['wall_s']:.1f} s, "
            f"cpu {r['result']['cpu_s']:.1f} s)")
        a, reused = pool.result(attr)
        say(f"dit {name}: depth attribution {'reused' if reused else 'done'} (cpu {a['result']['cpu_s']:.1f} s)")
        ana = analyse(loaded.name, r["result"], st, list(mix.names), loaded.num_layers,
                      dit_cells.generated_units(loaded, mix), a["result"])   # the records the pool checked or wrote
        if full:   # necessity by ablation: the cloning grid of every ablated block (validate --full only)
            from syncgap.validation.suites.dit.depth.ablation import ablation_part
            gen = dit_cells.generated_units(loaded, mix)
            ana["ablation"] = ablation_part(loaded, mix, gen[-1], out_dir, say=say)
        ana_path = os.path.join(os.path.dirname(depth.path), "depth.json")
        atomic_write_json(ana_path, to_plain(ana))
        with open(ana_path, encoding="utf-8") as f:
            ana = json.load(f)   # checks, text and figures from the written file only
        from syncgap.dit_bridge.registry import ZOO_DIR
        controls, control_reason = control_checks(loaded.name, ZOO_DIR, MEASUREMENT)   # instruments, not P2.3
        part.checks += checks_for(ana, control_reason) + controls
        part.notes.append(" ".join([finding_text(ana)] + ([modes_text(ana)] if "layer_modes" in ana else [])
                                   + ([attribution_text(ana)] if "attribution" in ana else [])
                                   + ([ablation_text(ana)] if "ablation" in ana else [ablation_not_run_text()])))
        part.files += [depth.path, attr.path, ana_path]
        part.figures += [Figure(os.path.relpath(p, out_dir), f"{loaded.name}: {cap}",
                                [os.path.relpath(ana_path, out_dir)])
                         for p, cap in draw_depth_figures(ana_path)]
    part.submitted = []
    return part


__all__ = ["FINDING", "DepthSettings", "QUICK", "FULL", "DEFAULT_MODELS", "DepthPart", "predicted_first_layer",
           "window_of_steps", "depth_record", "share_interval", "analyse", "checks_for", "finding_text",
           "depth_part", "submit_depth", "finish_depth"]
