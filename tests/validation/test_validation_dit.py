"""DiT findings suite (validation/suites/dit/findings.py): schema, files, redraw, resume, failing findings, bad input."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from syncgap.theory.checks import InputError
from syncgap.theory.routing import routing_factor
from syncgap.validation.checks import Check, in_interval
from syncgap.validation.suites.result import SuiteResult
from syncgap.validation.suites.dit import cells as dit_cells, figures as fig
from syncgap.validation.suites.dit.findings import Settings, analyse_model, checks_for, dit_findings_suite, load_analysis


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dit")
    msgs = []
    res = dit_findings_suite(out, quick=True, progress=msgs.append, model="tiny")
    return out, res, msgs


def _well_formed(c: Check):
    assert isinstance(c, Check) and c.id and c.description and c.finding
    assert c.verdict in ("pass", "fail", "n/a") and c.passed is {"pass": True, "fail": False, "n/a": None}[c.verdict]
    if c.passed and c.kind == "agreement":  # a check passes only where the prediction lies in the interval
        assert in_interval(c.predicted, c.ci)
    if c.passed and c.kind in ("sign", "ordering"):  # decided on the interval, never the point estimate
        assert c.ci[0] > 0
    if c.observed is not None and c.ci is not None:  # the observation lies in its own interval
        assert c.ci[0] <= c.observed <= c.ci[1]
    json.dumps(c.to_json(), allow_nan=False)


@pytest.mark.slow
def test_tiny_quick_checks_files_figures(tiny_run):
    out, res, msgs = tiny_run
    assert isinstance(res, SuiteResult) and res.name == "dit_findings"
    ids = [c.id for c in res.checks]
    assert len(ids) == len(set(ids)) >= 3   # the depth checks need an FHGM model (tests/validation/test_validation_depth.py)
    for c in res.checks:
        _well_formed(c)
    findings = {c.finding for c in res.checks}
    assert {"gap exists without coupling", "gap collapses under strong coupling", "global before local"} <= findings
    assert "gap appears only in the last layers" not in findings   # depth needs an FHGM model (depth/finding.py)
    assert set(res.verdicts) == findings
    for f in res.data_files:
        assert os.path.isfile(os.path.join(out, f))
    kinds = sorted(os.path.basename(f) for f in res.data_files)
    assert kinds == ["analysis.json", "clone_g0.json", "headline.md", "p1_clone_g0.5.json", "p1_clone_g2.json",
                     "p1_g0.5.json", "p1_g2.json"]     # p1_clone: the coupled-cloning window (dit_calibrated)
    assert {c.id for c in res.checks} >= {"dit.tiny.collapse.clone.g0.5", "dit.tiny.collapse.clone.g2"}
    # the headline table (variant x model) is in the P2.2 verdict and in dit/headline.md
    assert "| tiny | release | independent | ddpm | 0.3 |" in res.verdicts["gap collapses under strong coupling"]
    assert len(res.figures) == 3 and all(os.path.getsize(os.path.join(out, f.path)) > 1000 for f in res.figures)
    assert all("done" in m for m in msgs if "g=" in m)


def test_figures_and_checks_redraw_from_files_alone(tiny_run, tmp_path):
    out, res, _ = tiny_run
    ana = os.path.join(out, "dit", "tiny", "analysis.json")
    assert load_analysis(ana)["model"] == "tiny" and set(load_analysis(ana)["cell_files"]) == {
        "clone_g0", "p1_g0.5", "p1_g2", "p1_clone_g0.5", "p1_clone_g2"}
    for f in res.figures:  # the figures need the analysis file only
        png = tmp_path / os.path.basename(f.path)
        name = os.path.splitext(png.name)[0]
        draw = dict((n, fn) for n, fn, _ in fig.FIGURES)[name]
        draw(ana, str(png))
        assert png.stat().st_size > 1000
    # the analysis itself is a function of the cell files: recomputing it gives the same checks
    st = Settings(num_steps=20, n_pairs=4, t_ints=(0, 4, 8, 12, 16, 20), g_grid=(0.0, 0.5, 2.0),
                  n_boot=40, ou_paths=400)
    cells = {("clone", 0.0): os.path.join(out, "dit", "tiny", "clone_g0.json"),
             ("p1", 0.5): os.path.join(out, "dit", "tiny", "p1_g0.5.json"),
             ("p1", 2.0): os.path.join(out, "dit", "tiny", "p1_g2.json"),
             ("p1_clone", 0.5): os.path.join(out, "dit", "tiny", "p1_clone_g0.5.json"),
             ("p1_clone", 2.0): os.path.join(out, "dit", "tiny", "p1_clone_g2.json")}
    a = analyse_model("tiny", cells, st, None)
    from syncgap.validation.store import to_plain
    redo = checks_for(json.loads(json.dumps(to_plain(a))))
    assert [c.to_json() for c in redo] == [c.to_json() for c in res.checks]


def test_resume_reuses_cells(tiny_run):
    out, res, _ = tiny_run
    cell = os.path.join(out, "dit", "tiny", "p1_g0.5.json")
    before = os.stat(cell).st_mtime_ns
    msgs = []
    res2 = dit_findings_suite(out, quick=True, progress=msgs.append, model="tiny")
    assert os.stat(cell).st_mtime_ns == before
    assert sum("reused" in m for m in msgs) == 5
    assert [c.to_json() for c in res2.checks] == [c.to_json() for c in res.checks]


def test_cells_are_keyed_by_the_weights_so_a_retrained_model_is_recomputed(tiny_run):
    from syncgap.dit_bridge.registry import load_model, load_tiny, weights_fingerprint
    out, _, _ = tiny_run
    with open(os.path.join(out, "dit", "tiny", "p1_g0.5.json")) as f:
        cfg = json.load(f)["config"]
    assert cfg["weights"] == weights_fingerprint(load_model("tiny").model) == weights_fingerprint(load_tiny(0).model)
    changed = load_tiny(0).model
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1e-6                      # one value of one tensor
    assert weights_fingerprint(changed) != cfg["weights"]
    assert weights_fingerprint(load_tiny(1).model) != cfg["weights"]
    scaled = load_tiny(0).model                                               # a strided fingerprint still
    with torch.no_grad():                                                     # sees a change of every value
        for p in scaled.parameters():
            p.mul_(1.001)
    assert weights_fingerprint(scaled, max_values=100) != weights_fingerprint(load_tiny(0).model, max_values=100)


def test_cell_with_other_config_is_recomputed(tmp_path):
    p = str(tmp_path / "c.json")
    r1, reused1 = dit_cells.run_cell(p, {"a": 1}, lambda: {"x": 1})
    r2, reused2 = dit_cells.run_cell(p, {"a": 1}, lambda: {"x": 2})
    r3, reused3 = dit_cells.run_cell(p, {"a": 2}, lambda: {"x": 3})
    assert (reused1, reused2, reused3) == (False, True, False)
    assert r2["result"] == {"x": 1} and r3["result"] == {"x": 3}
    with open(p, "w") as f:  # a truncated file is recomputed, not trusted
        f.write('{"key": ')
    assert dit_cells.run_cell(p, {"a": 2}, lambda: {"x": 4})[1] is False


def test_cell_outputs_are_protocol_one_without_its_fits():
    from syncgap.dit_bridge.protocols import protocol_one
    from syncgap.dit_bridge.registry import load_model
    loaded = load_model("tiny")
    kw = dict(n_pairs=2, seed=3, num_steps=8)
    for clone, g in ((True, 0.0), (False, 0.7)):
        record = protocol_one(loaded, g, [0, 3, 5, 8], clone=clone, n_boot=10, **kw)
        cell = protocol_one(loaded, g, [0, 3, 5, 8], clone=clone, scales=record["scales"], fit=False, **kw)
        assert set(cell) == {"t_int", "scales", "agreement"} and cell["t_int"] == [0, 3, 5, 8]
        np.testing.assert_array_equal(cell["agreement"], record["agreement"])


# ---------------------------------------------------------------- constructed cases

def _curves(rng, n, t, mids, width=1.5):
    """(n, U, T) agreement: logistic 0 -> 1 at each unit's midpoint, shifted per pair (all units alike)."""
    m = np.asarray(mids, float)[None, :, None] + rng.normal(0, 1.0, (n, 1, 1)) + rng.normal(0, 0.02, (n, len(mids), 1))
    return 1 / (1 + np.exp(-(t[None, None, :] - m) / width))


