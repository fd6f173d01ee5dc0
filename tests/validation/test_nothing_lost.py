"""Nothing lost, nothing stuck (issue 17): a killed pool worker fails only its own cell, SIGTERM stops a
run like Ctrl-C (finished results kept, one line, status 143), and two runs cannot share one --out."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncgap.validation.cli.main import main
from syncgap.validation.sweep import expand, run_sweep
from syncgap.validation.sweep.lock import LOCK_NAME


def kill_cell(x, marker):
    """Its own worker process is SIGKILLed for x == 3 until `marker` exists; else x^2 after a short nap."""
    if x == 3 and not os.path.exists(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return {"x2": x * x}


@pytest.mark.slow
def test_a_killed_pool_worker_fails_only_its_cell_and_the_rerun_finishes_it(tmp_path):
    marker = tmp_path / "fixed"
    sweep = expand({"kind": "test_nothing_lost:kill_cell", "base": {"marker": str(marker)},
                    "grid": {"x": list(range(8))}}, allow_code=True)
    s1 = run_sweep(sweep, tmp_path / "o", workers=2)
    assert s1.runner == "process-pool" and s1.done == 7 and len(s1.failed) == 1
    assert s1.failed[0]["config"]["x"] == 3 and "WorkerDied" in s1.failed[0]["error"]
    marker.touch()
    s2 = run_sweep(sweep, tmp_path / "o", workers=2)
    assert s2.complete and (s2.skipped, s2.done) == (7, 1)


def _config(tmp_path, cells, seconds):
    cfg = tmp_path / "sleep.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": seconds}, "grid": {"seed": list(range(cells))}}))
    return cfg


def _start(args, tmp_path):
    return subprocess.Popen([sys.executable, "-m", "syncgap.validation.cli.main", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _cells(out):
    return len(list((out / "cells").glob("*.json"))) if (out / "cells").is_dir() else 0


@pytest.mark.slow
def test_sigterm_keeps_finished_cells_says_so_and_exits_143(tmp_path):
    cfg, out = _config(tmp_path, 12, 0.3), tmp_path / "o"
    for workers in ("1", "2"):
        proc = _start(["sweep", str(cfg), "--out", str(out), "--workers", workers], tmp_path)
        before = _cells(out)
        assert _wait_for(lambda: _cells(out) >= before + 2), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM == 143, err
        assert err.strip().splitlines()[-1].startswith("syncgap sweep: terminated (SIGTERM)") and "Traceback" not in err
        assert _cells(out) >= before + 2
    kept = _cells(out)
    assert main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--json"]) == 0
    assert _cells(out) == 12 and kept < 12


@pytest.mark.slow
def test_a_second_run_on_the_same_out_refuses_in_one_line(tmp_path, capsys):
    cfg, out = _config(tmp_path, 6, 0.5), tmp_path / "o"
    first = _start(["sweep", str(cfg), "--out", str(out), "--workers", "1"], tmp_path)
    try:
        assert _wait_for(lambda: _cells(out) >= 1)
        assert (out / LOCK_NAME).read_text() == str(first.pid)
        for argv in (["sweep", str(cfg), "--out", str(out)],
                     ["ou", "gap", "--g", "0", "--samples", "50", "--steps", "20", "--out", str(out)]):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "in use by another run" in err[0] and f"pid {first.pid}" in err[0], err
    finally:
        first.communicate(timeout=120)
    assert first.returncode == 0
    assert main(["sweep", str(cfg), "--out", str(out), "--workers", "1"]) == 0     # the lock went with the run
    assert Path(out / "results.json").is_file()
