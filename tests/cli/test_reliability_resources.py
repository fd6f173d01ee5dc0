"""Resource limits are checked up front or met with one line, never a traceback: arrays larger than the
machine's memory are refused with the estimate (exit 2), integers of hundreds of digits give the collapse
time computed in log space, and a full or read-only disk or stdout (ENOSPC, EIO, EROFS) ends the run with
one line and exit 1, finished results kept (validation/cli/main.py, validation/store.py)."""
from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from syncgap.theory.base import collapse_time
from syncgap.theory.checks import InputError
from syncgap.validation import suites
from syncgap.validation.cli.main import main
from syncgap.validation.store import compute_cell


def test_ou_collapse_too_large_for_memory_is_refused_with_the_estimate(capsys):
    assert main(["ou", "collapse", "--n-train", "100000000", "--d", "32", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs about 23.8 GiB" in err and "available" in err


def test_ou_paths_refused_when_memory_is_short(monkeypatch, capsys):
    monkeypatch.setattr("syncgap.theory.resources.available_memory", lambda: 10**5)
    assert main(["ou", "cloning", "--samples", "2000", "--quiet"]) == 2
    assert "needs about" in capsys.readouterr().err


@pytest.mark.parametrize("digits, d", [(200, 1), (400, 1), (160, 1), (1000, 7)])
def test_collapse_time_of_huge_n_in_log_space(digits, d):
    n = 10 ** digits
    exact = 0.5 * mpmath.log1p(1 / (mpmath.mpf(n) ** (mpmath.mpf(2) / d) - 1))
    got = collapse_time(n, d, 1.0)
    assert got == pytest.approx(float(exact), rel=1e-12, abs=1e-300)


def test_theory_collapse_with_a_200_digit_n(capsys):
    assert main(["theory", "collapse", "--n", "1" + "0" * 400, "--d", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    assert rows and all(0.0 <= r["t_C"] < 1e-300 for r in rows)


@pytest.fixture
def disk_full_after(monkeypatch):
    """disk_full_after(k): the (k+1)-th and later fsync of a store write raise OSError(ENOSPC)."""
    real = os.fsync

    def arm(k):
        count = [0]

        def fsync(fd):
            count[0] += 1
            if count[0] > k:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd)
        monkeypatch.setattr(os, "fsync", fsync)
    return arm


def _one_line_exit_1(capsys, argv, words="No space left on device"):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and words in err and "a rerun resumes" in err, err
    return err.splitlines()[-1]


def test_disk_full_in_ou_gap_out(tmp_path, capsys, disk_full_after):
    disk_full_after(0)
    line = _one_line_exit_1(capsys, ["ou", "gap", "--g", "0,1", "--samples", "50", "--steps", "60", "--boot", "20",
                                     "--out", str(tmp_path / "o"), "--quiet"])
    assert "options.json" in line


def test_disk_full_on_a_row_of_ou_gap_names_metrics_jsonl(tmp_path, capsys, disk_full_after):
    disk_full_after(2)                 # options.json (file, folder) is written; the first row's append fails
    line = _one_line_exit_1(capsys, ["ou", "gap", "--g", "0,1", "--samples", "50", "--steps", "60", "--boot", "20",
                                     "--out", str(tmp_path / "o"), "--quiet"])
    assert "metrics.jsonl" in line


def test_disk_full_in_sweep_keeps_finished_cells(tmp_path, capsys, disk_full_after):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"kind": "theory.routing", "grid": {"g": [0.1, 0.2, 0.3, 0.4, 0.5]}}))
    disk_full_after(3)
    _one_line_exit_1(capsys, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "1"])
    kept = list((tmp_path / "o" / "cells").glob("*.json"))
    assert 1 <= len(kept) < 5


def _writing_suite(n_cells):
    def suite(out_dir, *, quick, progress=None):
        for i in range(n_cells):
            compute_cell(out_dir / "fake" / f"cell{i}.json", {"i": i}, lambda i=i: {"x": float(i)})
        raise AssertionError("unreached: the disk is full before")
    return suite


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(0, 5), err=st.sampled_from([errno.ENOSPC, errno.EIO, errno.EROFS]))
def test_fuzz_storage_error_at_any_write_of_validate(tmp_path_factory, monkeypatch, capsys, k, err):
    """The disk fails at the (k+1)-th write of a report: one line, exit 1, the cells written before kept."""
    real_fsync = os.fsync
    count = [0]

    def fsync(fd):       # counts the writes of files (a folder's fsync after a rename is best effort)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            count[0] += 1
            if count[0] > k:
                raise OSError(err, os.strerror(err))
        return real_fsync(fd)
    monkeypatch.setitem(suites.SUITES, "fake", _writing_suite(8))
    out = tmp_path_factory.mktemp("r")
    monkeypatch.setattr(os, "fsync", fsync)
    try:
        status = main(["validate", "--out", str(out), "--suites", "fake", "--quiet"])
    finally:
        monkeypatch.setattr(os, "fsync", real_fsync)
    err_text = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err_text and os.strerror(err) in err_text
    assert len(list((out / "fake").glob("cell*.json"))) == k


def test_full_stdout_is_one_line_and_exit_1():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "syncgap.validation.cli.main", "theory", "modes", "--g", "0.5"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "No space left" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 10**600), d=st.integers(1, 10**6), sigma=st.floats(1e-3, 1e3))
def test_fuzz_collapse_time_finite_for_any_integer_sizes(n, d, sigma):
    try:
        t = collapse_time(n, d, sigma)
    except InputError:
        return
    assert 0.0 <= t < float("inf")
