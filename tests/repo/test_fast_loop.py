"""`make test-fast` (every test not marked slow) reaches every source module: each module of theory/, ou_models/,
dit_bridge/ and validation/ is imported by a test file that holds a fast test, directly or through the package's
own module-level imports (tests/import_map.py; tests/README.md states the rule). The package's registries (suites,
sweep kinds, commands) hold functions, not names, so following imports follows them too."""
from __future__ import annotations

import ast
from pathlib import Path

from import_map import ROOT, file_imports, loaded_with, source_modules

TESTS = ROOT / "tests"
# Modules that only run-time code reaches (an import inside a function that keeps an optional dependency lazy),
# with the test file that runs them and a literal of that file that does: module -> (test file, literal). Listed
# here so the static rule stays checkable; an entry that the static rule reaches anyway is reported as stale.
# None today.
RUN_TIME: dict[str, tuple[str, str]] = {}


def _is_slow_mark(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "slow"


def has_fast_test(path: Path) -> bool:
    """True if the file defines a test function (module level or in a class) not marked slow, in a module whose
    `pytestmark` is not slow. Read from the source: the markers of this suite are set by decorators there."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_marks = [n.value for n in tree.body if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)]
    if any(_is_slow_mark(m) for v in module_marks for m in ast.walk(v)):
        return False
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    funcs += [f for c in tree.body if isinstance(c, ast.ClassDef) for f in c.body if isinstance(f, ast.FunctionDef)]
    return any(f.name.startswith("test") and not any(_is_slow_mark(m) for d in f.decorator_list for m in ast.walk(d))
               for f in funcs)


def fast_test_files() -> list[Path]:
    return [p for p in sorted(TESTS.rglob("test_*.py")) if has_fast_test(p)]


def statically_reached() -> set[str]:
    names = set().union(*(file_imports(p) for p in fast_test_files()))
    return set().union(*(loaded_with(n) for n in names))


def test_the_slow_reading_follows_the_markers(tmp_path):
    cases = {"import pytest\n@pytest.mark.slow\ndef test_a(): pass\n": False,
             "import pytest\n@pytest.mark.slow\ndef test_a(): pass\ndef test_b(): pass\n": True,
             "import pytest\npytestmark = [pytest.mark.slow]\ndef test_b(): pass\n": False,
             "import pytest\nclass TestX:\n    def test_c(self): pass\n": True,
             "def helper(): pass\n": False}
    for i, (source, fast) in enumerate(cases.items()):
        path = tmp_path / f"test_case{i}.py"
        path.write_text(source)
        assert has_fast_test(path) is fast, source


def test_every_source_module_has_a_fast_test():
    reached = statically_reached() | set(RUN_TIME)
    missing = sorted(set(source_modules()) - reached)
    assert not missing, ("no test file with a fast test imports these modules (or reaches them by module-level "
                         "imports): add a fast test, or unmark one: " + ", ".join(missing))


def test_run_time_entries_are_needed_and_name_a_fast_test_that_runs_them():
    reached = statically_reached()
    for module, (path, literal) in sorted(RUN_TIME.items()):
        assert module in source_modules(), f"{module} no longer exists: drop it from RUN_TIME"
        assert module not in reached, f"{module} is reached by imports now: drop it from RUN_TIME"
        assert has_fast_test(ROOT / path), f"{path} has no fast test"
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        words = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        words |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.keyword)}      # a string or a keyword argument
        assert literal in words, f"{path} does not use {literal!r}, so it does not run {module}"
