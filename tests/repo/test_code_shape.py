"""The shape of the code: files readable in one sitting, no private names imported across modules,
no aliases for the package's own modules (docs: issue "one source per quantity")."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("theory", "ou_models", "dit_bridge", "validation")
MAX_LINES = 450


def _sources(folders=PACKAGES):
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_scan_sees_the_packages():
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert {"theory/gated.py", "ou_models/engine.py", "dit_bridge/coupling.py", "validation/store.py"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_source_file_is_at_most_450_lines(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (cap {MAX_LINES}): split it by job"


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            own = node.level > 0 or (node.module or "").startswith("syncgap")
            if own:
                yield node


@pytest.mark.parametrize("path", _sources(PACKAGES + ("benchmarks",)), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_private_name_or_module_alias_imported_from_the_package(path):
    for node in _imports(path):
        for alias in node.names:
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert not (alias.name.startswith("_") and not alias.name.startswith("__")), \
                f"{where} imports the private name {alias.name} from another module: make it public or move it"
            if alias.asname is not None and alias.name.islower():
                assert len(alias.asname) > 3, f"{where} imports {alias.name} as {alias.asname}: use the module's name"
