"""The depth part of the DiT suite (validation/suites/dit/depth/finding.py): cells, checks that can fail, figures from files."""
import copy
import json
import os

import numpy as np
import pytest

from syncgap.theory.checks import InputError
from syncgap.theory.intervals import list_fields, triple_fields
from syncgap.validation.suites.dit.depth import finding as dit_depth
from syncgap.validation.suites.dit.depth.figures import draw_depth_figures


@pytest.fixture(scope="module")
def fhgm_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("depth")
    msgs = []
    part = dit_depth.depth_part(out, quick=True, say=msgs.append)   # default --quick model: fhgm
    return out, part, msgs


@pytest.mark.slow
def test_quick_run_on_fhgm_writes_cells_checks_and_figures(fhgm_quick):
    out, part, msgs = fhgm_quick
    ids = [c.id for c in part.checks]
    assert ids == ["dit.fhgm.depth.increment_structure", "dit.fhgm.depth.probe_reads_coarse",
                   "dit.fhgm.depth.localisation"]
    assert [c.finding for c in part.checks] == [dit_depth.MEASUREMENT] * 2 + [dit_depth.FINDING]
    loc = part.checks[2]   # fhgm has no depth controls: P2.3's verdict is n/a with that reason
    assert loc.verdict == "n/a" and "no positive and negative depth controls" in loc.reason
    assert part.checks[0].verdict == "pass"     # a trained DiT's increments are not isotropic
    with open(os.path.join(out, "dit", "fhgm", "depth.json")) as f:
        a = json.load(f)
    assert a["n_layers"] == 4 and len(a["gap"]) == 5 and a["predicted_first_layer"] == 4
    assert a["chance_share"] == 9 / 16 and len(a["share"][0]) == 4
    assert a["features"] == ["dct01", "dct12", "dct34", "dct67"]
    assert len(part.figures) == 4 and all(os.path.getsize(os.path.join(out, f.path)) > 1000 for f in part.figures)
    lm = a["layer_modes"]   # P2's own measure: states x_t, h_0 .. h_4, x0_hat, exact posterior mean
    assert lm["states"][0] == "x_t" and lm["states"][-1] == "posterior_mean" and len(lm["states"]) == 8
    assert np.asarray(lm["q"]).shape == (8, 6, 12) and len(lm["tau"]) == 8 and len(lm["gap"]) == 8
    assert lm["coarse"] == "dct01" and "P2's own measure" in part.notes[0]
    at = a["attribution"]   # per block and feature the shares with their intervals; the direct decomposition closes
    assert np.asarray(at["total"]).shape == np.asarray(at["total_low"]).shape == (4, 4)
    assert np.asarray(at["closure_error"]).shape == (4,)
    assert abs(at["closure_error"][0]) < 0.05 and "Attribution" in part.notes[0]
    assert "fhgm (4 blocks)" in part.notes[0] and any("depth done" in m for m in msgs)


@pytest.mark.slow
def test_rerun_reuses_the_cell_and_figures_redraw_from_the_file(fhgm_quick, tmp_path):
    out, part, _ = fhgm_quick
    cell = os.path.join(out, "dit", "fhgm", "depth_g0.json")
    before = os.stat(cell).st_mtime_ns
    msgs = []
    again = dit_depth.depth_part(out, quick=True, say=msgs.append)
    assert os.stat(cell).st_mtime_ns == before and any("reused" in m for m in msgs)
    assert [c.to_json() for c in again.checks] == [c.to_json() for c in part.checks]
    copied = tmp_path / "depth.json"
    copied.write_text(open(os.path.join(out, "dit", "fhgm", "depth.json")).read())
    pngs = draw_depth_figures(str(copied))
    assert [os.path.basename(p) for p, _ in pngs] == ["depth_probes.png", "depth_increments.png",
                                                     "depth_layer_modes.png", "depth_attribution.png"]


def _analysis(first, share, chance=0.25, n_layers=28, changed=None):
    gaps = [[0.0, -1.0, 1.0]] * (n_layers + 1)
    if first is not None:
        gaps = gaps[:first] + [[3.0, 1.0, 5.0]] * (n_layers + 1 - first)
    return {"model": "m", "n_layers": n_layers, "features": ["dct01", "dct67"], "chance_share": chance,
            **triple_fields("share_pooled", share), "accuracy": np.ones((n_layers + 1, 3, 2)).tolist(),
            **list_fields("gap", gaps),
            "first_resolved_layer": first, "first_changed_layer": changed, "predicted_first_layer": dit_depth.predicted_first_layer(n_layers)}


def _localisation(last, first, null, k=5):
    return {"localisation": {"k": k, **triple_fields("last", last), **triple_fields("first", first), "null": null,
                             "feature": "dct34"}}


