"""Packaging: one import name (`syncgap.*`), nothing generic in site-packages, no bare imports."""
from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("theory", "ou_models", "dit_bridge", "validation")


def _python_files():
    for folder in (*PACKAGES, "tests", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


def test_code_imports_the_packages_only_through_syncgap():
    bare = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            bare += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in PACKAGES]
    assert not bare, "bare imports (use syncgap.<package>): " + ", ".join(bare)


def test_nothing_puts_the_repository_root_on_sys_path():
    calls = ("sys.path." + "insert", "sys.path." + "append")       # spelled apart: this file is scanned too
    offenders = [str(p.relative_to(ROOT)) for p in _python_files() if any(c in p.read_text() for c in calls)]
    assert offenders == ["tests/conftest.py"]                       # the test folders only, checked here:
    from conftest import TEST_FOLDERS
    assert TEST_FOLDERS and all(f.is_relative_to(ROOT / "tests") for f in TEST_FOLDERS)
    assert "pythonpath" not in (ROOT / "pyproject.toml").read_text()


def test_the_imported_package_is_this_checkout():
    import syncgap.theory
    assert Path(syncgap.theory.__file__).resolve().parent == ROOT / "theory"
    assert "theory" not in sys.modules and "validation" not in sys.modules


@pytest.mark.slow
def test_wheel_installs_only_the_syncgap_name(tmp_path):
    """A built wheel holds `syncgap/...` and dist-info only, with the shipped zoo weights."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("syncgap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"syncgap", next(t for t in tops if t.endswith(".dist-info"))}
    assert {f"syncgap/{p}/__init__.py" for p in PACKAGES} <= set(names)
    assert {f"syncgap/{p}/py.typed" for p in PACKAGES} <= set(names)        # PEP 561, each subpackage
    assert "syncgap/__init__.py" not in names          # a namespace package: nothing to collide with
    for model in ("fhgm", "digits"):
        assert f"syncgap/dit_bridge/zoo/{model}/diffusion_pytorch_model.safetensors" in names
