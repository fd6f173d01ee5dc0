"""Ctrl-C exits 130 wherever it lands (while the options are parsed, while a handler speaks, while the
folder lock is released), never -2 (death by the signal) nor a traceback; a sweep whose driver was
SIGKILLed leaves workers that end quietly instead of printing a BrokenPipeError trace."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

import syncgap.validation.cli.main as cli
from syncgap.theory.checks import InputError


def _raise(exc):
    def f(*args, **kwargs):
        raise exc
    return f


def test_ctrl_c_while_parsing_exits_130(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", _raise(KeyboardInterrupt()))
    assert cli.main(["theory", "modes"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_ctrl_c_while_releasing_the_lock_exits_130(monkeypatch):
    import syncgap.validation.sweep.lock as lock
    monkeypatch.setattr(lock, "release", _raise(KeyboardInterrupt()))
    assert cli.main(["theory", "modes", "--g", "0.5"]) == 130


def test_ctrl_c_inside_the_error_handler_exits_130(monkeypatch, capsys):
    """A second Ctrl-C while the first error's line is printed."""
    monkeypatch.setattr(cli, "check_thread_env", _raise(InputError("x")))
    monkeypatch.setattr(cli, "name_the_flag", _raise(KeyboardInterrupt()))
    assert cli.main(["theory", "modes", "--g", "0.5"]) == 130


def test_sigterm_while_parsing_exits_143(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", _raise(cli.Terminated()))
    assert cli.main(["theory", "modes"]) == 143


@settings(max_examples=12, deadline=None)
@given(where=st.sampled_from(["build_parser", "check_thread_env", "release", "name_the_flag"]),
       exc=st.sampled_from([KeyboardInterrupt, cli.Terminated]))
def test_fuzz_an_interrupt_anywhere_in_main_gives_its_status(where, exc):
    import syncgap.validation.sweep.lock as lock
    target = lock if where == "release" else cli
    real = getattr(target, where)
    setattr(target, where, _raise(exc()))
    if where == "name_the_flag":
        cli.check_thread_env, real_check = _raise(InputError("x")), cli.check_thread_env
    try:
        status = cli.main(["theory", "modes", "--g", "0.5"])
    finally:
        setattr(target, where, real)
        if where == "name_the_flag":
            cli.check_thread_env = real_check
    assert status == (143 if exc is cli.Terminated else 130)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 2.0])
def test_ctrl_c_during_validate_exits_130(tmp_path, delay):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "syncgap.validation.cli.main", "validate", "--out", str(out),
                             "--suites", "ou", "--quick"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SYNCGAP_THREADS": "1"},
                            # a test run started in the background (`make test &`) inherits SIGINT ignored, and
                            # Python keeps an ignored SIGINT: give the child the default, as a terminal would
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    end = time.monotonic() + 120
    while not (out / "progress.log").exists() and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_workers_of_a_killed_sweep_end_without_a_trace(tmp_path):
    cfg = tmp_path / "sleep.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 1.5}, "grid": {"seed": list(range(6))}}))
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "syncgap.validation.cli.main", "sweep", str(cfg), "--out", str(out),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and "[1/" not in (proc.stderr.peek() if hasattr(proc.stderr, "peek") else ""):
        if (out / "cells").is_dir() and any((out / "cells").glob("*.json")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)              # the driver dies; its two workers are mid-cell
    _, err = proc.communicate(timeout=120)       # returns once the orphaned workers closed the inherited stderr
    assert "BrokenPipeError" not in err and "Traceback" not in err, err[-2000:]
    rerun = subprocess.run([sys.executable, "-m", "syncgap.validation.cli.main", "sweep", str(cfg), "--out", str(out),
                            "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and "Traceback" not in rerun.stderr, rerun.stderr[-2000:]


PROBE = '''
import sys
import syncgap.validation.cli.main as cli

def build_parser():
    exec("raise KeyboardInterrupt")   # the interrupt lands inside code run by exec (dataclasses, numba)

cli.build_parser = build_parser
sys.exit(cli.main(["theory", "modes"]))
'''


def test_ctrl_c_inside_exec_of_a_string_exits_130_under_python_m(tmp_path):
    """CPython marks a KeyboardInterrupt that left `exec(str)` and, under `python -m`, dies by SIGINT (-2)
    at exit however the interrupt was handled; main clears the mark (seen failing as -2 without it)."""
    (tmp_path / "interrupt_probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "interrupt_probe"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 130, (proc.returncode, proc.stderr[-2000:])
    assert "interrupted" in proc.stderr