def _synthetic(tmp_path, gap_of_g, local_first=False, edit=None):
    rng = np.random.default_rng(0)
    t = np.arange(0, 41, 2.0)
    n, gs = 12, (0.0, 0.5, 1.0, 2.0)
    cells = {}
    for g in gs:
        gap = gap_of_g(g)
        mids = [20 + gap, 20] if local_first else [20, 20 + gap / 2, 20 + gap]
        res = {"t_int": t, "scales": [1, 2, 4][:len(mids)], "agreement": _curves(rng, n, t, mids)}
        kind = "clone" if g == 0 else "p1"
        p = str(tmp_path / f"{kind}_g{g:g}.json")
        dit_cells.run_cell(p, {"kind": kind, "g": g}, lambda res=res: res)
        cells[(kind, g)] = p
    st = Settings(num_steps=40, n_pairs=n, t_ints=tuple(t.astype(int)), g_grid=gs, n_boot=60,
                  ou_paths=0)
    from syncgap.validation.store import to_plain
    a = json.loads(json.dumps(to_plain(analyse_model("synthetic", cells, st, None))))
    if edit is not None:
        edit(a)
    return {c.id.split(".", 2)[2]: c for c in checks_for(a)}


def test_findings_that_reproduce_pass(tmp_path):
    """Curves built to follow the predicted law and ordering: the checks pass (depth: tests/dit_bridge/test_dit_depth.py)."""
    cks = _synthetic(tmp_path, lambda g: 8.0 * float(routing_factor(g)))
    for name in ("intrinsic_gap_sign.scales", "ordering.scales"):
        assert cks[name].passed, cks[name]
    # the release window cannot collapse the gap: the rho-law is not judged there, whatever the curves
    # (it is judged in the coupled-cloning window, tests/validation/test_dit_bridge_checks.py)
    assert cks["rho_law_support"].verdict == "n/a" and "release" in cks["rho_law_support"].reason
    # issue 13: the rho-law is a hypothesis compared over g > 0, no longer a point check anchored by cloning
    assert not any(k.startswith(("gap_law", "critical_g", "collapse_g")) for k in cks)


