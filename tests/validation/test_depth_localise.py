"""The depth localisation rule (validation/suites/dit/depth/localise.py): data that pass, fail and are n/a;
control checks from records; the deep model's verdict n/a while a control is missing or fails."""
import json

import numpy as np
import pytest

from syncgap.dit_bridge.causal import middle_sets
from syncgap.theory.intervals import read_triple, triple_fields
from syncgap.validation.suites.dit.depth import localise as dl

NULL = [0.1, 0.2, 0.05, 0.0, 0.15]


@pytest.mark.parametrize("last,first,null,answer", [
    ([0.6, 0.5, 0.7], [0.1, 0.0, 0.2], NULL, "last 5"),
    ([0.1, 0.0, 0.2], [0.6, 0.5, 0.7], NULL, "first 5"),
    ([0.05, 0.0, 0.1], [0.1, 0.05, 0.15], [0.1, 0.2, 0.05, 0.0, 0.5], "elsewhere"),
    ([0.6, 0.15, 0.7], [0.1, 0.0, 0.2], NULL, "n/a"),           # the last set's interval reaches into the null
    ([0.6, 0.5, 0.7], [0.55, 0.45, 0.65], NULL, "n/a"),         # both ends beyond the null, overlapping
    ([0.6, 0.5, 0.7], [0.1, 0.0, 0.2], NULL[:4], "n/a"),        # 4 null values
    ([0.6, 0.5, 0.7], [0.1, 0.0, 0.2], NULL[:4] + [None], "n/a"),   # a null without a measured value
    ([0.6, None, 0.7], [0.1, 0.0, 0.2], NULL, "n/a"),           # no bounded interval
])
def test_localise_answers(last, first, null, answer):
    got, reason = dl.localise(last, first, null, 5)
    assert got == answer and reason
    m = dl.margin({**triple_fields("last", last), **triple_fields("first", first), "null": null}, "last")
    if answer == "last 5":
        assert m > 0
    elif m is not None:
        assert m <= 0


def test_set_effects_sums_blocks_and_draws_a_measured_null():
    rng = np.random.default_rng(0)
    n = 28
    est = np.zeros(n)
    est[-5:] = 0.2                                          # the last 5 blocks carry the difference
    boots = est + 0.01 * rng.standard_normal((200, n))
    eff = dl.set_effects(est, boots, 5, 5, seed=1)
    assert eff["last"] == pytest.approx(1.0) and eff["last_low"] < 1.0 < eff["last_high"]
    assert len(eff["null"]) == 5 and all(len(s) == 5 for s in eff["null_sets"])
    ends = set(range(23, 28)) | set(range(5))
    assert all(not ends & set(s) for s in eff["null_sets"])              # "k other blocks": no block of an end
    assert dl.localise(read_triple(eff, "last"), read_triple(eff, "first"), eff["null"], 5)[0] == "last 5"
    flipped = dl.set_effects(est[::-1], boots[:, ::-1], 5, 5, seed=1)
    assert dl.localise(read_triple(flipped, "last"), read_triple(flipped, "first"), flipped["null"], 5)[0] == "first 5"
    assert dl.control_k(28) == 5 and dl.control_k(16) == 5 and dl.control_k(4) == 1 and dl.control_k(12) == 4
    few = dl.set_effects(np.ones(4), np.ones((50, 4)), 1, 5)     # a 4-block model has 2 other 1-sets
    assert len(few["null"]) == 2 and dl.localise(read_triple(few, "last"), read_triple(few, "first"), few["null"],
                                                 1)[0] == "n/a"
    assert middle_sets(16, 5, 5) == [s for s in middle_sets(16, 5, 6) if s in middle_sets(16, 5, 5)]
    assert len(middle_sets(16, 5, 10)) == 6 and middle_sets(12, 5, 5) == []   # 6 middle blocks; 2


def test_a_null_overlapping_an_end_would_hide_a_spread_tail():
    """The last 5 of 16 blocks share the work equally: a random 5-set holding 3 of them would carry 3/5 of it and
    could top the null; the null of the blocks between the ends cannot, and the rule answers "last 5"."""
    rng = np.random.default_rng(2)
    est = np.r_[np.full(11, 0.01), np.full(5, 0.2)]
    boots = est + 0.05 * rng.standard_normal((400, 16))
    eff = dl.set_effects(est, boots, 5, 5, seed=0)
    assert max(eff["null"]) < 0.1 and dl.localise(read_triple(eff, "last"), read_triple(eff, "first"), eff["null"],
                                                  5)[0] == "last 5"
    overlapping = [[2, 5, 7, 8, 9], [1, 3, 6, 9, 12], [0, 4, 12, 13, 15], [10, 11, 12, 13, 14], [3, 6, 8, 9, 10]]
    answer = dl.localise(read_triple(eff, "last"), read_triple(eff, "first"), [est[s].sum() for s in overlapping], 5)[0]
    assert answer == "n/a"                                                   # 4 of the last 5 tops the edge


