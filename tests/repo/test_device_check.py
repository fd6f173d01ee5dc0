"""benchmarks/device_check.sh --cpu-smoke: the prepared GPU check, at toy size on a CPU, so it cannot rot.

One archive comes out, holding the benchmark JSON, Protocol I and II records, the validate report
(which says the model's weights are random) and status.json with every step's exit status.
"""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "device_check.sh"


def test_usage_errors_exit_2(tmp_path):
    for argv in ([], [str(tmp_path), "--gpu-please"]):
        r = subprocess.run(["bash", str(SCRIPT), *argv], capture_output=True, text=True)
        assert r.returncode == 2 and "usage" in r.stderr


@pytest.mark.slow
def test_cpu_smoke_writes_one_archive_with_every_step(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    r = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), "--cpu-smoke"], capture_output=True, text=True,
                       env=env, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    (archive,) = (tmp_path / "out").iterdir()
    assert archive.name.startswith("device_check-cpu-smoke-") and archive.name.endswith(".tar.gz")
    with tarfile.open(archive) as tar:
        def load(name):
            return tar.extractfile(f"./{name}").read().decode()
        status = json.loads(load("status.json"))
        assert [s["step"] for s in status["records"]] == ["bench", "protocol1", "checkpoint", "protocol2",
                                                                 "validate"]
        codes = {s["step"]: s["exit_status"] for s in status["records"]}
        assert status["summary"]["all_ok"] and codes.pop("protocol1") in (0, 3)    # 3: random weights commit nothing
        assert all(code == 0 for code in codes.values()), codes
        bench = json.loads(load("bench.json"))["summary"]
        assert 0 < bench["fraction_of_matmul_peak"] and bench["pairs_steps_per_s"] > 0
        assert (bench["p2_coupled_steps_per_g"], bench["p2_independent_steps_per_g"]) == (250, 1375)
        assert bench["precision_model"] == "fhgm" and "p2_gap_halfwidth_steps" in bench
        assert not any(isinstance(v, (dict, list)) for v in bench.values())  # flat (docs/json.md)
        p1, p2 = json.loads(load("protocol1.json")), json.loads(load("protocol2.json"))
        assert p1["meta"]["model"]["random_weights"]
        assert sorted({r["g"] for r in p1["records"] if r["kind"] == "gap"}) == [0.0, 0.5]
        assert {r["g"] for r in p2["records"]} == {0.5}
        assert p2["meta"]["model"]["timestep_embedding"] == "original"  # converted
        report = load("validate/report.md")
        assert "random weights" in report.split("## Suite")[0]  # said before any finding
        assert json.loads(load("validate/summary.json"))["notes"]
        assert "RANDOM weights" in load("NOTE.txt")
    assert not list(tmp_path.glob("syncgap-*"))  # the work folder and the checkpoint were removed
