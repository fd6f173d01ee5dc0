"""The causal depth test (issue 15 item 3): layer sets, coupling a set of layers, the null check, small cells.

Seconds each: the coupled runs use the random `tiny` DiT (3 layers), whose numbers mean nothing, and the
4-layer `fhgm` at a few pairs; what is tested is that the machinery couples what it says, exactly, that the
switch-on gap and its shift read known curves, and that the check can fail.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.causal import gap_shift, layer_set, layer_sets, set_agreement, set_parts, shared_prefix
from syncgap.dit_bridge.registry import load_model
from syncgap.theory.checks import InputError
from syncgap.validation.checks import FAIL, NA, PASS, beyond_null
from syncgap.validation.suites.dit import causal as dit_causal

RUN = dict(n_pairs=3, num_steps=6, seed=2, scales=[2, 8])


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return load_model("tiny")


def test_layer_sets_last_first_random():
    assert layer_set(28, 5, "last") == [23, 24, 25, 26, 27]
    assert layer_set(28, 5, "first") == [0, 1, 2, 3, 4]
    assert layer_set(28, 0, "last") == [] and layer_set(28, 28, "first") == list(range(28))
    r = layer_set(28, 5, "random", seed=3)
    assert len(r) == len(set(r)) == 5 and r == sorted(r) and all(0 <= i < 28 for i in r)
    assert r == layer_set(28, 5, "random", seed=3)                  # a seed gives one set
    assert len({tuple(layer_set(28, 5, "random", seed=s)) for s in range(10)}) > 5
    sets = layer_sets(28, [1, 5], n_random=4, seed=7)
    labels = [s["label"] for s in sets]
    assert labels[:2] == ["none", "all"] and "last5" in labels and "first1" in labels
    assert sum(s["kind"] == "random" and s["k"] == 5 for s in sets) == 4
    assert all(len(s["layers"]) == s["k"] for s in sets)
    for n, k, m in ((28, 5, 6), (28, 1, 6), (16, 5, 6), (6, 2, 1)):   # the null: k-sets of the layers between the ends
        sets = [x for x in layer_sets(n, [k], n_random=6) if x["k"] == k]
        null = [tuple(x["layers"]) for x in sets if x["kind"] == "random"]
        assert len(null) == len(set(null)) == m
        ends = set(range(k)) | set(range(n - k, n))
        assert all(not ends & set(s) for s in null)                 # no layer of either end
    assert [x for x in layer_sets(4, [3], n_random=3) if x["kind"] == "random"] == []   # nothing lies between


@pytest.mark.parametrize("call, words", [
    (lambda: layer_set(28, 29, "last"), ["k", "[0, 28]"]),
    (lambda: layer_set(28, -1, "first"), ["k", "[0, 28]"]),
    (lambda: layer_set(28, 2, "middle"), ["kind", "last, first, random"]),
    (lambda: layer_set(0, 1, "last"), ["n_layers"]),
    (lambda: layer_set(28, 2, "random", seed=-1), ["seed"]),
    (lambda: layer_sets(4, [4], 2), ["k", "[1, 3]"]),
    (lambda: layer_sets(4, [1], -1), ["n_random"]),
])
def test_bad_layer_sets_name_the_argument_and_range(call, words):
    with pytest.raises(InputError) as exc:
        call()
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_coupling_no_layers_is_the_uncoupled_run_exactly(tiny):
    none = set_parts(tiny, 0.7, [], **RUN)
    uncoupled = set_parts(tiny, 0.0, [0, 1, 2], **RUN)           # the gate at g = 0 is the stock attention
    coupled = set_parts(tiny, 0.7, [0, 1, 2], **RUN)
    assert none.shape == (3, 2, 2, 7)
    np.testing.assert_array_equal(none, uncoupled)
    assert not np.allclose(none, coupled)


def test_coupling_every_layer_through_the_set_equals_layers_none(tiny):
    from syncgap.dit_bridge.pair_run import PairRun
    from syncgap.dit_bridge.throughout import throughout_parts
    every = set_parts(tiny, 0.5, layer_set(3, 3, "last"), **RUN)
    run = PairRun(tiny, g=0.5, n_pairs=3, seed=2, num_steps=6, sampler="ddim", window="throughout", noise="shared")
    default = throughout_parts(run, [2, 8])
    np.testing.assert_array_equal(every, default)
    one = set_parts(tiny, 0.5, [2], **RUN)
    assert not np.array_equal(one, every) and not np.array_equal(one, set_parts(tiny, 0.5, [], **RUN))


def _parts(onsets, n_pairs=8, steps=30):
    """Synthetic (pairs, 2, units, states): unit u's difference quiet, then rising from step onsets[u]."""
    t = np.arange(steps + 1)
    rng = np.random.default_rng(0)
    out = np.empty((n_pairs, 2, len(onsets), steps + 1))
    for u, on in enumerate(onsets):
        q = np.clip((t - on) / 5.0, 0, 1) * 0.5 + 0.01
        out[:, 0, u] = q * (1 + 0.01 * rng.random((n_pairs, 1)))
        out[:, 1, u] = 1.0
    return out


