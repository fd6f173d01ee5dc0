"""The tutorial as a Jupyter notebook: generated from docs/tutorial.md, in sync, and executed like it."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from syncgap.validation.notebook import main, markdown_cells, notebook, render

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL, NOTEBOOK = ROOT / "docs" / "tutorial.md", ROOT / "docs" / "tutorial.ipynb"


def test_notebook_is_in_sync_with_the_tutorial():
    assert NOTEBOOK.read_text(encoding="utf-8") == render(TUTORIAL, "docs/tutorial.md"), \
        "docs/tutorial.ipynb is stale: run `python -m syncgap.validation.notebook docs/tutorial.md docs/tutorial.ipynb`"
    assert main([str(TUTORIAL), str(NOTEBOOK), "--check"]) == 0


def test_every_runnable_block_becomes_one_code_cell_in_order():
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)
    runnable = [("%%bash\n" if lang == "bash" else "") + body.rstrip("\n") for lang, body in blocks
                if lang in ("bash", "python")]
    assert [src for kind, src in markdown_cells(text) if kind == "code"] == runnable
    shown = [body for lang, body in blocks if lang not in ("bash", "python")]
    prose = "\n".join(src for kind, src in markdown_cells(text) if kind == "markdown")
    assert all(body in prose for body in shown)              # text blocks stay, as shown code


def test_generic_markdown_and_valid_nbformat(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    doc = notebook("# T\n\nintro\n\n```python\nx = 1\n```\n\n```text\nnot run\n```\nend\n", "t.md")
    nb = nbformat.reads(__import__("json").dumps(doc), as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "markdown"]
    assert nb.cells[2].source == "x = 1" and "not run" in nb.cells[3].source
    assert main([str(tmp_path / "missing.md"), str(tmp_path / "x.ipynb")]) == 2


@pytest.mark.slow
def test_notebook_executes_and_produces_the_tutorials_files(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    produced = [f for ln in TUTORIAL.read_text(encoding="utf-8").splitlines() if ln.startswith("# produces:")
                for f in ln.split(":", 1)[1].split()]
    assert produced and not [f for f in produced if not (tmp_path / f).is_file()]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
