"""The tutorial as a Jupyter notebook: generated from docs/tutorial.md, in sync, executed (which executes the
tutorial: its code cells are the Markdown's blocks), and the source of every figure the tutorial shows."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncgap.validation.docs.notebook import main, markdown_cells, notebook, render
from tutorial_run import FIGURES, embedded_figures, produced_files

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL, NOTEBOOK = ROOT / "docs" / "tutorial.md", ROOT / "docs" / "tutorial.ipynb"


def test_notebook_is_in_sync_with_the_tutorial():
    assert NOTEBOOK.read_text(encoding="utf-8") == render(TUTORIAL, "docs/tutorial.md"), \
        "docs/tutorial.ipynb is stale: run `python -m syncgap.validation.docs.notebook docs/tutorial.md docs/tutorial.ipynb`"
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
def test_notebook_executes_and_produces_the_tutorials_files(executed_tutorial):
    folder, nb = executed_tutorial                  # tests/tutorial_run.py: a fresh kernel in a fresh folder
    produced = produced_files(TUTORIAL.read_text(encoding="utf-8"))
    assert produced and not [f for f in produced if not (folder / f).is_file()]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert sum(c.cell_type == "code" and "assert " in "".join(c.source) for c in nb.cells) >= 5   # the exercises ran


def test_every_embedded_figure_is_produced_by_a_block_and_every_produced_figure_embedded():
    text = TUTORIAL.read_text(encoding="utf-8")
    shown = embedded_figures(text)
    made = [f for f in produced_files(text) if f.startswith("tutorial_figures/") and f.endswith(".png")]
    assert shown and len(set(shown)) == len(shown)
    assert sorted(shown) == sorted(made), "a figure is embedded but no block produces it, or the reverse"
    shipped = sorted(f"tutorial_figures/{p.name}" for p in FIGURES.glob("*"))
    assert shipped == sorted(shown), "docs/tutorial_figures/ holds a figure the tutorial does not show, or lacks one"


@pytest.mark.slow
def test_the_shipped_figures_are_the_ones_this_run_drew(executed_tutorial):
    folder = executed_tutorial[0]
    for rel in embedded_figures(TUTORIAL.read_text(encoding="utf-8")):
        assert (folder / rel).is_file(), f"{rel}: no block of this run drew it"
        assert (folder / rel).read_bytes() == (ROOT / "docs" / rel).read_bytes(), \
            f"docs/{rel} is not what the tutorial draws now: run `make docs`"