def test_gap_shift_reads_the_synthetic_onsets():
    r = gap_shift(_parts([10, 18]), _parts([10, 14]), n_boot=50)
    assert r["gap"] == 8 and r["reference_gap"] == 4 and r["shift"] == 4
    assert r["shift_low"] <= 4 <= r["shift_high"] and "shift_reason" not in r
    flat = _parts([10, 18])
    flat[:, 0, 1] = 0.01                                            # the weak unit never desynchronises
    r = gap_shift(flat, _parts([10, 14]), n_boot=50)
    assert r["shift"] is None and "no onset" in r["shift_reason"]
    with pytest.raises(InputError, match="one shape"):
        gap_shift(_parts([1, 2]), _parts([1, 2], n_pairs=4))


def _row(last, randoms, every=6.0, moves=True):
    sets = [{"label": "none", "kind": "none", "k": 0, "shift": 0.0},
            {"label": "all", "kind": "all", "k": 28, "shift": every},
            {"label": "last5", "kind": "last", "k": 5, "shift": last[0], "shift_low": last[1], "shift_high": last[2]}]
    sets += [{"label": f"random5_s{i}", "kind": "random", "k": 5, "shift": v} for i, v in enumerate(randoms)]
    return {"g": 0.01, "moves": moves, "sets": sets, "empty_reason": None if moves else "empty: no move"}


def test_last_k_check_fails_inside_the_null_and_passes_far_outside():
    null = [0.5, 1.0, 2.0, -0.5, 0.2]
    assert dit_causal.last_k_decision(_row((1.5, 0.5, 2.5), null), 5).verdict == FAIL      # inside the null
    assert dit_causal.last_k_decision(_row((6.0, 5.0, 7.0), null), 5).verdict == PASS      # far outside
    assert dit_causal.last_k_decision(_row((3.0, 1.0, 4.0), null), 5).verdict == NA        # interval reaches in
    # the direction follows gap(all) - gap(none): a negative move must be more negative than the null
    assert dit_causal.last_k_decision(_row((-6.0, -7.0, -5.0), null, every=-6.0), 5).verdict == PASS
    assert dit_causal.last_k_decision(_row((6.0, 5.0, 7.0), null, every=-6.0), 5).verdict == FAIL
    empty = dit_causal.last_k_decision(_row((6.0, 5.0, 7.0), null, moves=False), 5)
    assert empty.verdict == NA and "empty" in empty.reason
    assert beyond_null(5.0, (4.0, 6.0), [1.0]).verdict == NA                                # one null value
    few = dit_causal.last_k_decision(_row((6.0, 5.0, 7.0), null[:4]), 5)                     # 4 measured values
    assert few.verdict == NA and "need at least 5" in few.reason
    with pytest.raises(ValueError, match="direction"):
        beyond_null(5.0, (4.0, 6.0), [1.0, 2.0], direction=0)


def test_p2_verdict_follows_the_last_five_check():
    from syncgap.validation.checks import Check
    ana = {"n_layers": 28}
    mk = lambda v: [Check("dit.fhgm-deep.causal.g0.01.last5_beyond_random", "", None, 1.0, (0.0, 2.0), "steps",
                          None, verdict=v, expects="beyond", reason="by the test")]
    assert dit_causal.p2_verdict(ana, mk(PASS)) == "reproduced"
    assert dit_causal.p2_verdict(ana, mk(FAIL)) == "not reproduced"
    assert dit_causal.p2_verdict(ana, mk(NA)) == "not resolved"
    assert dit_causal.p2_verdict({"n_layers": 4}, mk(PASS)).startswith("n/a")


