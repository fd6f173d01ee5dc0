"""Which cells one model of the DiT findings suite gets, submitted to a pool of cell workers (cells.py: one file each).

    submit_model(name, out_dir, settings, runtime, say, pool) -> {"cells": {(kind, g): (path, pool cell)}, ...}
    finished(submitted, pool) -> the same with {(kind, g): (path, record, reused)}
    measure_model(name, out_dir, settings, ...) -> both, every cell computed in this process

Per model: Protocol I cloning at g = 0, Protocol I at each g > 0 of the grid (release window; on the FHGM-DiT
also the other variants of Settings.variants), the bridge's cells (calibrated.bridge_cells: coupled cloning, the
gate response, the calibrated analog) and, for the FHGM-DiT, the exact-score sampler of the same data. A worker
(validation.cell_workers) may run a compute after the loop that made it has moved on, so every compute binds
what it uses when it is made (`lambda m=m: ...`).
"""
from __future__ import annotations

from syncgap.validation.cell_workers import CellWorkers
from syncgap.validation.suites.dit import calibrated as dit_calibrated, cells as dit_cells, predictions as dit_predictions
from syncgap.validation.suites.dit.settings import Runtime, Settings

# the Protocol I variant the suite measures (docs/protocols.md); every prediction uses the same one
VARIANT = dict(dit_cells.RELEASE)


def measure_model(name, out_dir, settings: Settings, device="cpu", say=lambda m: None, dtype="fp32",
                  compile: bool = False) -> dict:
    """Run (or reuse) every cell of one model in this process; returns {kind: (path, record, reused)} under
    "cells" (`submit_model` and `finished` with one worker)."""
    with CellWorkers(1, say) as pool:
        return finished(submit_model(name, out_dir, settings, Runtime(device, dtype, compile), say, pool), pool)


def finished(submitted: dict, pool: CellWorkers) -> dict:
    """`submitted` (submit_model) with every cell finished: "cells" {kind: (path, record, reused)}."""
    return {**submitted, "cells": {k: (path, *pool.result(c)) for k, (path, c) in submitted["cells"].items()}}


