"""--window/--noise/--eps on `syncgap ou gap` and `syncgap dit measure`: records carry the variant."""
import json

import pytest
from syncgap.validation.cli.main import main

from syncgap.validation.cli.output import NOT_MEASURABLE

OU = ["ou", "gap", "--d", "4", "--samples", "200", "--ddpm-steps", "60", "--boot", "10", "--quiet", "--json"]
DIT = ["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--quiet", "--n-boot", "10", "--json"]


@pytest.mark.parametrize("window", ["release", "switch-on", "throughout"])
def test_ou_gap_records_carry_the_variant(capsys, window):
    code = main(OU + ["--g", "0.5", "--window", window, "--noise", "shared", "--eps", "0.2", "--scheme", "ddim"])
    records = json.loads(capsys.readouterr().out)["records"]
    for row in records:                                   # every record says its variant
        assert (row["window"], row["noise"], row["sampler"], row["eps"], row["g"]) == (window, "shared", "ddim", 0.2, 0.5)
    (row,) = [r for r in records if r["kind"] == "gap"]
    assert "gap_steps" in row and (row["gap_steps"] is None) == ("gap_steps_reason" in row)
    if row["gap_steps"] is not None:
        assert row["gap_steps_low"] <= row["gap_steps"] <= row["gap_steps_high"]
    assert code == (0 if row["gap_steps"] is not None else NOT_MEASURABLE)   # nothing measured: exit 3 (issue 17)


@pytest.mark.parametrize("window", ["switch-on", "throughout"])
def test_dit_measure_records_carry_the_variant(capsys, window):
    assert main(DIT + ["--g", "1", "--window", window, "--noise", "shared", "--t-int", "0,1,2,3"]) == NOT_MEASURABLE
    rec = json.loads(capsys.readouterr().out)
    for r in rec["records"]:
        assert (r["window"], r["noise"], r["sampler"], r["eps"], r["g"]) == (window, "shared", "ddpm", 0.3, 1.0)
    (r,) = [r for r in rec["records"] if r["kind"] == "gap"]
    assert "gap_steps" in r and (r["gap_steps"] is None) == ("gap_steps_reason" in r)
    assert rec["meta"]["options"]["window"] == window


@pytest.mark.parametrize("argv, msg", [
    (OU + ["--window", "later"], "invalid choice"),
    (OU + ["--eps", "2"], "eps"),
    (OU + ["--layer", "A", "--g", "0.5", "--noise", "shared"], "layer B"),
    (DIT + ["--protocol", "II", "--window", "switch-on"], "Protocol I"),
])
def test_bad_variant_exits_2_with_one_line(capsys, argv, msg):
    try:
        code = main(argv)
    except SystemExit as e:   # argparse's own choices exit; InputError returns 2
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert msg in err[-1]


def test_switch_on_says_why_it_needs_t_int_below_num_steps(capsys):
    """Switch-on never reads t_int = num_steps (never coupled): a grid left with < 4 values is refused, naming why."""
    assert main(DIT + ["--g", "1", "--window", "switch-on", "--t-int", "0,1,2,4"]) == 2
    assert "never coupled" in capsys.readouterr().err


def test_the_variant_flags_are_declared_once():
    """--window and --noise are added in one place (validation/cli/variants.py) for ou gap and dit measure alike."""
    from pathlib import Path

    from syncgap.validation.cli.main import build_parser
    root = Path(__file__).resolve().parents[2] / "validation" / "cli"
    declared = {flag: [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py"))
                       if f'add_argument("{flag}"' in p.read_text(encoding="utf-8")] for flag in ("--window", "--noise")}
    assert declared == {"--window": ["variants.py"], "--noise": ["variants.py"]}
    parser = build_parser()
    commands = [parser._subparsers._group_actions[0].choices[c]._subparsers._group_actions[0].choices[s]
                for c, s in (("ou", "gap"), ("dit", "measure"))]
    for flag in ("--window", "--noise", "--eps"):
        actions = [next(a for a in p._actions if flag in a.option_strings) for p in commands]
        assert actions[0].choices == actions[1].choices
