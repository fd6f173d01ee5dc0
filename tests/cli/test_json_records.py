"""Every `--json` output has one shape (docs/json.md): schema, meta, flat records (+ summary).

For each subcommand the output loads with `pd.DataFrame(d["records"])`, every record is flat
(numbers, strings, booleans, null), no NaN is written, and a value that does not exist carries a
reason. Small sizes: each command runs in well under a minute on two cores.
"""
from __future__ import annotations

import json
import math

import pytest

from syncgap.validation.checks import Check
from syncgap.validation.cli.main import main
from syncgap.validation.cli.output import NOT_MEASURABLE
from syncgap.validation.suites.result import SuiteResult

pd = pytest.importorskip("pandas")

OU = ["--samples", "60", "--steps", "60", "--boot", "10", "--quiet", "--json"]
DIT = ["--model", "tiny", "--steps", "4", "--pairs", "2", "--n-boot", "10", "--quiet", "--json"]
COMMANDS = {
    "theory.modes": ["theory", "modes", "--json"],
    "theory.modes.anisotropic": ["theory", "modes", "--anisotropic", "1,2,0.3,0.2", "--json"],
    "theory.speciation": ["theory", "speciation", "--json"],
    "theory.collapse": ["theory", "collapse", "--json"],
    "theory.gap": ["theory", "gap", "--json"],
    "theory.bounds": ["theory", "bounds", "--json"],
    "theory.gated": ["theory", "gated", "--lam", "4", "--json"],
    "theory.spectrum": ["theory", "spectrum", "--json"],
    "theory.cloning": ["theory", "cloning", "--json"],
    "theory.formulas": ["theory", "formulas", "--json"],
    "ou.cloning": ["ou", "cloning", "--d", "16", "--branches", "5", *OU],
    "ou.gap": ["ou", "gap", "--d", "3", "--g", "0,10", *OU],
    "ou.gap.throughout": ["ou", "gap", "--d", "3", "--g", "0", "--window", "throughout", "--scheme", "ode", *OU],
    "ou.gap.switch_on": ["ou", "gap", "--d", "3", "--g", "1", "--window", "switch-on", "--noise", "shared", *OU],
    "ou.gap.layer_a": ["ou", "gap", "--layer", "A", "--d", "4", "--g", "0.5", *OU],
    "ou.energy": ["ou", "energy", "--d", "3", "--every", "20", *OU],
    "ou.energy.ode": ["ou", "energy", "--d", "3", "--every", "20", "--scheme", "ode", *OU],   # no rate_drift: a reason
    "ou.collapse": ["ou", "collapse", "--d", "4", "--n-train", "20", *OU],
    "dit.measure.I": ["dit", "measure", "--protocol", "I", "--g", "0,1", "--t-int", "0,1,2,3,4", *DIT],
    "dit.measure.throughout": ["dit", "measure", "--window", "throughout", "--g", "0,1", *DIT],
    "dit.measure.II": ["dit", "measure", "--protocol", "II", "--g", "0.5", *DIT],
    "dit.gains": ["dit", "gains", "--model", "tiny", "--step", "2", "--num-steps", "4", "--modes", "4",
                  "--samples", "1", "--quiet", "--json"],
    "dit.gate": ["dit", "gate", "--model", "fhgm", "--g", "1", "--pairs", "3", "--steps", "4", "--n-boot", "10",
                 "--quiet", "--json"],
}
VERSIONS = {"dit.measure": 2, "ou.cloning": 2, "ou.gap": 2}
EXPECTED_KINDS = {"ou.gap": {"agreement", "commitment", "gap"}, "ou.gap.throughout": {"difference", "onset", "gap"},
                  "ou.gap.switch_on": {"agreement", "commitment", "gap"},
                  "dit.measure.throughout": {"difference", "onset", "gap"}, "ou.gap.layer_a": {"mode", "gap"},
                  "dit.measure.I": {"agreement", "commitment", "gap"}, "dit.measure.II": {"layer", "final"},
                  "dit.gains": {"mode", "layer", "prediction"}, "dit.gate": {"response"}}


def check_shape(d: dict, command: str) -> "pd.DataFrame":
    assert set(d) <= {"schema", "meta", "records", "summary"} and {"schema", "meta", "records"} <= set(d)
    # dit measure 2: Protocol II's fields; ou cloning 2, ou gap 2: the one interval encoding (x, x_low, x_high, x_reason)
    assert d["schema"] == f"syncgap.{command}/{VERSIONS.get(command, 1)}"
    assert d["meta"]["command"] == "syncgap " + command.replace(".", " ") and d["meta"]["version"]
    assert d["records"], "no records"
    for row in d["records"]:
        for k, v in row.items():
            assert v is None or isinstance(v, (str, bool, int, float)), f"{k} = {v!r} is not flat"
            assert not (isinstance(v, float) and not math.isfinite(v)), f"{k} is NaN/inf"
            if v is None and k.endswith(("_low", "_high")) is False and not k.startswith(("fit_", "agreement_sem")):
                assert row.get(f"{k}_reason"), f"{k} is null without a reason"
    df = pd.DataFrame(d["records"])
    assert len(df) == len(d["records"]) and all(df[c].map(lambda x: not isinstance(x, (list, dict))).all()
                                                for c in df.columns)
    return df


