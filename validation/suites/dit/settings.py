"""Sizes of the DiT findings suite, chosen from a stated precision target (validation/suites/dit/power.py, docs/science.md §8).

    settings_for(quick, g_grid=None, full=False, model=None) -> Settings

Targets (95% bootstrap half-width of every gap of the 4-layer FHGM-DiT, in sampler steps): ≤ 2 for
`syncgap validate` (= `make demo`), ≤ 1 for `syncgap validate --full` (a GPU or a Dask cluster).
Pilot: the cells of the `make demo` of 2026-11-30 (24 pairs, t_int every 3 steps, 30 DDPM steps),
read with this estimator (asymptotes fitted, dit_bridge/commitment.py): the widest FHGM-DiT gap
half-width was 3.64 steps (release window, g = 0.25). From it (power.design), with a margin of 1.2
on the pairs (about 1.1 on the half-width, less than the ~14% standard error 1/sqrt(2 n) of a
bootstrap half-width from 24 pairs):
  demo: 24 (3.64/2)^2 x 1.2 = 95.4 -> 96 pairs (a multiple of 8), projected half-width 1.82;
        t_int every 2 steps in the commitment window 8..30 (every unit of the pilot commits at
        9..24), every 4 before it: 0, 4, 8, 10, ..., 30; reading resolution 1 step.
        Measured: every FHGM-DiT gap within 0.74..1.60 steps (benchmarks/RESULTS.md).
  full: 24 (3.64/1)^2 x 1.2 = 381.6 -> 384 pairs; t_int every step in 4..30, every 2 before:
        reading resolution 0.5 step.
Tried and rejected: the 96-pair run as a second pilot (widest 1.60) gives 96 (1.60/2)^2 x 1.2 -> 80
pairs, but at 80 pairs the release gap at g = 0.25 had a half-width of 2.11 steps, over the target:
the widest of twelve bootstrap half-widths scatters more than one half-width's 1/sqrt(2 n).
Only the FHGM-DiT is sized to the target (DESIGNED_MODELS); its control fhgm-flat and digits keep
the pilot's sizes in the demo (their findings are not held to it); --full sizes every model.
Projected one-thread CPU cost of one Protocol I cell: power.replica_row_steps x n_pairs x
SECONDS_PER_ROW (PROJECTED_CPU_S_PER_MODEL for --full, per model).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from syncgap.theory.checks import InputError, check_real
from syncgap.validation.suites.dit import power

TARGET_DEMO = 2.0            # sampler steps: 95% half-width of every FHGM-DiT gap, `make demo`
TARGET_FULL = 1.0            # sampler steps: the same, `syncgap validate --full`
PILOT_HALFWIDTH, PILOT_PAIRS = 3.64, 24   # widest FHGM-DiT gap half-width of the first pilot, and its pairs
UNDESIGNED_PAIRS = 24        # pairs of the models not held to the target (the first pilot's size)
MARGIN = 1.2                 # on the pairs: room for the scatter of the pilot's own half-width
WINDOW = (8, 30)             # commitment window of the FHGM-DiT (pilot midpoints 9..24) and the end
SECONDS_PER_ROW = 5.9e-4     # one-thread CPU s per replica row and sampler step, FHGM-DiT cells of the pilot
PAIRS_MULTIPLE = 8           # pairs rounded up to whole batches of 8
NUM_STEPS = 30

PILOT = power.Pilot(PILOT_HALFWIDTH, PILOT_PAIRS, SECONDS_PER_ROW)

DEMO_DESIGN = power.design(TARGET_DEMO, pilot=PILOT, num_steps=NUM_STEPS, window=WINDOW, outer_spacing=4,
                           margin=MARGIN, multiple=PAIRS_MULTIPLE)
FULL_DESIGN = power.design(TARGET_FULL, pilot=PILOT, num_steps=NUM_STEPS, window=(4, 30), outer_spacing=2,
                           margin=MARGIN, multiple=PAIRS_MULTIPLE)
# digits (empirical modes) in validate --full: +-2 steps from its own pilot, the demo's 24-pair cloning gap
# -1.88 [-13.0, 6.14] (2026-12-06, half-width 9.57); the FHGM pilot's 384 pairs would project 2.4 steps there
DIGITS_PILOT = power.Pilot(9.57, 24, SECONDS_PER_ROW)
TARGET_FULL_DIGITS = 2.0     # sampler steps: the digits gap's 95% half-width in validate --full
FULL_DESIGNS = {"digits": power.design(TARGET_FULL_DIGITS, pilot=DIGITS_PILOT, num_steps=NUM_STEPS, window=(4, 30),
                                       outer_spacing=2, margin=MARGIN, multiple=PAIRS_MULTIPLE)}
DESIGNED_MODELS = ("fhgm",)  # models held to the precision target in the demo
# Cells the demo keeps in fp32 under bf16 (dit_bridge/precision.py): where benchmarks/dit_cpu.py's paired
# difference gap(bf16) - gap(fp32) on the same seeds exceeded 1/4 of the gap's 95% half-width
# (2026-12-05: fhgm release g = 0.25 moved +0.42 [0.01, 1.33] steps against a quarter half-width of 0.37;
# fhgm-flat switch-on g = 2 moved -0.55 [-1.47, 0.12] against 0.45; every other cell of fhgm, fhgm-flat
# and digits within its quarter half-width: benchmarks/RESULTS.md). fhgm-flat keeps its whole switch-on
# window in fp32: with only g = 2 in fp32 its rho-law check (delta AIC 1.74 against the bound 2 in fp32)
# still crossed the bound in bf16, with all five its every verdict equals the fp32 run's. Coupled cloning
# (2026-12-05, AMD EPYC with AVX512-BF16): fhgm g = 0.25 moved -0.76 [-1.77, 0.16] against 0.72, the other
# four within theirs; release g = 0.25 moved +0.21 there (within 0.37) but stays fp32 for the AMX result.
# Release g = 5 moved +0.14 [-0.01, 0.40] (within 0.20), yet its bridge check, whose interval edge sits at 0,
# flipped (fp32 pass, bf16 fail: DiT minus calibrated analog 1.96 [-0.05, 3.96] -> 2.10 [0.09, 4.11]), so it
# stays fp32 too: the demo's verdicts are the fp32 run's.
DEMO_FP32_CELLS = {"fhgm": (("p1", 0.25), ("p1", 5.0), ("p1_clone", 0.25)),
                   "fhgm-flat": tuple(("p1_switch-on", g) for g in (0.25, 0.5, 1.0, 2.0, 5.0))}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Sampler and protocol sizes of one run; the defaults are the pilot's (the demo's sizes for models
    other than DESIGNED_MODELS), `settings_for` gives each run's."""

    num_steps: int = NUM_STEPS                             # sampler steps per trajectory
    n_pairs: int = UNDESIGNED_PAIRS                        # replica pairs per cell
    t_ints: tuple = tuple(range(0, 31, 3))                 # Protocol I switch-off steps t_int
    window: tuple | None = None                            # where t_ints is fine (None: the whole grid)
    target_halfwidth: float | None = None                  # the precision the sizes were chosen for
    g_grid: tuple = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)        # gate strengths (g = 0 is the cloning cell)
    n_boot: int = 200                                      # bootstrap resamples per interval
    ou_paths: int = 4000                                   # exact-score (ou_models) paths on the FHGM
    seed: int = 0                                          # noise seed of every cell
    modes: int = 4                                         # empirical modes of a model without FHGM features
    mode_samples: int = 256                                # generated outputs the modes are computed from
    gate_pairs: int = 64                                   # pairs of the gate-response reading (dit_calibrated)
    bridge: bool = True                                    # the gate and the calibrated analog (FHGM models)
    # Protocol I variants (window, noise, sampler); all but the first run on the FHGM-DiT only (beside its exact analog).
    # The demo runs release (+ the coupled-cloning window, dit_calibrated); switch-on moved to --full (FULL_VARIANTS)
    # to keep `make demo` within 10 minutes once the coupled-cloning cells and the gate were added
    variants: tuple = (("release", "independent", "ddpm"),)
    fp32_cells: tuple = ()                                 # (kind, g) cells run in fp32 under --dtype bf16/auto

    @property
    def resolution(self) -> float:
        """Reading resolution of a commitment step on this grid: half its widest spacing (in `window`)."""
        return power.reading_resolution(self.t_ints, self.window)


