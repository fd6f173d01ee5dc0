"""The science is in the repository: every `docs/science.md §n` citation names a section that exists.

Code, help texts, docs, README and tests cite docs/science.md by section number; a citation of a
section that is missing (or of the design file outside the repository) is a dead link in a clone.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCIENCE = ROOT / "docs" / "science.md"
SKIP_DIRS = {".venv", ".git", "runs", "build", "dist", ".pytest_cache", "__pycache__", ".hypothesis"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cff", ".txt", ".yaml", ".yml", ".cfg", ""}
# "science.md §2", "science.md §2–4", "science.md §2, §4, §6", "science.md §4 and §5"
CITATION = re.compile(r"science\.md\)?((?:(?:,\s*|\s+and\s+|\s*)§\d+(?:\s*[–-]\s*\d+)?)+)")
SECTION_NUMBER = re.compile(r"§(\d+)(?:\s*[–-]\s*(\d+))?")


def _repository_text_files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            try:
                yield rel, path.read_text()
            except UnicodeDecodeError:
                continue


def science_sections() -> set[int]:
    """Section numbers of docs/science.md: `## n.` headings, each with its `<a id="sn">` anchor."""
    text = SCIENCE.read_text()
    headings = {int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.M)}
    anchors = {int(n) for n in re.findall(r'<a id="s(\d+)"></a>', text)}
    assert headings == anchors, f"headings {sorted(headings)} and anchors {sorted(anchors)} differ"
    return headings


def cited_sections(text: str) -> list[int]:
    """Every section number a text cites as docs/science.md §n (ranges expanded)."""
    out = []
    for match in CITATION.finditer(text):
        for lo, hi in SECTION_NUMBER.findall(match.group(1)):
            out += list(range(int(lo), int(hi or lo) + 1))
    return out


def test_science_has_the_eight_sections_the_repository_cites():
    assert science_sections() == set(range(1, 9))


def test_the_citation_parser_finds_lists_and_ranges():
    assert cited_sections("see docs/science.md §2–4 and science.md §5, §7; science.md §6 and §8") == \
        [2, 3, 4, 5, 7, 6, 8]
    assert cited_sections("docs/science.md leaves it open") == []


def test_every_citation_names_an_existing_section():
    sections, dead, count = science_sections(), [], 0
    for rel, text in _repository_text_files():
        for n in cited_sections(text):
            count += 1
            if n not in sections:
                dead.append(f"{rel}: §{n}")
    assert count > 100, f"only {count} citations found: the parser is broken"
    assert not dead, "citations of missing sections: " + ", ".join(dead)


def test_nothing_cites_the_design_file_outside_the_repository():
    name = "SCIENCE" + ".md"                                  # spelled apart: this file is scanned too
    offenders = [str(rel) for rel, text in _repository_text_files() if name in text]
    assert not offenders, f"cite docs/science.md instead of {name}: " + ", ".join(offenders)


def test_theory_md_links_resolve_to_science_anchors():
    theory = (ROOT / "docs" / "theory.md").read_text()
    targets = {int(n) for n in re.findall(r"\(science\.md#s(\d+)\)", theory)}
    assert targets and targets <= science_sections()