def test_tiny_end_to_end_cells_resume(tmp_path, monkeypatch):
    from dataclasses import replace
    monkeypatch.setattr(dit_causal, "settings_for", lambda quick, full: replace(
        dit_causal.THROUGHOUT, models=("tiny",), g_grid=(0.5,), ks=(1,), n_random=2, n_pairs=3, num_steps=6, n_boot=20))
    monkeypatch.setattr(dit_causal, "moves_gap", lambda shift: True)   # run the subsets whatever tiny's gap does
    said = []
    res = dit_causal.dit_causal_suite(tmp_path, quick=True, progress=said.append)
    folder = tmp_path / "dit_causal" / "tiny"
    cells = sorted(p.name for p in folder.glob("g*.json"))
    assert cells == ["g0.5_all.json", "g0.5_first1.json", "g0.5_last1.json", "g0.5_middle1_1.json",
                     "g0_none.json"]                  # the uncoupled run has g = 0; 3 layers: one 1-set between the ends
    ana = json.loads((folder / "analysis.json").read_text())
    assert {x["label"] for x in ana["rows"][0]["sets"]} == {c.split("_", 1)[1][:-5] for c in cells}
    assert [c.id for c in res.checks] == ["dit.tiny.causal.g0.5.last1_beyond_random"]
    assert os.path.isfile(tmp_path / res.figures[0].path)
    assert "not where the gap emerges" in next(iter(res.verdicts.values()))
    said.clear()
    dit_causal.dit_causal_suite(tmp_path, quick=True, progress=said.append)
    assert sum("reused" in m for m in said) == 5 and not any(": done" in m for m in said)


def test_switch_on_prefix_is_shared_exactly(tiny):
    pat = np.random.default_rng(0).standard_normal((2, int(np.prod(tiny.sample_shape))))
    t = (0, 2, 4, 6)
    kw = dict(n_pairs=3, seed=1, num_steps=6)
    pre = shared_prefix(tiny, t, **kw)
    for layers in ([0, 1, 2], [2]):
        alone = set_agreement(tiny, 0.8, layers, t, patterns=pat, **kw)
        assert alone.shape == (3, 2, 4)
        np.testing.assert_array_equal(alone, set_agreement(tiny, 0.8, layers, t, patterns=pat, prefix=pre, **kw))
        np.testing.assert_array_equal(alone, set_agreement(tiny, 0.8, layers, t, patterns=pat, prefix=pre, **kw))
    with pytest.raises(InputError, match="t_ints"):
        set_agreement(tiny, 0.8, [0], (2, 3, 4, 6), patterns=pat, **kw)        # no t_int = 0: no synchronisation read


def _agreement(taus, n_pairs=400, t=(0, 4, 8, 10, 12, 14, 16, 20), plateau=1.0, seed=0):
    """(pairs, units, T) binary agreement drawn from falling logistic curves with midpoints taus
    (None: flat at chance 1/2): what a switch-on set that synchronises (or not) each unit looks like."""
    t = np.asarray(t, float)
    rng = np.random.default_rng(seed)
    p = [np.full_like(t, 0.5) if tau is None else 0.5 + (plateau - 0.5) / (1 + np.exp((t - tau) / 0.8))
         for tau in taus]
    return (rng.random((n_pairs, len(taus), t.size)) < np.asarray(p)[None]).astype(float), t


@pytest.mark.slow
def test_switch_on_shift_reads_known_curves():
    ref, t = _agreement([8.0, 11.0, 14.0])
    coupled, _ = _agreement([13.0, 13.5, 14.0], seed=1)
    r = dit_causal.switch_on_shift(coupled, ref, t, [0, 1, 2], n_boot=100)
    assert abs(r["reference_gap"] - 6.0) < 0.6 and abs(r["gap"] - 1.0) < 0.6      # tau(last) - tau(first)
    assert r["shift_low"] <= r["shift"] <= r["shift_high"] < 0 and abs(r["shift"] + 5.0) < 0.8
    assert r["synchronised"] == [True, True] and not r["no_effect"] and dit_causal.moves_gap(r)
    assert abs(dit_causal.switch_on_shift(coupled, ref, t, [0, 1], n_boot=50)["reference_gap"] - 3.0) < 0.6
    flat, _ = _agreement([None, None, None], seed=2)                    # the set synchronises nothing
    r = dit_causal.switch_on_shift(flat, ref, t, [0, 1, 2], n_boot=100)
    assert r["no_effect"] and r["shift"] == 0.0 and r["gap"] is None and not dit_causal.moves_gap(r)
    half, _ = _agreement([12.0, None, None], seed=3)                    # the coarse unit only: no gap, no convention
    r = dit_causal.switch_on_shift(half, ref, t, [0, 1, 2], n_boot=100)
    assert r["synchronised"] == [True, False] and not r["no_effect"] and r["shift"] is None and "midpoint" in r["shift_reason"]
    with pytest.raises(InputError, match="one shape"):
        dit_causal.switch_on_shift(coupled[:10], ref, t, [0, 2])