@dataclass(frozen=True)
class Runtime:
    """Where and how the DiT suite runs its model: the device, the sign cells' dtype, torch.compile, worker processes."""

    device: str = "cpu"      # "cpu" or "cuda"
    dtype: str = "auto"      # the sign-agreement cells' dtype: "auto" (bf16 on a CPU with native bf16), "fp32", "bf16"
    compile: bool = False    # torch.compile the sign cells' model (dit_bridge.sampling.compile_model)
    workers: int = 1         # forked processes computing cells, one thread each (validation.cell_workers)


QUICK = Settings(num_steps=20, n_pairs=4, t_ints=(0, 4, 8, 12, 16, 20), g_grid=(0.0, 0.5, 2.0),
                 n_boot=40, ou_paths=400, mode_samples=64, variants=(("release", "independent", "ddpm"),),
                 gate_pairs=4)
# validate --full (GPU/cluster): every window x noise x sampler of docs/protocols.md with a t_int sweep
FULL_VARIANTS = tuple((w, n, s) for w in ("release", "switch-on") for n in ("independent", "shared")
                      for s in ("ddpm", "ddim"))


def designed(settings: Settings, design: power.Design) -> Settings:
    """`settings` with the pairs, t_int grid, window and target of `design`."""
    return replace(settings, n_pairs=design.n_pairs, t_ints=design.t_ints, window=design.window,
                   target_halfwidth=design.target_halfwidth)


