"""`syncgap dit measure` without --g: the g -> 0 gap (cloning) on the model's own units, with its interval
(validation/cli/dit/measure_units.py); why a unit never commits; the release window's g = 0 says why it has no gap."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from syncgap.validation.cli.dit import measure_units
from syncgap.validation.cli.main import main

SMALL = ["--pairs", "8", "--n-boot", "50", "--quiet"]


def _gap(text: str) -> tuple[float, float, float]:
    m = re.search(r"gap dct\d\d - dct\d\d: (\S+) \[(\S+), (\S+)\] sampler steps", text)
    assert m, text
    return tuple(float(x) for x in m.groups())


@pytest.mark.slow
def test_fhgm_features_give_a_finite_gap_with_an_interval(capsys):
    assert main(["dit", "measure", *SMALL]) == 0
    out = capsys.readouterr().out
    gap, lo, hi = _gap(out)
    assert all(math.isfinite(x) for x in (gap, lo, hi)) and lo <= gap <= hi
    assert "units: features" in out and "dct01" in out and "pool" not in out   # the FHGM's own units, no image mean


@pytest.mark.slow
def test_json_records_per_unit_and_the_gap_in_the_summary(capsys):
    assert main(["dit", "measure", "--features", "dct01,dct67", *SMALL, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "syncgap.dit.measure/2"           # Protocol I's records, kind by kind
    assert [r["unit"] for r in doc["records"] if r["kind"] == "commitment"] == ["dct01", "dct67"]
    gap = next(r for r in doc["records"] if r["kind"] == "gap")
    assert gap["coarse"] == "dct01" and gap["fine"] == "dct67" and gap["window"] == "clone" and gap["g"] == 0.0
    assert gap["gap_low"] <= gap["gap"] <= gap["gap_high"]


@pytest.mark.parametrize("argv, words", [
    (["--features", "dct01,dct99"], "dct99 not among"),
    (["--features", "dct01"], "at least 2 features"),
    (["--features", "dct01,dct67", "--scales", "2,4"], "give one of them"),
    (["--model", "digits", "--features", "dct01,dct67"], "no known features"),
    (["--scales", "2,99"], "--scales"),
    (["--sampler", "ddim"], "ddpm"),
])
def test_bad_units_exit_2_naming_the_argument(argv, words, capsys):
    assert main(["dit", "measure", *argv, "--pairs", "2", "--quiet"]) == 2
    assert words in capsys.readouterr().err


def test_never_reason_reads_the_curve():
    flat_low = np.full(11, 0.52)
    flat_high = np.full(11, 0.98)
    rising_late = np.r_[np.full(9, 0.5), 0.6, 0.7]
    assert "no such structure" in measure_units.never_reason(flat_low, 0.5, "dct67", [])
    assert "before the first sampled step" in measure_units.never_reason(flat_high, 0.5, "dct01", [])
    assert "more --steps" in measure_units.never_reason(rising_late, 0.5, "dct34", [])
    assert "no such structure in the data the model generates" in measure_units.never_reason(flat_high, 0.0, "pool 1",
                                                                                          ["pool 1"])


def test_release_at_g0_says_it_has_no_g0_limit(capsys):
    code = main(["dit", "measure", "--model", "tiny", "--window", "release", "--g", "0", "--pairs", "2", "--steps",
                 "4", "--t-int", "0,1,2,4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "no g -> 0" in err and "too few --steps" not in err


@pytest.mark.slow
def test_the_first_command_without_options_gives_a_number(capsys):
    assert main(["dit", "measure", "--quiet"]) == 0
    gap, lo, hi = _gap(capsys.readouterr().out)
    assert lo <= gap <= hi and hi - lo < 10        # bounded: 48 pairs read a gap to a few steps


def test_quick_and_first_command_timings_come_from_one_measured_source(capsys):
    """The help texts, the README and the tutorial quote the timings of benchmarks/RESULTS.md's measured section."""
    from pathlib import Path

    from syncgap.validation.cli.validate import QUICK_TIME
    root = Path(__file__).resolve().parents[2]
    measured = (root / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").split("## First-run timings")[1]
    assert QUICK_TIME in measured and measure_units.FIRST_TIME in measured
    readme = (root / "README.md").read_text(encoding="utf-8")
    quick_rows = [ln for ln in readme.splitlines() if "validate --quick`" in ln and ln.startswith("|")]
    assert quick_rows and all(QUICK_TIME in ln for ln in quick_rows)
    assert measure_units.FIRST_TIME in readme
    for argv, phrase in ((["validate", "--help"], QUICK_TIME), (["dit", "measure", "--help"], measure_units.FIRST_TIME)):
        with pytest.raises(SystemExit):
            main(argv)
        assert phrase in " ".join(capsys.readouterr().out.split())
    tutorial = (root / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "six lectures" in tutorial and tutorial.count("\n## ") - 2 == 6   # conventions and exercises aside


def test_radial_frequency_orders_patterns_by_frequency():
    from syncgap.dit_bridge.modes import radial_frequency
    y, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    low, high = (np.cos(np.pi * (2 * x + 1) * f / 16)[None] for f in (1, 6))
    assert radial_frequency(low) < radial_frequency(high)
    assert radial_frequency(np.ones((1, 8, 8))) == 0.0


def test_principal_directions_recover_a_planted_direction():
    from syncgap.dit_bridge.modes import principal_directions
    rng = np.random.default_rng(0)
    planted = rng.standard_normal(32)
    planted /= np.linalg.norm(planted)
    x = 5.0 * rng.standard_normal((400, 1)) * planted + 0.3 * rng.standard_normal((400, 32)) + 2.0
    mean, dirs, share = principal_directions(x, 3)
    assert abs(dirs[0] @ planted) > 0.99 and share[0] > 0.8
    assert np.allclose(dirs @ dirs.T, np.eye(3), atol=1e-10) and np.allclose(mean, x.mean(0))


def test_empirical_modes_are_cached_and_measured(tmp_path, monkeypatch, capsys):
    from syncgap.dit_bridge.modes import empirical_modes
    from syncgap.dit_bridge.registry import load_model
    monkeypatch.setenv("SYNCGAP_CACHE", str(tmp_path))
    rec = load_model("tiny")
    first = empirical_modes(rec, 3, n_samples=16, num_steps=4)
    again = empirical_modes(rec, 3, n_samples=16, num_steps=4)
    assert not first["cached"] and again["cached"] and np.array_equal(first["patterns"], again["patterns"])
    assert list(first["frequency"]) == sorted(first["frequency"]) and first["space"] in ("latent", "pixel")
    code = main(["dit", "measure", "--model", "tiny", "--modes", "3", "--pairs", "4", "--steps", "8", "--t-int",
                 "0,2,4,6,8", "--n-boot", "20", "--quiet", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 3) and [r["unit"] for r in doc["records"] if r["kind"] == "commitment"] == ["mode1", "mode2",
                                                                                                 "mode3"]
    assert doc["meta"]["options"]["family"] == "modes" and doc["meta"]["options"]["space"] in ("latent", "pixel")
