"""dit_bridge's modules import one another without a cycle, counting every import (module level, inside a
function, under TYPE_CHECKING), and never from inside a function: a function-level import there is only for
an optional third-party library that must stay lazy. Read from the source with `ast`, nothing imported."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "syncgap.dit_bridge"


def own_imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """Names of the package's modules that `tree` imports anywhere (relative or absolute)."""
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif (node.module or "").startswith(PACKAGE + "."):
            out.add(node.module.split(".")[2])
    return out & modules


def import_graph(folder: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for every module of `folder`."""
    files = {p.stem: p for p in sorted(folder.glob("*.py"))}
    return {name: own_imports(ast.parse(p.read_text(encoding="utf-8")), set(files)) - {name}
            for name, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while not part or part[-1] != v:
                part.append(stack.pop())
                on.discard(part[-1])
            if len(part) > 1:
                found.append(sorted(part))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def function_level_own_imports(folder: Path) -> list[str]:
    """'file:line' of each import of a package module made inside a function."""
    out = []
    for p in sorted(folder.glob("*.py")):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        mods = {q.stem for q in folder.glob("*.py")}
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out += [f"{p.name}:{n.lineno}" for n in ast.walk(fn) if n is not fn and own_imports(n, mods)]
    return sorted(set(out))


def test_the_reading_sees_a_cycle_and_its_members():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse("from .sampling import run_pairs\nfrom syncgap.dit_bridge.depth import x\nimport torch\n")
    assert own_imports(tree, {"sampling", "depth", "protocols"}) == {"sampling", "depth"}


def test_dit_bridge_has_no_import_cycle():
    graph = import_graph(ROOT / "dit_bridge")
    assert len(graph) > 20 and graph["protocols"]
    assert cycles(graph) == [], f"import cycles in dit_bridge: {cycles(graph)}"


def test_dit_bridge_imports_its_own_modules_at_module_level():
    late = function_level_own_imports(ROOT / "dit_bridge")
    assert late == [], f"imports of dit_bridge modules inside functions (move them to the top): {late}"
