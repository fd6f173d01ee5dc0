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
