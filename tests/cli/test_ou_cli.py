"""`syncgap ou` command line: JSON records and clear errors (exit status 2)."""
import json

import pytest

from syncgap.validation.cli.main import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cloning_json(capsys):
    d = _json(capsys, ["ou", "cloning", "--d", "64", "--samples", "200", "--steps", "200", "--T", "6",
                       "--boot", "50", "--seed", "1", "--quiet", "--json"])
    rows = d["records"]
    for key in ("t_branch", "agreement", "ci_low", "ci_high"):
        assert all(key in row for row in rows)
    assert len(rows) >= 4
    assert all(row["ci_low"] <= row["agreement"] <= row["ci_high"] for row in rows)
    assert d["summary"]["t_S_theory"] == pytest.approx(0.5 * __import__("math").log(65.0))
    assert rows[-1]["agreement"] > 0.9 and rows[0]["agreement"] < 0.75   # late branch: same class; early: chance


@pytest.mark.slow
def test_gap_and_collapse_json(capsys):
    r = _json(capsys, ["ou", "gap", "--d", "3", "--samples", "200", "--steps", "150", "--T", "5", "--g", "0,10",
                       "--boot", "30", "--quiet", "--json"])
    assert [row["g"] for row in r["records"] if row["kind"] == "gap"] == [0.0, 10.0]
    assert sum(row["kind"] == "commitment" and row["g"] == 10.0 for row in r["records"]) == 2
    r = _json(capsys, ["ou", "collapse", "--d", "4", "--n-train", "20", "--samples", "50", "--steps", "100",
                       "--boot", "30", "--quiet", "--json"])
    assert r["summary"]["t_collapse_theory"] > 0
    median = next(row for row in r["records"] if row["statistic"] == "median")
    assert {"t_lock", "t_lock_low", "t_lock_high"} <= set(median)
    r = _json(capsys, ["ou", "energy", "--d", "3", "--samples", "50", "--steps", "70", "--every", "10",
                       "--boot", "20", "--quiet", "--json"])
    assert len({row["t"] for row in r["records"]}) == 8 and len(r["records"]) == 8 * 3
    assert all("rate_drift" in row for row in r["records"])


@pytest.mark.parametrize("argv", [
    ["ou", "cloning", "--samples", "-5", "--json"],
    ["ou", "cloning", "--d", "0", "--json"],
    ["ou", "gap", "--g", "-0.5", "--samples", "50", "--json"],
    ["ou", "cloning", "--T", "-1", "--json"],
    ["ou", "collapse", "--n-train", "1", "--json"],
])
def test_bad_input_exits_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_gap_sweep_resumes_from_out_folder(capsys, tmp_path):
    argv = ["ou", "gap", "--d", "3", "--samples", "100", "--steps", "100", "--T", "5", "--boot", "20",
            "--quiet", "--json", "--out", str(tmp_path)]
    first = _json(capsys, argv + ["--g", "10"])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    second = _json(capsys, argv + ["--g", "10,0"])
    assert [row for row in second["records"] if row["g"] == 10.0] == first["records"]   # reused, not recomputed
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == len(lines) + 1
    assert main(argv[:-2] + ["--out", str(tmp_path), "--samples", "120"]) == 2   # other options: refused
