"""Fixtures and markers shared by every test folder (tests/README.md)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# As the `syncgap` script does (validation/cli/main.py): OpenMP threads sleep between parallel regions instead
# of spinning, which starves the cores when tests, torch and numba share a small machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# As `syncgap validate` does before its DiT cells run in forked workers (validation/cell_workers.py): a fork-safe
# Numba threading layer, so a test that forks workers can follow one that ran a parallel Numba kernel.
os.environ.setdefault("NUMBA_THREADING_LAYER", "forksafe")
# Empirical modes (dit_bridge/modes.py) are cached under $SYNCGAP_CACHE: the tests keep theirs out of the home folder.
if "SYNCGAP_CACHE" not in os.environ:
    import tempfile
    os.environ["SYNCGAP_CACHE"] = tempfile.mkdtemp(prefix="syncgap-test-cache-")

# The helpers beside this file (tutorial_run.py, import_map.py) and the test files that others reuse
# (test_dit_checkpoints, test_zoo_train, test_report_html) import as top-level modules from every folder,
# whichever file pytest collects first; file names are unique across the folders.
TESTS = Path(__file__).resolve().parent
TEST_FOLDERS = [TESTS, *sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))]
for _folder in TEST_FOLDERS:
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from import_map import library_marks  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Mark every test `torch`, `numba`, `dask` by what its file loads or drives (import_map.library_marks)."""
    marks = {}
    for item in items:
        path = item.path
        if path not in marks:
            marks[path] = sorted(library_marks(path))
        for name in marks[path]:
            item.add_marker(name)


@pytest.fixture(scope="session")
def executed_tutorial(tmp_path_factory):
    """(run folder, executed notebook) of docs/tutorial.ipynb, run once per session in a temporary folder
    (tests/tutorial_run.py). Nothing is copied into docs/: `make docs` does that."""
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import tutorial_run
    folder = tmp_path_factory.mktemp("tutorial")
    return folder, tutorial_run.execute(folder)
