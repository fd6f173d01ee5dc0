"""The OU/theory part of the validation report: layers A and B and the base theory against simulation.

    ou_theory_suite(out_dir, *, quick, progress=None) -> SuiteResult

Every measurement is one *cell* (`ou_cells`): a JSON record under `out_dir/ou/` holding its
configuration and result, kept by `validation.store` (written atomically; a rerun with the same
configuration reuses it, a damaged file is recomputed). Checks (`ou_checks`), the gap law
(`ou_law`), figures and verdicts (`ou_verdicts`) are then made from those files alone:

- base theory (docs/science.md §2): the cloning curve phi(t) at d = 64 and 256 (quick: 256) against
  `theory.base.cloning_agreement`, its phi = 0.75 crossing, and the speciation time t_S = 1/2 log a^2
  (`pitchfork_speciation_time`) read where the measured curve reaches the exact curve's level at t_S;
- collapse (§2): lock time of the empirical-score sampler against `theory.base.collapse_time`;
- layer A (§3): per-mode cloning of the drift-coupled pair at several g up to near the stability
  bound, against `theory.coupled_ou.mode_speciation_times` and `synchronization_gap`;
- layer B (§4): the difference-energy growth onset per feature against `theory.gated` (one-sided),
  the gap at g = 0 against `theory.gated.gated_gap`, and Protocol I's gap against g with the routing
  law gap0 rho(g) (`theory.routing`), a fitted law gap0 (rho + eta)/(1 + eta), its residuals and the
  observed critical g (gap below one DiT sampler step). The checks record whichever happens.
`progress`, when given, is called with one-line messages (str).
"""
from __future__ import annotations

from pathlib import Path

from syncgap.validation.legacy import upgrade_ou_cell
from syncgap.validation.suites.result import SuiteResult
from syncgap.validation.store import atomic_write_json, compute_cell, to_plain

from syncgap.validation.suites.ou import cells as ou_cells
from syncgap.validation.suites.ou.cells import AMPS_B, CELLS_VERSION, SUBDIR, Settings, settings_for
from syncgap.validation.suites.ou.checks import checks_from_files, validate_cell
from syncgap.validation.suites.ou.law import gap_law, law_ratio, onset
from syncgap.validation.suites.ou.verdicts import verdicts


def _cell(root: Path, name: str, config: dict, compute, say) -> dict:
    """The stored record of root/name.json when whole and of this config, else compute and store it."""
    def announced():
        say(f"ou: computing {name} ...")
        return compute()
    record, reused = compute_cell(root / f"{name}.json", config, announced,
                               validate=lambda result: validate_cell(name, result),
                               upgrade=lambda result: upgrade_ou_cell(name, result))
    if reused:
        say(f"ou: reused {name}.json")
    else:
        say(f"ou: computed {name} ({record['provenance']['wall_s']:.1f} s)")
    return record


def run_cells(out_dir, quick: bool, say) -> Path:
    """Measure (or reuse) every cell; returns the folder holding them."""
    settings = settings_for(bool(quick))
    root = Path(out_dir) / SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    common = {"version": CELLS_VERSION, "quick": bool(quick), "seed": settings.seed, "n_boot": settings.n_boot}
    for d in settings.cloning_dims:
        _cell(root, f"base_cloning_d{d}", common | {"d": d, "n": settings.cloning_paths, "T": settings.cloning_start_time,
                                                    "steps": settings.cloning_steps,
                                                    "branches": settings.cloning_branch_times},
              lambda: ou_cells.base_cloning(settings, d), say)
    for n_train, d in settings.collapse_sizes:
        _cell(root, f"collapse_n{n_train}_d{d}", common | {"n_train": n_train, "d": d, "n": settings.collapse_paths},
              lambda: ou_cells.collapse(settings, n_train, d), say)
    for g in settings.layer_a_couplings:
        _cell(root, f"layer_a_g{g:g}", common | {"g": g, "amp": settings.layer_a_amplitude, "n": settings.layer_a_paths,
                                                 "steps": settings.layer_a_steps},
              lambda: ou_cells.layer_a(settings, g), say)
    bcfg = common | {"amps": list(AMPS_B), "n": settings.layer_b_paths, "T": settings.layer_b_start_time,
                     "steps": settings.layer_b_steps, "t_int": settings.layer_b_switch_times}
    for g in settings.layer_b_energy_couplings:
        _cell(root, f"layer_b_energy_g{g:g}", bcfg | {"g": g}, lambda: ou_cells.layer_b_energy(settings, g), say)
    _cell(root, "layer_b_cloning_g0", bcfg, lambda: ou_cells.layer_b_cloning(settings), say)
    for g in settings.layer_b_couplings:
        _cell(root, f"layer_b_p1_g{g:g}", bcfg | {"g": g}, lambda: ou_cells.layer_b_protocol_one(settings, g), say)
    # a cell left over from a run with other settings must not enter the checks
    keep = {f"{n}.json" for n in ["layer_b_cloning_g0", "gap_law"]
            + [f"base_cloning_d{d}" for d in settings.cloning_dims]
            + [f"collapse_n{a}_d{b}" for a, b in settings.collapse_sizes]
            + [f"layer_a_g{g:g}" for g in settings.layer_a_couplings]
            + [f"layer_b_energy_g{g:g}" for g in settings.layer_b_energy_couplings]
            + [f"layer_b_p1_g{g:g}" for g in settings.layer_b_couplings]}
    for p in root.glob("*.json"):
        if p.name not in keep:
            p.rename(p.with_suffix(".json.stale"))
    return root


def ou_theory_suite(out_dir, *, quick: bool, progress=None) -> SuiteResult:
    """Measure (or reuse) the OU cells, then checks, figures and verdicts from the files alone."""
    from syncgap.validation.suites.ou import figures
    say = progress if progress is not None else (lambda m: None)
    out_dir = Path(out_dir)
    root = run_cells(out_dir, quick, say)
    checks, law = checks_from_files(root)
    if law is not None:
        atomic_write_json(root / "gap_law.json", to_plain(law))
    drawn = figures.draw_ou(root, out_dir)
    files = sorted(str(p.relative_to(out_dir)) for p in root.glob("*.json"))
    say(f"ou: {sum(c.verdict == 'pass' for c in checks)}/{len(checks)} checks pass, "
        f"{sum(c.verdict == 'n/a' for c in checks)} n/a")
    return SuiteResult("ou_theory", checks, drawn, verdicts(checks, law), files)


def partial_checks(root) -> list:
    """The checks of the cells finished under `root` (a run that stopped part way): the same checks as the suite's."""
    return checks_from_files(Path(root))[0]


__all__ = ["ou_theory_suite", "partial_checks", "settings_for", "Settings", "checks_from_files", "gap_law", "law_ratio", "onset",
           "verdicts", "run_cells"]
