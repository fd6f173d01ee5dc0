"""A command whose optional library is missing names the extra to install, in one line, exit 2.

The missing library is simulated in a subprocess with `sys.modules[name] = None`, which makes
every `import name` raise ModuleNotFoundError exactly as on a machine without it.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from syncgap.validation.cli.extras import EXTRA_OF_MODULE, missing_extra_message

PYPROJECT_EXTRAS = ("ou", "dit", "validation", "sweep")


def _run_without(modules: tuple[str, ...], argv: list[str], tmp_path) -> subprocess.CompletedProcess:
    code = ("import sys\n"
            f"for name in {modules!r}: sys.modules[name] = None\n"
            "from syncgap.validation.cli.main import main\n"
            f"sys.exit(main({argv!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)


@pytest.mark.parametrize("missing, argv, extra", [
    (("numba",), ["ou", "cloning"], "ou"),
    (("numba",), ["ou", "gap"], "ou"),
    (("torch",), ["dit", "measure", "--model", "fhgm"], "dit"),
    (("torch",), ["dit", "gains", "--model", "fhgm", "--step", "10"], "dit"),
    pytest.param(("diffusers",), ["dit", "measure"], "dit", marks=pytest.mark.slow),   # imports torch first
    (("torch",), ["validate", "--out", "report", "--quick"], "dit"),
    (("numba",), ["validate", "--out", "report", "--suites", "ou"], "ou"),
])
def test_missing_library_names_its_extra(missing, argv, extra, tmp_path):
    out = _run_without(missing, argv, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"needs {missing[0]}, which is not installed: pip install 'syncgap[{extra}]'" in lines[0]
    assert out.stdout == ""
    assert not (tmp_path / "report").exists() or not any((tmp_path / "report").iterdir())


@pytest.mark.slow
def test_theory_runs_with_neither_numba_nor_torch(tmp_path):
    out = _run_without(("numba", "torch", "diffusers", "matplotlib"),
                       ["theory", "gap", "--g", "0.5", "--Lambda", "16", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"gap"' in out.stdout


def test_every_named_extra_exists_in_pyproject():
    assert set(EXTRA_OF_MODULE.values()) <= set(PYPROJECT_EXTRAS)
    assert missing_extra_message("torch.nn") == "needs torch, which is not installed: pip install 'syncgap[dit]'"
    assert missing_extra_message("yaml") is None          # not an extra: the error is not disguised
