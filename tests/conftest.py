"""Fixtures shared by test files."""
from __future__ import annotations

import os

import pytest

# As the `syncgap` script does (validation/cli/main.py): OpenMP threads sleep between parallel regions instead
# of spinning, which starves the cores when tests, torch and numba share a small machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Empirical modes (dit_bridge/modes.py) are cached under $SYNCGAP_CACHE: the tests keep theirs out of the home folder.
if "SYNCGAP_CACHE" not in os.environ:
    import tempfile
    os.environ["SYNCGAP_CACHE"] = tempfile.mkdtemp(prefix="syncgap-test-cache-")


@pytest.fixture(scope="session")
def executed_tutorial(tmp_path_factory):
    """(run folder, executed notebook) of docs/tutorial.ipynb, run once per session (tests/tutorial_run.py);
    its figures are copied back into docs/tutorial_figures/."""
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import tutorial_run
    folder = tmp_path_factory.mktemp("tutorial")
    nb = tutorial_run.execute(folder)
    tutorial_run.refresh_figures(folder)
    return folder, nb