def test_findings_that_do_not_reproduce_fail(tmp_path):
    """Local before global and a gap that ignores g: recorded as failed, not dropped."""
    cks = _synthetic(tmp_path, lambda g: 6.0, local_first=True)
    for name in ("intrinsic_gap_sign.scales", "ordering.scales"):
        assert cks[name].verdict == "fail", cks[name]
    assert cks["intrinsic_gap_sign.scales"].observed < 0
    assert cks["rho_law_support"].observed > 10  # a constant gap: the rho-law is decisively worse (n/a in release)


def test_checks_on_an_unestablished_anchor_are_na(tmp_path):
    """No gap at g = 0 (interval around 0): sign and ordering unresolved, never a pass; and no check rests on
    the cloning gap0 any more (issue 13: the gap law is compared over g > 0 only)."""
    cks = _synthetic(tmp_path, lambda g: 0.0)
    assert cks["intrinsic_gap_sign.scales"].verdict in ("n/a", "fail")
    assert not any(name.startswith(("gap_law.", "critical_g", "collapse_g")) for name in cks)
    assert all(c.verdict != "pass" or c.observed is not None for c in cks.values())


@pytest.mark.slow
def test_control_ordering_is_na_when_its_quality_gate_missed(tmp_path):
    """Issue 14: the equal-amplitude control's ordering check is n/a when the control missed its gate."""
    missed = {"passed": False, "shortfalls": ["dct67 P(y_k > 0) = 0.534"]}
    cks = _synthetic(tmp_path / "a", lambda g: 6.0, edit=lambda a: a.update(model="fhgm-flat",
                                                                                        quality_gate=missed))
    assert cks["ordering.scales"].verdict == "n/a" and "quality gate" in cks["ordering.scales"].reason
    assert "control" in cks["ordering.scales"].description
    passed = {"passed": True, "shortfalls": []}
    cks = _synthetic(tmp_path / "b", lambda g: 6.0, edit=lambda a: a.update(model="fhgm-flat",
                                                                                        quality_gate=passed))
    assert cks["ordering.scales"].verdict == "pass"       # the same data decide once the gate is met


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="unknown model"):
        dit_findings_suite(tmp_path, quick=True, model="no-such-model")
    with pytest.raises(InputError, match="g"):
        dit_findings_suite(tmp_path, quick=True, model="tiny", g_grid=[0.5, -1.0])
    with pytest.raises(InputError, match="model"):
        dit_findings_suite(tmp_path, quick=True, model=[])
    with pytest.raises(InputError, match="g > 0"):
        dit_findings_suite(tmp_path, quick=True, model="tiny", g_grid=[0.0])
    assert not os.path.exists(tmp_path / "dit")


