"""Ablation analysis of the depth suite (validation/suites/dit/depth/ablation.py) on made-up cloning curves."""
import numpy as np
import pytest

from syncgap.theory.intervals import read_triples
from syncgap.validation.suites.dit.depth.ablation import ablation_blocks, analyse_ablation

T = np.array([0, 4, 6, 8, 10, 12, 14, 16, 18], float)


def _agree(mid, n_pairs=400, seed=0):
    """(P, 1, T) Bernoulli agreement with P(agree) = 1/2 + 1/2 logistic((t - mid) / 1.5): a rising cloning curve."""
    p = 0.5 + 0.5 / (1 + np.exp(-(T - mid) / 1.5))
    return (np.random.default_rng(seed).random((n_pairs, 1, T.size)) < p).astype(float)


def _runs(mids, removed=1.0):
    return {b: (_agree(m, seed=b + 1), removed) for b, m in mids.items()}


def test_last_blocks_whose_ablation_moves_commitment_answer_last():
    n_layers, k = 12, 3
    blocks = ablation_blocks(n_layers, k, 5, seed=0)
    assert len(blocks) == 11 and {0, 1, 2, 9, 10, 11} <= set(blocks)
    mids = {b: (7.0 if b >= n_layers - k else 10.0) for b in blocks}    # ablating the last 3 commits 3 steps earlier
    a = analyse_ablation(T, _agree(10.0), _runs(mids), 0, k, n_layers, n_boot=100)
    assert a["reference_tau"] == pytest.approx(10.0, abs=0.6)
    by = dict(zip(a["blocks"], read_triples(a, "shift")))
    assert by[11][0] == pytest.approx(-3.0, abs=0.8) and by[11][2] < 0
    assert a["localisation"]["answer"] == "last 3" and len(a["localisation"]["null"]) == 5
    first = {b: (7.0 if b < k else 10.0) for b in blocks}
    assert analyse_ablation(T, _agree(10.0), _runs(first), 0, k, n_layers, n_boot=100)["localisation"]["answer"] \
        == "first 3"
    flat = {b: 10.0 for b in blocks}                                     # nothing moves: not resolved or elsewhere
    assert analyse_ablation(T, _agree(10.0), _runs(flat), 0, k, n_layers, n_boot=100)["localisation"]["answer"] \
        in ("n/a", "elsewhere")


def test_effects_are_normalised_by_the_energy_removed_and_zero_energy_has_none():
    blocks = ablation_blocks(12, 3, 5, seed=0)
    mids = {b: 7.0 for b in blocks}
    runs = {b: (_agree(7.0, seed=b + 1), 2.0 if b == 0 else 1.0) for b in blocks}
    runs[1] = (runs[1][0], 0.0)
    a = analyse_ablation(T, _agree(10.0), runs, 0, 3, 12, n_boot=50)
    eff = dict(zip(a["blocks"], read_triples(a, "effect")))
    shift = dict(zip(a["blocks"], read_triples(a, "shift")))
    assert eff[0][0] == pytest.approx(-shift[0][0] / 2.0) and eff[2][0] == pytest.approx(-shift[2][0])
    assert eff[1] == [None, None, None] and mids
    assert a["localisation"]["answer"] == "n/a"          # the first 3 have a block without an effect


@pytest.mark.slow
def test_ablation_part_on_a_tiny_fhgm_shaped_model_caches_its_cells(tmp_path):
    import json

    from syncgap.dit_bridge.registry import load_directory, load_tiny
    from syncgap.validation.suites.dit.cells import fhgm_mixture
    from syncgap.validation.suites.dit.depth.ablation import AblationSettings, ablation_part
    tiny = load_tiny(seed=3, in_channels=1, out_channels=1, num_layers=6)
    tiny.model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "training.json").write_text(json.dumps({"dataset": {"name": "fhgm", "size": 8, "channels": 1}, "num_classes": 1}))
    rec = load_directory(str(tmp_path / "m"))
    mix = fhgm_mixture(rec)
    s = AblationSettings(n_pairs=4, num_steps=6, t_ints=(0, 1, 2, 3, 4, 5), n_boot=10)
    msgs = []
    a = ablation_part(rec, mix, 0, str(tmp_path / "out"), s, msgs.append)
    assert a["feature"] == "dct01" and ("localisation" in a or "does not commit" in a["reason"])
    again = []
    assert ablation_part(rec, mix, 0, str(tmp_path / "out"), s, again.append) == a
    assert all("reused" in m for m in again) and len(again) == len(msgs)


def test_ablation_figure_and_text_from_the_analysis(tmp_path):
    import json
    import os

    from syncgap.validation.suites.dit.depth.ablation import ablation_text
    from syncgap.validation.suites.dit.depth.figures import draw_ablation
    from syncgap.validation.store import to_plain
    blocks = ablation_blocks(12, 3, 5, seed=0)
    an = analyse_ablation(T, _agree(10.0), _runs({b: (7.0 if b >= 9 else 10.0) for b in blocks}), 0, 3, 12, n_boot=50)
    a = json.loads(json.dumps(to_plain({"model": "m", "n_layers": 12, "ablation": {
        "feature": "dct34", "window_steps": [8, 12], **an}})))
    draw_ablation(a, str(tmp_path / "a.png"))
    assert os.path.getsize(tmp_path / "a.png") > 1000
    assert "answers last 3" in ablation_text(a)


def test_a_report_without_the_ablation_says_where_it_runs_and_what_it_costs():
    from syncgap.validation.suites.dit.depth.ablation import ABLATION_COST, ablation_not_run_text
    text = ablation_not_run_text()
    assert "not in this report" in text and "validate --full" in text and ABLATION_COST in text
