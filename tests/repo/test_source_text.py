"""What the source says: comments and docstrings state the content (what, formula, source), never the
project's history; the routing factor rho(g) = (1 - g)/(1 + g) is written once, in theory/."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("theory", "ou_models", "dit_bridge", "validation")
# the project's tracker and its rounds are not the reader's: "issue 15 item 3", "issues 5", "review 2"
HISTORY = re.compile(r"(?i)\bissues?[\s#-]*\d+|\b(review|session)\s+(round\s+)?\d+\b|\bround\s+\d+\s+of\b")
DESIGN_NOTES = re.compile(r"\bARCHITECTURE\.md\b")     # not shipped: docs/architecture.md is the reader's copy


def sources(folders=PACKAGES):
    return sorted(p for d in folders for p in (ROOT / d).rglob("*.py"))


def text_tokens(path: Path):
    """(line, text) of every comment and string literal of a file: docstrings, comments, help texts."""
    with open(path, "rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING):
                yield tok.start[0], tok.string


def test_history_pattern_catches_what_it_must_and_only_that():
    caught = ["(issue 15 item 3)", "issue 5", "Issue 14:", "(issue #13)", "the issue-17 test", "issues 5 and 7", "review 3", "round 2 of the review"]
    spared = ["the issue with small n", "rho(g) = (1-g)/(1+g)", "§4", "0x1f", "color #555", "round 2 places",
              "a session-scoped fixture"]
    assert all(HISTORY.search(s) for s in caught)
    assert not [s for s in spared if HISTORY.search(s)]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_comment_or_docstring_names_the_projects_history(package):
    found = [f"{p.relative_to(ROOT)}:{line}: {m.group(0)!r}" for p in sources((package,))
             for line, text in text_tokens(p) for m in [HISTORY.search(text) or DESIGN_NOTES.search(text)] if m]
    assert not found, "say what the code does, its formula and source (docs/...), not which issue asked for it:\n" \
        + "\n".join(found)


def _is_one(node) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 1


def hand_written_routing_factors(tree: ast.AST) -> list[int]:
    """Lines of the expression (1 - x)/(1 + x) (or (1 - x)/(x + 1)) for one same x, in any spacing, 1 or 1.0."""
    lines = []
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and isinstance(n.left, ast.BinOp) \
                and isinstance(n.left.op, ast.Sub) and isinstance(n.right, ast.BinOp) and isinstance(n.right.op, ast.Add) \
                and _is_one(n.left.left):
            x = ast.dump(n.left.right)
            r = n.right
            if (_is_one(r.left) and ast.dump(r.right) == x) or (_is_one(r.right) and ast.dump(r.left) == x):
                lines.append(n.lineno)
    return lines


def test_the_routing_factor_pattern_catches_its_forms():
    for src in ("(1 - g) / (1 + g)", "(1.0-gg)/(gg+1.0)", "(1 - r)/(1 + r)", "(1 - a.g) / (1 + a.g)"):
        assert hand_written_routing_factors(ast.parse(src)), src
    for src in ("(1 - g) / (1 + h)", "(2 - g) / (2 + g)", "(1 + g) / (1 - g)", "(d_a + g * d_b) / (1 + g)"):
        assert not hand_written_routing_factors(ast.parse(src)), src


def test_rho_of_g_is_written_only_in_theory():
    outside = [p for p in sources(("ou_models", "dit_bridge", "validation")) + sorted((ROOT / "benchmarks").rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}:{line}" for p in outside
             for line in hand_written_routing_factors(ast.parse(p.read_text(encoding="utf-8")))]
    assert not found, "call syncgap.theory.gated.routing_factor (or gate_for_routing_factor, its inverse):\n" \
        + "\n".join(found)
