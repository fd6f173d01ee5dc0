"""A Jupyter notebook generated from a Markdown document (the tutorial), so the two cannot drift.

    python -m syncgap.validation.docs.notebook docs/tutorial.md docs/tutorial.ipynb           # write
    python -m syncgap.validation.docs.notebook docs/tutorial.md docs/tutorial.ipynb --check   # compare, exit 1 if stale

Generic: any Markdown with fenced blocks. Prose becomes Markdown cells; a ```python block becomes a
code cell; a ```bash block becomes a `%%bash` code cell (its commands run in the notebook's folder,
with the `syncgap` of the environment that runs the kernel); any other fence (```text, ...) stays
in the Markdown cell as shown code. The output is nbformat 4.5 JSON with stable cell ids, written
without outputs, so regenerating an unchanged document gives the same bytes (a test compares).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$\n?", flags=re.M | re.S)
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _lines(text: str) -> list[str]:
    """A cell source in nbformat's list-of-lines form."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def markdown_cells(markdown: str) -> list[tuple[str, str]]:
    """(cell type, source) in document order: 'markdown' for prose and shown code, 'code' for runnable blocks."""
    cells: list[tuple[str, str]] = []
    prose: list[str] = []
    pos = 0

    def flush():
        text = "".join(prose).strip("\n")
        if text.strip():
            cells.append(("markdown", text))
        prose.clear()
    for block in FENCE.finditer(markdown):
        prose.append(markdown[pos:block.start()])
        pos = block.end()
        language, body = block.group(1), block.group(2).rstrip("\n")
        if language == "python":
            flush()
            cells.append(("code", body))
        elif language == "bash":
            flush()
            cells.append(("code", "%%bash\n" + body))
        else:
            prose.append(block.group(0))
    prose.append(markdown[pos:])
    flush()
    return cells


def notebook(markdown: str, source_name: str) -> dict:
    """The nbformat 4.5 document of `markdown`; the first cell says where it was generated from."""
    note = (f"*This notebook is generated from `{source_name}` by `python -m syncgap.validation.docs.notebook`; "
            "edit the Markdown, not the notebook.*")
    cells = []
    for i, (kind, text) in enumerate([("markdown", note)] + markdown_cells(markdown)):
        cell = {"cell_type": kind, "id": f"cell-{i:03d}", "metadata": {}, "source": _lines(text)}
        if kind == "code":
            cell |= {"execution_count": None, "outputs": []}
        cells.append(cell)
    return {"cells": cells, "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def render(markdown_path: str | Path, source_name: str | None = None) -> str:
    """The notebook's file text for a Markdown file."""
    path = Path(markdown_path)
    doc = notebook(path.read_text(encoding="utf-8"), source_name or path.as_posix())
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) != 2:
        print("usage: python -m syncgap.validation.docs.notebook DOC.md OUT.ipynb [--check]", file=sys.stderr)
        return 2
    source, out = Path(args[0]), Path(args[1])
    if not source.is_file():
        print(f"error: {source} does not exist", file=sys.stderr)
        return 2
    text = render(source, f"docs/{source.name}" if source.parent.name == "docs" else source.name)
    if check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        print(f"{out} is {'up to date' if same else 'stale: regenerate it'}", file=sys.stderr)
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