def _write(zoo, name, expect, answer, reason="r"):
    (zoo / name).mkdir(parents=True, exist_ok=True)
    rec = {"model": name, "expect": expect, "k": 5, "answer": answer, "reason": reason,
           "last": [0.6, 0.5, 0.7] if expect == "last" else [0.1, 0.0, 0.2],
           "first": [0.1, 0.0, 0.2] if expect == "last" else [0.6, 0.5, 0.7], "null": NULL}
    (zoo / name / dl.RECORD_FILE).write_text(json.dumps(rec))


def test_control_checks_from_records(tmp_path, monkeypatch):
    monkeypatch.setitem(dl.CONTROLS, "deep", ("pos", "neg"))
    checks, reason = dl.control_checks("deep", str(tmp_path), "f")
    assert [c.verdict for c in checks] == ["n/a", "n/a"] and "no control record" in reason
    assert [c.id for c in checks] == ["dit.pos.depth.control.answer", "dit.neg.depth.control.answer"]
    _write(tmp_path, "pos", "last", "last 5")
    _write(tmp_path, "neg", "first", "first 5")
    checks, reason = dl.control_checks("deep", str(tmp_path), "f")
    assert [c.verdict for c in checks] == ["pass", "pass"] and reason is None
    _write(tmp_path, "neg", "first", "last 5")          # made to fail: the negative control answers "last"
    checks, reason = dl.control_checks("deep", str(tmp_path), "f")
    assert [c.verdict for c in checks] == ["pass", "fail"] and "neg (first control)" in reason
    eff = {"k": 5, **triple_fields("last", [0.6, 0.5, 0.7]), **triple_fields("first", [0.1, 0.0, 0.2]), "null": NULL}
    assert dl.localisation_check("deep", eff, reason, "f", "x").verdict == "n/a"
    assert dl.localisation_check("deep", eff, None, "f", "x").verdict == "pass"
    assert dl.control_checks("other", str(tmp_path), "f") == ([], "no positive and negative depth controls of "
                                                                   "other's architecture")


def test_depth_controls_command_writes_a_record_the_report_reads(tmp_path, monkeypatch, capsys):
    """`syncgap dit depth-controls` on a tiny random FHGM-shaped model (6 blocks): the record has the rule's
    inputs and answer, and control_checks reads it back as a check (random weights: any verdict, never forced)."""
    from syncgap.dit_bridge.registry import load_tiny
    from syncgap.validation.cli.main import main
    rec = load_tiny(seed=3, in_channels=1, out_channels=1, num_layers=6)
    model_dir = tmp_path / "ctl"
    rec.model.save_pretrained(model_dir)
    (model_dir / "training.json").write_text(json.dumps({"dataset": {"name": "fhgm", "size": 8, "channels": 1}, "num_classes": 1}))
    out = tmp_path / "zoo" / "ctl"
    assert main(["dit", "depth-controls", "--model", str(model_dir), "--expect", "last", "--out", str(out),
                 "--quick", "--json"]) == 0
    record = json.loads((out / dl.RECORD_FILE).read_text())
    assert record["expect"] == "last" and record["k"] == dl.control_k(6) == 2
    assert record["answer"] in ("last 2", "first 2", "elsewhere", "n/a") and record["reason"]
    assert {"last", "last_low", "last_high"} <= set(record) and record["feature"] == "dct67"
    assert len(record["null"]) == len(middle_sets(6, 2, 5)) == 1             # blocks 2, 3 lie between the ends
    monkeypatch.setitem(dl.CONTROLS, "deep", ("ctl", "missing"))
    checks, reason = dl.control_checks("deep", str(tmp_path / "zoo"), "f")
    assert checks[0].id == "dit.ctl.depth.control.answer" and checks[1].verdict == "n/a"
    assert reason is not None and "missing" in reason
    with pytest.raises(SystemExit) as exc:
        main(["dit", "depth-controls", "--model", str(model_dir), "--expect", "middle"])
    assert exc.value.code == 2
    assert main(["dit", "depth-controls", "--model", "tiny", "--expect", "last", "--out", str(tmp_path / "t")]) == 2
