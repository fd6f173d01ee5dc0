"""The tutorial executed as its notebook in a fresh folder; `make docs` copies its figures into docs/.

docs/tutorial.ipynb is generated from docs/tutorial.md (validation/docs/notebook.py; test_notebook checks
that its code cells are the Markdown's blocks, in order), so executing the notebook executes the
tutorial. It runs in a fresh folder with a fresh kernel. The tests only read that folder and compare
every figure the Markdown embeds (`![..](tutorial_figures/NAME.png)`) with docs/tutorial_figures/;
`python tests/tutorial_run.py` (run by `make docs`) executes it in a temporary folder and copies those
figures into docs/, so the figures a reader sees are the ones this code draws.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL, NOTEBOOK = ROOT / "docs" / "tutorial.md", ROOT / "docs" / "tutorial.ipynb"
FIGURES = ROOT / "docs" / "tutorial_figures"
FIGURE = re.compile(r"!\[[^\]]*\]\((tutorial_figures/[^)]+\.png)\)")


def produced_files(text: str) -> list[str]:
    """Files named on the `# produces:` lines of the tutorial's blocks, relative to the run folder."""
    return [f for line in text.splitlines() if line.startswith("# produces:") for f in line.split(":", 1)[1].split()]


def embedded_figures(text: str) -> list[str]:
    """Figures the Markdown shows, relative to docs/."""
    return FIGURE.findall(text)


def execute(folder: Path):
    """Run the notebook in `folder` with a fresh kernel (the venv's `syncgap` first on PATH); returns it."""
    import nbclient
    import nbformat
    nb = nbformat.read(NOTEBOOK, as_version=4)
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with mock.patch.dict(os.environ, {"PATH": path}):
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(nb, str(folder / "tutorial.executed.ipynb"))      # the outputs, for reading after a run
    return nb


def refresh_figures(folder: Path) -> list[str]:
    """Copy each embedded figure from the run in `folder` into docs/ (only where its bytes changed)."""
    copied = []
    for rel in embedded_figures(TUTORIAL.read_text(encoding="utf-8")):
        new, old = folder / rel, ROOT / "docs" / rel
        if new.is_file() and (not old.is_file() or old.read_bytes() != new.read_bytes()):
            old.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(new, old)
            copied.append(rel)
    return copied


def main() -> int:
    """Execute the tutorial in a temporary folder and refresh docs/tutorial_figures/ from it."""
    with tempfile.TemporaryDirectory(prefix="syncgap-tutorial-") as tmp:
        execute(Path(tmp))
        copied = refresh_figures(Path(tmp))
    print(f"docs/tutorial_figures: {len(copied)} refreshed ({', '.join(copied) or 'all up to date'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