def _run(argv, capsys) -> dict:
    assert main(argv) in (0, NOT_MEASURABLE)     # tiny runs may measure nothing: exit status 3 (issue 17)
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_gives_a_dataframe(name, capsys):
    argv = COMMANDS[name]
    command = ".".join(a for a in argv[:2] if not a.startswith("-")) if argv[0] != "theory" else f"theory.{argv[1]}"
    df = check_shape(_run(argv, capsys), command)
    if name in EXPECTED_KINDS:
        assert set(df["kind"]) == EXPECTED_KINDS[name]
    if name.startswith(("ou.gap", "dit.measure")) and "layer_a" not in name and not name.endswith(".II"):
        assert {"window", "noise", "sampler", "g"} <= set(df.columns)      # every record says its variant
        assert {"gap_steps"} <= set(df[df.kind == "gap"].dropna(axis=1, how="all").columns) or \
            df[df.kind == "gap"]["gap_steps_reason"].notna().all()


def test_ou_gap_records_hold_the_measured_gap(capsys):
    d = _run(COMMANDS["ou.gap"], capsys)
    df = pd.DataFrame(d["records"])
    gaps = df[df.kind == "gap"]
    assert list(gaps.g) == [0.0, 10.0]
    commit = df[df.kind == "commitment"]
    assert len(commit) == 4 and set(commit.feature) == {0, 1}
    agreement = df[df.kind == "agreement"]
    assert len(agreement) == 2 * 2 * agreement.t_int.nunique()          # g x feature x t_int
    assert d["summary"]["gap_log_amplitude_ratio"] == pytest.approx(math.log(20 / 4))


def test_ou_gap_reshape_puts_each_value_in_its_row():
    """The reshaping alone, on a synthetic record whose every number says where it came from."""
    from argparse import Namespace

    from syncgap.theory.intervals import interval_fields
    from syncgap.validation.cli import records
    from syncgap.validation.cli.ou.gap import gap_doc
    rec = {"amplitudes": [20.0, 4.0], "d": 2, "samples": 10, "seed": 0, "scheme": "sde", "gap_log_amplitude_ratio": 1.6,
           "results": [{"g": 0.5, "t_int": [3.0, 2.0],
                        **interval_fields("agreement", [[0.10, 0.11], [0.20, 0.21]], [[0.0, 0.01], [0.1, 0.11]],
                                          [[0.3, 0.31], [0.4, 0.41]]),
                        **interval_fields("tau_spec", [2.5, None], [2.4, None], [2.6, None]),
                        **interval_fields("tau_spec_dit_steps", [9, None], [8, None], [10, None]),
                        **interval_fields("gap", [None], [None], [None]),
                        **interval_fields("gap_dit_steps", [None], [None], [None]),
                        "onset_theory": [3.3, None], "gap_onset_theory": None}]}
    d = gap_doc(Namespace(g=[0.5]), rec)
    df = pd.DataFrame(d["records"]).set_index(["kind", "feature", "t_int"], drop=False)
    assert df.loc[("agreement", 1, 2.0), "agreement"] == 0.21 and df.loc[("agreement", 0, 3.0), "ci_high"] == 0.3
    c0, c1 = (d["records"][4 + k] for k in (0, 1))
    assert (c0["tau_spec"], c0["tau_spec_low"], c0["tau_spec_high"], c0["onset_theory"]) == (2.5, 2.4, 2.6, 3.3)
    assert c1["tau_spec"] is None and c1["tau_spec_reason"] == records.NEVER_COMMITTED
    assert c1["onset_theory"] is None and c1["onset_theory_reason"] == records.NO_ONSET
    gap = d["records"][-1]
    assert gap["kind"] == "gap" and gap["gap"] is None and gap["gap_reason"] == records.NEVER_COMMITTED
    assert gap["gap_onset_theory"] is None and gap["gap_onset_theory_reason"] == records.NO_ONSET


def test_validate_json_is_one_record_per_check(tmp_path, capsys, monkeypatch):
    from syncgap.validation import suites
    checks = [Check("fake.a", "passes", 1.0, 1.0, (0.5, 1.5), "s", True, finding="f"),
              Check("fake.b", "fails", 1.0, 3.0, (2.5, float("inf")), "s", False, finding="f")]
    monkeypatch.setitem(suites.SUITES, "fake", lambda out, *, quick, progress=None: SuiteResult("fake", checks, [], {}))
    monkeypatch.setattr("syncgap.validation.cli.validate.require_suites", lambda suites: None)
    monkeypatch.setattr("syncgap.validation.cli.validate.check_suites", lambda names: list(names))
    d = _run(["validate", "--out", str(tmp_path), "--suites", "fake", "--quiet", "--json"], capsys)
    df = check_shape(d, "validate")
    assert list(df.id) == ["fake.a", "fake.b"] and list(df.passed) == [True, False]
    assert df.ci_high.isna().tolist() == [False, True]             # an open end is null, not Infinity
    assert d["summary"]["passed"] == 1 and d["summary"]["failed"] == 1


def test_sweep_json_and_list(tmp_path, capsys):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 0.0}, "grid": {"seed": [0, 1]}}))
    out = tmp_path / "o"
    d = _run(["sweep", str(cfg), "--out", str(out), "--list", "--json"], capsys)
    assert len(check_shape(d, "sweep")) == 2
    d = _run(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--json"], capsys)
    df = check_shape(d, "sweep")
    assert sorted(df[~df.failed].seed) == [0, 1] and d["summary"]["done"] == 2


def test_envelope_refuses_nested_records():
    from syncgap.validation.cli.records import envelope
    with pytest.raises(ValueError, match="not flat"):
        envelope("x", {}, [{"a": [1, 2]}])
    assert envelope("x y", {}, [{"a": float("nan")}])["records"] == [{"a": None}]
