"""Raw cells of the DiT findings suite: one JSON file per (model, g, protocol), reused on rerun.

A cell file is {"key", "config", "result", "provenance"} (validation.store layout, written
atomically); `key` hashes `config`, so a changed setting never reuses a stale file.

- "clone": Protocol I, cloning variant (g = 0, docs/science.md §2/§5): per pair and t_int, the
  agreement of the two final outputs per pooling scale, and for the FHGM-DiT the sign agreement of
  their projections on the data's DCT feature patterns (theory.data.frequency_hierarchy_mixture).
- "p1": Protocol I at coupling g > 0 (coupled for the first t_int steps, then independent); same record.
  Both are `dit_bridge.protocols.protocol_one(..., fit=False)`: the outputs without the commitment fits.
- "p1_<variant>": another Protocol I variant (dit_predictions.variant_label: "switch-on", "release-ddim",
  "switch-on-shared", ...; FHGM-DiT only): switch-on = independent for the first t_int steps, coupled after.
- "depth": the per-layer depth measurement (validation/suites/dit/depth/finding.py, dit_bridge.depth): block
  increment energies per step window and held-out probe correctness per layer, step and feature.
- "ou": the exact-score sampler of ou_models on the FHGM itself, same cloning protocol on DiT's
  DDPM grid (the exact-score reference of the DiT's cloning curves); per path and t_int the per-feature sign agreement.
- "exact_p1", "exact_p1_switch-on": the exact-score gated sampler on the FHGM with the DiT's Protocol I variant, grid and
  estimator at gate g > 0: the independent prediction of the DiT's gap(g).
"""
from __future__ import annotations

import json
import os

import numpy as np

from syncgap.dit_bridge.commitment import default_scales
from syncgap.validation.cell_workers import Cell, CellWorkers
from syncgap.validation.store import check_record, compute_cell, numbers_only, read_json


def fhgm_mixture(model):
    """The FHGM-like mixture the model was trained on (its own ladder, `datasets.model_mixture`), or None."""
    from syncgap.dit_bridge.datasets import model_mixture
    return model_mixture(model.info, model.sample_shape, model.name)


def generated_units(model, mix) -> list[int]:
    """The FHGM features the shipped model generates (dit_bridge.zoo_quality.generated_features on its
    quality.json); every feature where the model has no card (a gap is then read on all of them)."""
    from syncgap.dit_bridge.zoo_quality import generated_features
    stats = quality_record(model.source).get("feature_statistics")
    if not isinstance(stats, dict) or not {"amplitudes", "mean_abs"} <= set(stats):
        return list(range(mix.patterns.shape[0]))
    return generated_features(stats)


def unit_scales(model, mix) -> list[int]:
    """Pooling sizes: 1 (global) ... full resolution (local); FHGM drops 1 (its features have zero mean)."""
    s = default_scales(min(model.sample_shape[1:]))
    return [x for x in s if x > 1] if mix is not None else s


def ou_clone_record(mix, t_ints, *, num_steps, n_paths, seed) -> dict:
    """Exact-score cloning on DiT's DDPM grid (ou_models), split after t_int sampler steps."""
    from syncgap.ou_models.engine import ddpm_grid
    from syncgap.ou_models.measure import cloning
    grid = ddpm_grid(num_steps)
    r = cloning(mix, grid, n_paths, seed=seed, branch_times=grid[np.asarray(t_ints)], keep_units=True, n_boot=10,
                scheme="ddpm")   # the DiT's own ancestral step, not Euler-Maruyama
    steps = [int(s) for s in r["branch_steps"]]
    return {"t_int": steps, "feature_agreement": np.moveaxis(r["units"].astype(float), 2, 1)}  # (n, F, T)


RELEASE = {"window": "release", "noise": "independent", "sampler": "ddpm", "eps": 0.3}   # Protocol I's default variant