def test_checks_pass_fail_and_na():
    a = _analysis(25, [0.6, 0.5, 0.7])
    a["attribution"] = _localisation([0.6, 0.5, 0.7], [0.1, 0.0, 0.2], [0.1, 0.2, 0.05, 0.0, 0.15])
    ok = {c.id.split(".")[-1]: c for c in dit_depth.checks_for(a, None)}
    assert ok["localisation"].verdict == "pass" and ok["increment_structure"].verdict == "pass"
    assert ok["localisation"].observed == pytest.approx(0.5 - 0.2)
    assert dit_depth.checks_for(a)[-1].verdict == "n/a"          # controls not read: never a verdict
    a["attribution"] = _localisation([0.1, 0.0, 0.2], [0.6, 0.5, 0.7], [0.1, 0.2, 0.05, 0.0, 0.15])
    assert dit_depth.checks_for(a, None)[-1].verdict == "fail"    # made to fail: the first blocks carry it
    a["attribution"] = _localisation([0.6, 0.5, 0.7], [0.1, 0.0, 0.2], [0.1, 0.2])
    assert "need at least 5" in dit_depth.checks_for(a, None)[-1].reason
    early = {c.id.split(".")[-1]: c for c in dit_depth.checks_for(_analysis(0, [0.26, 0.2, 0.3], changed=3))}
    assert early["increment_structure"].verdict == "n/a" and "localisation" not in early
    fine = {c.id.split(".")[-1]: c for c in dit_depth.checks_for(_analysis(0, [0.1, 0.05, 0.15]))}
    assert fine["increment_structure"].verdict == "fail" and fine["increment_structure"].observed < 0
    low = _analysis(25, [0.6, 0.5, 0.7])
    low["accuracy"] = (np.ones((29, 3, 2)) * 0.6).tolist()
    assert dit_depth.checks_for(low)[1].verdict == "fail"


def test_finding_text_describes_the_probes_without_a_verdict():
    for a in (_analysis(25, [0.6, 0.5, 0.7]), _analysis(0, [0.6, 0.5, 0.7], changed=2), _analysis(0, [0.6, 0.5, 0.7]),
              _analysis(None, [0.6, 0.5, 0.7]), copy.deepcopy(_analysis(3, [0.6, 0.5, 0.7], n_layers=4))):
        text = dit_depth.finding_text(a)
        assert "reproduced" not in text and "Bayes classifier" in text
    assert "changes from the input" in dit_depth.finding_text(_analysis(0, [0.6, 0.5, 0.7], changed=2))


def test_windows_and_errors(tmp_path):
    assert dit_depth.window_of_steps(np.arange(20), 3).tolist() == [0] * 7 + [1] * 7 + [2] * 6
    with pytest.raises(InputError, match="quick and full"):
        dit_depth.depth_part(tmp_path, quick=True, full=True)
    part = dit_depth.depth_part(tmp_path, quick=True, model="tiny")   # not an FHGM model: skipped with a note
    assert not part.checks and "not trained on the FHGM" in part.notes[0]


@pytest.mark.slow
def test_gap_is_read_on_the_generated_features(fhgm_quick):
    """The gap's fine end is the finest feature the model generates: given [0, 1, 2] it is dct34, the same
    numbers as the probes' own layer_commitment(fine=2), and the text says what was left out."""
    from syncgap.dit_bridge.probes import layer_commitment
    from syncgap.validation.suites.dit import cells as dit_cells
    out, _, _ = fhgm_quick
    cell = dit_cells.read_cell(os.path.join(out, "dit", "fhgm", "depth_g0.json"))["result"]
    st = dit_depth.QUICK
    labels = ["dct01", "dct12", "dct34", "dct67"]
    every = dit_depth.analyse("fhgm", cell, st, labels, 4)
    three = dit_depth.analyse("fhgm", cell, st, labels, 4, [0, 1, 2])
    assert every["gap_features"] == ["dct01", "dct67"] and every["not_generated"] == []
    assert three["gap_features"] == ["dct01", "dct34"] and three["not_generated"] == ["dct67"]
    direct = layer_commitment(np.asarray(cell["probe_steps"], float), np.asarray(cell["correct"], float),
                              coarse=0, fine=2, n_boot=st.n_boot, seed=st.seed)
    assert three["gap"] == direct["gap"] and three["tau_local"] == direct["tau_local"]
    from syncgap.validation.store import to_plain
    text = dit_depth.finding_text(json.loads(json.dumps(to_plain(three))))
    assert "tau_l(dct34) - tau_l(dct01)" in text and "leaves out dct67" in text
