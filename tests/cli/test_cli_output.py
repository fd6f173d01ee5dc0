"""Defaults and printed tables that do not mislead: dit measure runs a trained model unless told
otherwise, and a commitment that never happened prints as 'never' with its meaning, never as nan."""
from __future__ import annotations

import pytest
from syncgap.validation.cli.main import build_parser, main

from syncgap.validation.cli.output import NOT_MEASURABLE
from syncgap.validation.cli.records import NEVER_COMMITTED


def test_dit_measure_defaults_to_the_trained_fhgm_model():
    assert build_parser().parse_args(["dit", "measure"]).model == "fhgm"


def test_never_committed_prints_as_such(capsys):
    # the random tiny model's agreement does not rise over 4 steps: no commitment at any scale
    argv = ["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--t-int", "0,1,2,3,4",
            "--n-boot", "10", "--g", "0", "--quiet"]
    assert main(argv) == NOT_MEASURABLE          # nothing committed: the documented exit status 3 (issue 17)
    out = capsys.readouterr().out
    assert "nan" not in out.lower().replace("n/a", "")
    assert "never" in out.splitlines()[1] and NEVER_COMMITTED in out


@pytest.mark.slow
def test_ou_gap_at_g0_prints_never(capsys):
    # Protocol I at g = 0 couples nothing: its agreement curve is flat, so no feature commits
    assert main(["ou", "gap", "--d", "3", "--samples", "60", "--steps", "60", "--boot", "10", "--g", "0",
                 "--quiet"]) == NOT_MEASURABLE   # no feature commits at g = 0: exit status 3 (issue 17)
    out = capsys.readouterr().out
    assert "never" in out.splitlines()[1] and "nan" not in out