def exact_protocol_one_record(mix, g, t_ints, *, num_steps, n_paths, seed, variant: dict | None = None,
                              gate_final=False) -> dict:
    """The exact-score gated sampler (ou_models) on the FHGM itself, the DiT's variant on the DiT's grid:
    Protocol I at gate g with a real ancestral DDPM/DDIM step (theory.schedules.ancestral_step) on
    ddpm_grid(num_steps), switched after t_int sampler steps, started at sqrt(1 - eps^2) z0 +- eps z1.
    `variant`: its window, noise, sampler and eps where they differ from RELEASE.
    Per path and t_int the sign agreement of the two replicas' final projections on each feature,
    the same estimator as the DiT's "features" family (docs/science.md §8). The final read-out step is
    gated only with gate_final=True (ou_models.analog.analog_gate: the one-step identity)."""
    from syncgap.ou_models.analog import analog_gate
    from syncgap.ou_models.engine import ddpm_grid
    from syncgap.ou_models.measure import protocol_one
    v = {**RELEASE, **(variant or {})}
    grid = ddpm_grid(num_steps)
    r = protocol_one(mix, grid, analog_gate(g, num_steps, gate_final), n_paths, seed=seed, t_int_times=grid[np.asarray(t_ints)],
                     scheme=v["sampler"], window=v["window"], noise=v["noise"], eps=v["eps"], fit=False)
    steps = [int(s) for s in r["units_t_int_steps"]]
    return {"t_int": steps, "feature_agreement": np.moveaxis(r["units"].astype(float), 2, 1)}  # (n, F, T)


def cell_file(out_dir, model, kind, g) -> str:
    safe = model.replace("/", "_").replace(os.sep, "_").strip("._") or "model"
    return os.path.join(out_dir, "dit", safe, f"{kind}_g{g:g}.json")


def run_cell(path, config: dict, compute) -> tuple[dict, bool]:
    """(record, reused): the stored record at `path` if whole and of this config, else compute and store it."""
    return compute_cell(path, config, compute, validate=numbers_only)


def submit_cell(pool: CellWorkers, path, config: dict, compute, done=None) -> Cell:
    """run_cell through `pool` (validation.cell_workers): reused when stored, else computed by a worker (or here
    with one); pool.result(cell) gives (record, reused), `done(record, reused)` is told when it is finished."""
    return pool.submit(path, config, compute, validate=numbers_only, done=done)


def read_cell(path) -> dict:
    """A cell file's whole record; DamagedRecord (a ValueError) saying what is wrong otherwise."""
    return check_record(read_json(path), validate=numbers_only)


# Control models: data whose exact score predicts no frequency ordering, so any ordering is the network's.
CONTROLS = {"fhgm-flat": "equal amplitudes: under the exact score every feature commits at the same step, "
                         "so an ordering measured here is what the network adds"}


def quality_record(source) -> dict:
    """The shipped model's quality.json beside its weights (its card's numbers), or {} where there is none."""
    try:
        with open(os.path.join(str(source), "quality.json"), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def quality_gate(source) -> dict | None:
    """The shipped model's quality gate (quality.json beside its weights), or None where there is none."""
    gate = quality_record(source).get("quality_gate")
    return gate if isinstance(gate, dict) and "passed" in gate else None


def model_facts(ana: dict, layers: int, random_weights: bool = False, space: str = "pixel") -> dict:
    """What the scoreboard needs of one model beyond its checks: units, layers, control, quality gate, and why a
    claim cannot be tested on it ("untestable": claim -> reason); `space`: where the units live, "latent" (a VAE's
    latents, DiT-XL/2) or "pixel" (the small models' images)."""
    prim, gate = ana["primary"], ana.get("quality_gate")
    untestable = {}
    if "features" not in ana["families"]:
        untestable["P2.3"] = ("not trained on the FHGM: the depth probes and the causal test read FHGM features, "
                              "and this model has none")
    if random_weights:
        untestable = {c: "random weights: its numbers mean nothing" + (f"; also {untestable[c]}" if c in untestable
                                                                      else "") for c in ("P2.1", "P2.2", "P2.3", "P2.4")}
    return {"dit": True, "layers": int(layers), "family": prim, "units": list(ana["families"][prim]["labels"]),
            "space": space,
            "control": CONTROLS.get(ana["model"], ""), "random_weights": bool(random_weights),
            "gate_passed": None if gate is None else bool(gate["passed"]), "untestable": untestable}