def settings_for(quick: bool, g_grid=None, full: bool = False, model: str | None = None) -> Settings:
    """The quick, demo or full sizes of `model`, with `g_grid` (g = 0 always added) replacing the default gates.

    Demo: DESIGNED_MODELS get DEMO_DESIGN, other models the pilot's sizes; full=True (validate --full):
    FULL_DESIGN (digits: its own FULL_DESIGNS entry, +-2 steps) on every model and every Protocol I variant
    (FULL_VARIANTS) on the FHGM-DiT."""
    if quick and full:
        raise InputError("quick and full exclude each other: --full runs every variant at the default sizes")
    if quick:
        settings = QUICK
    elif full:
        settings = designed(Settings(variants=FULL_VARIANTS), FULL_DESIGNS.get(model, FULL_DESIGN))
    else:
        settings = (designed(Settings(), DEMO_DESIGN) if model in DESIGNED_MODELS
                    else Settings(bridge=False))   # the control's bridge (gate, calibrated analog): --full only
        settings = replace(settings, fp32_cells=DEMO_FP32_CELLS.get(model, ()))
    if g_grid is not None:
        gs = sorted({check_real("g", g, 0.0) for g in np.atleast_1d(g_grid)} | {0.0})
        if len(gs) < 2:
            raise InputError("g_grid needs at least one g > 0 (g = 0 is always measured, by cloning)")
        settings = replace(settings, g_grid=tuple(gs))
    return settings


def protocol_one_cells(settings: Settings, fhgm: bool) -> int:
    """Protocol I cells of one model: the cloning cell, one per variant and g > 0 (variants other than
    release on the FHGM-DiT only) and one per g > 0 in the coupled-cloning window (dit_calibrated)."""
    n_g = sum(g > 0 for g in settings.g_grid)
    return 1 + n_g * (len(settings.variants) if fhgm else 1) + n_g


def projected_cpu_s(settings: Settings, fhgm: bool) -> float:
    """One-thread CPU seconds of a model's DiT Protocol I cells (SECONDS_PER_ROW x rows; the exact-score
    cells, Protocol II and the analysis come on top)."""
    rows = power.replica_row_steps(settings.t_ints, settings.num_steps) * settings.n_pairs
    return protocol_one_cells(settings, fhgm) * rows * SECONDS_PER_ROW


__all__ = ["Settings", "Runtime", "settings_for", "designed", "QUICK", "FULL_VARIANTS", "DEMO_DESIGN", "FULL_DESIGN",
           "DESIGNED_MODELS", "TARGET_DEMO", "TARGET_FULL", "projected_cpu_s", "protocol_one_cells"]
