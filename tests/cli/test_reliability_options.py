"""Every option changes the output or is refused with a reason; NaN is refused wherever a number is
needed; messages name what the user gave (the flag that set the grid, the file that holds a bad field);
a sweep far beyond a quick run asks for --yes with its estimate."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from syncgap.validation.cli.main import build_parser, main


def _exit_2(argv, capsys, words):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


@pytest.mark.parametrize("argv, words", [
    (["theory", "bounds", "--g", "0.5"], "--g does not apply to theory bounds"),
    (["theory", "modes", "--c", "5"], "--c does not apply to theory modes"),
    (["theory", "modes", "--c", "nan"], "--c does not apply to theory modes"),
    (["dit", "gains", "--g", "nan"], "NaN is not a number"),
    (["dit", "measure", "--g", "nan"], "NaN is not a number"),
    (["theory", "gap", "--Lambda", "nan"], "NaN is not a number"),
    (["ou", "gap", "--g", "0,nan"], "NaN is not a number"),
])
def test_options_that_do_not_apply_or_nan_are_argparse_errors(capsys, argv, words):
    _exit_2(argv, capsys, words)


@pytest.mark.parametrize("argv, words", [
    (["ou", "collapse", "--scheme", "ddim"], "--scheme ddim does not apply to ou collapse"),
    (["validate", "--out", "unused-r", "--suites", "dit", "--model", "tiny", "tiny"], "--model lists tiny twice"),
    (["dit", "measure", "--protocol", "II", "--bands", "5", "--g", "0", "--pairs", "2", "--steps", "4"],
     "--bands=5 is outside the allowed range [1, 4]"),
    (["dit", "measure", "--protocol", "II", "--bands", "16", "--g", "0", "--pairs", "2", "--steps", "4"],
     "--bands=16 is outside the allowed range [1, 4]"),
])
def test_meaningless_requests_refused_with_a_reason(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--quiet"] if argv[0] != "theory" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_ou_gap_with_one_step_blames_steps_not_t(capsys):
    assert main(["ou", "gap", "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--steps=1" in err and "--T" not in err, err


def test_ddpm_steps_named_when_it_sets_the_grid(capsys):
    assert main(["ou", "gap", "--ddpm-steps", "2", "--samples", "50", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--ddpm-steps=2" in err and "--steps" not in err.replace("--ddpm-steps", ""), err


def test_ou_energy_with_as_many_dimensions_as_features(capsys):
    assert main(["ou", "energy", "--d", "2", "--amplitudes", "2,1", "--samples", "200", "--boot", "20", "--json",
                 "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = {k for r in out["records"] for k in r}
    assert not any("orthogonal" in k for k in names)          # no orthogonal part exists when d = features


def test_large_sweep_asks_for_yes(tmp_path, capsys, monkeypatch):
    from syncgap.validation.cli import sweep
    monkeypatch.setattr(sweep, "LARGE_SWEEP_CELLS", 5)        # the real threshold is 100000 cells
    cfg = tmp_path / "big.json"
    cfg.write_text(json.dumps({"kind": "theory.routing", "grid": {"g": [0.1, 0.2, 0.3], "eta": [0.0, 0.1]}}))
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "runs 6 cells" in err and "writes about" in err and "--yes" in err
    assert not (tmp_path / "o" / "cells").exists()
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--yes", "--workers", "1"]) == 0


def test_documented_maximum_sweep_estimates_gigabytes():
    from syncgap.validation.cli.sweep import sweep_bytes
    from syncgap.validation.sweep.config import Cell, Sweep
    cells = tuple(Cell("theory.routing", {"g": 0.5}, "k") for _ in range(100))
    sweep = Sweep("s", cells, {}, None, None, ())
    assert sweep_bytes(sweep, 10**6) > 4 * 10**9          # one 4 KiB block per cell file at least


def test_sweep_that_cannot_fit_on_disk_is_refused_even_with_yes(tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"kind": "theory.routing", "grid": {"g": [0.1, 0.2]}}))
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--yes"]) == 2
    assert "would fill the disk" in capsys.readouterr().err


def _float_options():
    """(subcommand path, flag) of every option whose values are real numbers."""
    import argparse

    from syncgap.validation.cli.arguments import float_list, number_arg
    out = []

    def walk(parser, path):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, child in a.choices.items():
                    walk(child, path + [name])
            elif a.option_strings and a.type in (number_arg, float_list):
                out.append((tuple(path), max(a.option_strings, key=len)))
    walk(build_parser(), [])
    return out


@settings(max_examples=40, deadline=None)
@given(option=st.sampled_from(_float_options()), text=st.sampled_from(["nan", "NaN", "-nan", "1,nan", "nan,2"]))
def test_fuzz_every_real_option_refuses_nan(option, text):
    path, flag = option
    with pytest.raises(SystemExit) as e:
        main([*path, flag, text])
    assert e.value.code == 2