def submit_model(name, out_dir, settings: Settings, runtime: Runtime, say, pool: CellWorkers) -> dict:
    """Submit every cell of one model to `pool` (stored cells are reused; cell_workers.CellWorkers); "cells" holds
    {kind: (path, pool cell)}, `finished` waits for them. The sign-agreement cells (cloning, Protocol I windows,
    coupled cloning) run the model in runtime.dtype ("fp32" or "bf16", dit_bridge.precision), which enters their
    configuration key (fp32 for the cells of settings.fp32_cells); the exact-score cells do not run the model.
    runtime.compile: torch.compile their model (dit_bridge.sampling.compile_model; eager where compilation fails)."""
    from syncgap.dit_bridge.precision import dtype_config, model_in
    from syncgap.dit_bridge.protocols import protocol_one
    from syncgap.dit_bridge.registry import load_model, weights_fingerprint
    model = load_model(name, device=runtime.device)
    fast, typed = model_in(model, runtime.dtype), dtype_config(runtime.dtype)   # the sign cells' model, key entry
    keep = set(settings.fp32_cells)    # cells where bf16 moved the gap too far (dit_settings): fp32 whatever dtype

    def sign_model(kind, g):
        return (model, {}) if (kind, float(g)) in keep else (fast, typed)
    if runtime.compile:
        from syncgap.dit_bridge.sampling import compile_model
        compile_model(fast)
    mix = dit_cells.fhgm_mixture(model)
    scales = dit_cells.unit_scales(model, mix)
    modes = None
    if mix is None and settings.modes:   # a model without known features: its empirical modes (dit_bridge.modes)
        from syncgap.dit_bridge.modes import empirical_modes
        modes = empirical_modes(model, settings.modes, n_samples=settings.mode_samples, seed=settings.seed,
                                num_steps=settings.num_steps)
        say(f"dit {name}: {settings.modes} empirical modes {'read from the cache' if modes['cached'] else 'computed'} "
            f"({modes['path']})")
    pats = mix.patterns if mix is not None else None if modes is None else modes["patterns"]
    base = {"model": model.name, "source": model.source,
            "weights": weights_fingerprint(model.model),    # a retrained model's cells are recomputed, not reused
            "num_steps": settings.num_steps, "n_pairs": settings.n_pairs, "t_ints": list(settings.t_ints),
            "seed": settings.seed, "scales": scales, "features": mix is not None,
            **({"modes": settings.modes, "mode_samples": settings.mode_samples} if modes is not None else {})}
    cells = {}

    def cell(kind, g, compute, **extra):
        path = dit_cells.cell_file(out_dir, name, kind, g)

        def done(record, reused):
            say(f"dit {name}: {kind} g={g:g}{' ' + extra['dtype'] if 'dtype' in extra else ''} "
                f"{'reused' if reused else 'done'} ({record['provenance']['wall_s']:.1f} s)")
        submitted = dit_cells.submit_cell(pool, path, {**base, "kind": kind, "g": g, **extra}, compute, done)
        cells[(kind, g)] = (path, submitted)
        return submitted

    p1 = dict(t_ints=list(settings.t_ints), n_pairs=settings.n_pairs, seed=settings.seed, num_steps=settings.num_steps,
              scales=scales, patterns=pats, offsets=None if modes is None else modes["offsets"])
    m, ty = sign_model("clone", 0.0)
    # every compute binds what it uses now (m=m, g=g): a worker may run it after the loop has moved on
    cell("clone", 0.0, lambda m=m: protocol_one(m, 0.0, clone=True, fit=False, **p1), **ty)
    for window, noise, sampler in settings.variants:
        variant = {**VARIANT, "window": window, "noise": noise, "sampler": sampler}
        label = dit_predictions.variant_label(variant)
        if label != "release" and mix is None:
            continue   # the other variants run beside an exact analog only: on the FHGM-DiT
        kind, extra = ("p1", {}) if label == "release" else (f"p1_{label}", {"window": window, "noise": noise,
                                                                            "sampler": sampler})
        for g in settings.g_grid:
            if g <= 0:
                continue
            m, ty = sign_model(kind, g)
            cell(kind, g, lambda g=g, v=variant, m=m: protocol_one(
                m, g, clone=False, window=v["window"], noise=v["noise"], sampler=v["sampler"], fit=False, **p1),
                 eps=VARIANT["eps"], **extra, **ty)
            if mix is not None:   # the independent prediction: the exact-score gated sampler, same variant/grid/estimator
                cell(f"exact_{kind}", g, lambda g=g, v=variant: dit_cells.exact_protocol_one_record(
                    mix, g, settings.t_ints, num_steps=settings.num_steps, n_paths=settings.ou_paths,
                    seed=settings.seed, variant=v),
                     n_paths=settings.ou_paths, gate_final=False, **variant)
    dit_calibrated.bridge_cells(cell, lambda c: pool.result(c)[0], model, mix, settings, p1,
                                sign_model)   # coupled cloning, gate, calibrated analog
    if mix is not None:
        cell("ou", 0.0, lambda: dit_cells.ou_clone_record(mix, settings.t_ints, num_steps=settings.num_steps,
                                                          n_paths=settings.ou_paths, seed=settings.seed),
             n_paths=settings.ou_paths, scheme="ddpm")
    return {"cells": cells, "layers": model.num_layers, "mix": mix, "name": model.name, "modes": modes,
            "quality_gate": dit_cells.quality_gate(model.source),
            "random_weights": bool(model.info.get("random_weights", False)),
            "space": "latent" if model.latent_scale is not None else "pixel"}


__all__ = ["VARIANT", "measure_model", "finished", "submit_model"]
