"""Every argument of every `syncgap` subcommand is documented, and every subcommand offers --json."""
import argparse

from syncgap.validation.cli.main import build_parser


def _leaves(parser, path=("syncgap",)):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for a in subs:
        for name, sp in a.choices.items():
            yield from _leaves(sp, path + (name,))


def test_every_argument_has_help_and_every_command_has_json():
    missing, no_json = [], []
    for path, parser in _leaves(build_parser()):
        opts = {s for a in parser._actions for s in a.option_strings}
        if "--json" not in opts:
            no_json.append(" ".join(path))
        for a in parser._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            if not a.help or len(a.help) < 12:
                missing.append(f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}")
    assert not missing, f"arguments without a real help text: {missing}"
    assert not no_json, f"commands without --json: {no_json}"


# ------------------------------------------------------------------ help and checks agree (issue 17)
import re  # noqa: E402

import pytest  # noqa: E402

from syncgap.theory.checks import InputError  # noqa: E402
from syncgap.validation.cli.arguments import IntRange  # noqa: E402
from syncgap.validation.cli.main import main  # noqa: E402

_RANGE_WORDS = re.compile(r"integer\s*>=|integers?\s+in\s+\[|integer\s+\d+\s*\.\.\s*\d+|\d+\s*\.\.\s*\d+")


def _help_of(parser, action):
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=10_000, max_help_position=10_000)
    text = parser.format_help()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(", ".join(action.option_strings)))
    return " ".join(line.split())


def test_every_integer_range_in_help_is_the_check_that_enforces_it():
    """An integer option states a range in its help only through its IntRange type (`%(type)s`): the
    object that refuses a value outside the range is the one that writes the range into the help."""
    untyped, unstated = [], []
    for path, parser in _leaves(build_parser()):
        for a in parser._actions:
            if not a.option_strings or isinstance(a, argparse._HelpAction):
                continue
            where = f"{' '.join(path)} {a.option_strings[-1]}"
            text = _help_of(parser, a)
            if isinstance(a.type, IntRange):
                if str(a.type) not in text:
                    unstated.append(where)
                lo, flag = a.type.lo, a.option_strings[-1]
                parsed = a.type(str(lo - 1))
                with pytest.raises(InputError, match=rf"^{flag}={lo - 1} is outside the allowed range \[{lo}, "):
                    a.type.check(flag, parsed)
                a.type.check(flag, a.type(str(lo)))
                if a.type.hi is not None:
                    with pytest.raises(InputError, match=rf", {a.type.hi}\]$"):
                        a.type.check(flag, a.type(str(a.type.hi + 1)))
            elif a.type in (int, None) and _RANGE_WORDS.search(a.help or ""):
                untyped.append(f"{where}: {a.help}")
    assert not unstated, f"IntRange options whose help does not show the range: {unstated}"
    assert not untyped, f"integer ranges written by hand in the help (use IntRange and %(type)s): {untyped}"


@pytest.mark.parametrize("argv, flag, needle", [
    (["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "1", "--g", "0", "--quiet"], "--pairs", ">= 2"),
    (["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--t-int", "0,1,2", "--g", "0", "--quiet"],
     "--t-int", "at least 4"),
    (["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--t-int", "0,1,2,9", "--g", "0", "--quiet"],
     "--t-int", "[0, 4]"),
    (["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "1", "--protocol", "II", "--bands", "99",
      "--g", "0", "--quiet"], "--bands", "allowed range"),
    (["ou", "cloning", "--steps", "3", "--samples", "20", "--d", "2", "--quiet"], "--steps", "too coarse"),
    (["theory", "gap", "--coupling", "all_to_all", "--K", "1025"], "--K", "[2, 1024]"),
    (["dit", "measure", "--layers", "-1"], "--layers", "allowed range"),
])
def test_dependent_ranges_are_stated_in_help_and_named_in_errors(argv, flag, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and flag in err[0] and needle in err[0], err
    assert "n_bands" not in err[0] and "--T" not in err[0]
    for path, parser in _leaves(build_parser()):
        if list(path[1:]) == argv[:len(path) - 1]:
            action = next(a for a in parser._actions if flag in a.option_strings)
            if needle in (">= 2", "at least 4"):
                assert needle in _help_of(parser, action), (flag, needle)


def test_negative_values_in_comma_lists_are_values(capsys):
    assert main(["theory", "gap", "--g", "-0.3,0.3", "--json"]) == 0
    import json
    doc = json.loads(capsys.readouterr().out)
    assert [r["g"] for r in doc["records"]] == [-0.3, 0.3]
    assert not any(k.startswith("_") for k in doc["meta"]["options"])      # no parser internals in meta
    assert main(["theory", "speciation", "--g", "-.5", "--json"]) == 0