def test_last_k_check_compares_measured_values_only():
    """The conventional 0 of a set without effect is never compared: not as the last-k value, not in the null
    (the old fhgm-deep failure: a 2-value null holding a conventional 0, tied with the last 5's)."""
    row = _row((0.0, 0.0, 0.0), [-4.0, 0.0, -0.5, -1.0, -2.0], every=-4.5)
    row["sets"][2]["no_effect"] = True
    d = dit_causal.last_k_decision(row, 5)
    assert d.verdict == NA and "neither" in d.reason and "convention" in d.reason
    row = _row((-4.4, -5.0, -3.8), [0.0, 0.0, -1.0, -0.5, 0.2, -0.1], every=-4.5)
    row["sets"][3]["no_effect"] = True                                  # a conventional 0 leaves the null
    d = dit_causal.last_k_decision(row, 5)
    assert d.verdict == PASS and "1 of 6 random sets have no measured shift" in d.reason
    row["sets"][4]["no_effect"] = True                                  # now 4 measured values: n/a
    assert dit_causal.last_k_decision(row, 5).verdict == NA


@pytest.mark.slow
def test_fhgm_switch_on_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(dit_causal, "settings_for", lambda quick, full: dit_causal.CausalSettings(
        models=("fhgm",), ks=(1,), n_random=2, n_pairs=4, num_steps=8, t_ints=(0, 2, 4, 6, 8), n_boot=20))
    monkeypatch.setattr(dit_causal, "moves_gap", lambda shift: True)
    torch.set_num_threads(1)
    res = dit_causal.dit_causal_suite(tmp_path, quick=True)
    folder = tmp_path / "dit_causal" / "fhgm"
    assert sorted(p.name for p in folder.glob("g*.json")) == [
        "g0.25_all.json", "g1_all.json", "g1_first1.json", "g1_last1.json", "g1_middle1_1.json", "g1_middle1_2.json"]
    ana = json.loads((folder / "analysis.json").read_text())
    assert ana["window"] == "switch-on" and "g_ref = 0.25" in ana["reference"] and ana["not_generated"] == []
    sets = {x["label"]: x for x in ana["rows"][0]["sets"]}
    assert sets["reference"]["shift"] in (0.0, None) and len(sets["all"]["synchronised"]) == 2
    assert [c.id for c in res.checks] == ["dit.fhgm.causal.g1.last1_beyond_random"]
    assert "switch-on window" in next(iter(res.verdicts.values()))
    with pytest.raises(InputError, match="FHGM"):
        dit_causal.measure(load_model("tiny"), str(tmp_path), dit_causal.CausalSettings(models=("tiny",)))
    skipped = dit_causal.dit_causal_suite(tmp_path / "t", quick=True, model="tiny")    # a non-FHGM model: a note
    assert skipped.checks == [] and "not trained on the FHGM" in next(iter(skipped.verdicts.values()))


def test_generated_features_follow_the_card():
    from syncgap.dit_bridge.zoo_quality import generated_features
    stats = {"amplitudes": [12.0, 6.0, 3.0, 1.5], "mean_abs": [11.9, 5.9, 2.54, 0.40]}     # fhgm-deep's card
    assert generated_features(stats) == [0, 1, 2] and generated_features(stats, 0.9) == [0, 1]
    with pytest.raises(InputError, match="min_ratio"):
        generated_features(stats, 1.5)


def test_subset_sizes_per_model_depth():
    assert dit_causal.ks_for(28, None) == [5] and dit_causal.ks_for(4, None) == [3]
    assert dit_causal.ks_for(28, "all") == list(range(1, 28)) and dit_causal.ks_for(4, (1, 5, 28)) == [1]
    assert dit_causal.ks_for(1, None) == []
    assert dit_causal.settings_for(False, False).models == dit_causal.settings_for(True, False).models == ("fhgm",)
    assert "fhgm-deep16" in dit_causal.settings_for(False, True).models        # the deep testbed: validate --full
    for quick, full in ((False, False), (True, False), (False, True)):   # every size reads "never coupled" and "all run"
        st = dit_causal.settings_for(quick, full)
        assert st.window == "switch-on" and st.t_ints[0] == 0 and st.t_ints[-1] == st.num_steps
        assert st.n_random >= 2 and all(g > st.g_ref for g in st.g_grid)