def _fhgm_checks(tmp_path, shift):
    """FHGM path: per-feature agreement built from the exact-score curves, moved by `shift` sampler steps."""
    from syncgap.theory.data import frequency_hierarchy_mixture
    from syncgap.validation.suites.dit import analysis as an
    from syncgap.validation.store import to_plain
    mix = frequency_hierarchy_mixture()
    t = np.arange(0, 31, 3)
    th = an.feature_theory(mix, t, 30)
    rng = np.random.default_rng(1)
    n = 16
    fine = np.linspace(0, 30, 301)
    curves = np.stack([np.interp(t - shift, fine, np.interp(fine, t, c)) for c in th["curves"]])  # (F, T)
    cells = {}
    for kind, g, sh in (("clone", 0.0, shift), ("p1", 0.5, shift), ("p1", 2.0, shift), ("ou", 0.0, 0)):
        c = curves if sh == shift else np.asarray(th["curves"])
        fa = np.clip(c[None] + rng.normal(0, 0.01, (n, *c.shape)), 0, 1)
        res = {"t_int": t, "feature_agreement": fa}
        if kind != "ou":
            res.update(scales=[2, 4], agreement=fa[:, [0, -1]])
        p = str(tmp_path / f"{kind}_g{g:g}.json")
        dit_cells.run_cell(p, {"kind": kind, "g": g, "shift": shift}, lambda res=res: res)
        cells[(kind, g)] = p
    st = Settings(num_steps=30, n_pairs=n, t_ints=tuple(t), g_grid=(0.0, 0.5, 2.0), n_boot=20,
                  ou_paths=0)
    a = json.loads(json.dumps(to_plain(analyse_model("fhgm", cells, st, mix))))
    return a, {c.id.split(".", 2)[2]: c for c in checks_for(a)}


@pytest.mark.parametrize("shift", [0, 8])
def test_fhgm_features_against_theory_and_exact_sampler(tmp_path, shift):
    a, cks = _fhgm_checks(tmp_path, shift)
    names = [f"{kind}.{f}" for kind in ("commit_step", "exact_sampler") for f in ("dct01", "dct12", "dct34")]
    assert a["families"]["features"]["labels"] == ["dct01", "dct12", "dct34", "dct67"]
    # the exact-score theory orders the features: low frequency (large amplitude) commits first
    assert np.all(np.diff([x for x in a["theory"]["tau"]]) > 0)
    assert np.all(np.diff(a["theory"]["pitchfork_step"]) > 0)
    for name in names:
        assert cks[name].verdict == ("pass" if shift == 0 else "fail"), cks[name]
    assert cks["ordering.features"].verdict == "pass" and cks["ordering.features"].ci[0] > 0
    # issue 13: the intrinsic gap's predicted column from the exact-score DDPM sampler on the DiT's grid
    assert cks["intrinsic_gap.exact"].predicted == pytest.approx(a["exact_sampler"]["gap"])
    if shift == 0:   # the DiT's curves are the exact ones: the gaps agree
        assert cks["intrinsic_gap.exact"].verdict == "pass", cks["intrinsic_gap.exact"]


def test_a_model_without_fhgm_features_is_read_on_its_empirical_modes(tiny_run):
    """A model of other data gets units ordered by frequency (dit_bridge.modes), its facts say where they live and
    why P2.3 is not testable on it."""
    _, res, msgs = tiny_run
    ids = {c.id for c in res.checks}
    assert {"dit.tiny.intrinsic_gap_sign.modes", "dit.tiny.ordering.modes"} <= ids
    assert any("empirical modes computed" in m or "empirical modes read from the cache" in m for m in msgs)
    facts = res.facts["tiny"]
    assert facts["family"] == "modes" and facts["units"][0] == "mode1" and facts["space"] in ("latent", "pixel")
    assert "P2.3" in facts["untestable"] and facts["random_weights"]
