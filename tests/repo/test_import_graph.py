"""The modules of theory/, ou_models/, dit_bridge/ and validation/ import each other without cycles, and no code
is looked up by a "module:function" string outside the sweep's `--allow-code-kinds` path.

The import graph is read from the source with `ast`: every `import` and `from ... import` statement, at module
level and inside functions (a function-level import still ties the two modules together), relative imports
resolved; `from pkg import name` is an edge to the submodule `pkg.name` when there is one, else to `pkg`.
Importing a submodule also runs its parent packages' `__init__`; that implicit step is not an edge.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from import_map import ROOT, source_modules

# Files allowed to import a module by a name computed at run time (importlib.import_module, __import__), and why.
DYNAMIC_IMPORT_ALLOWED = {
    "validation/sweep/kinds.py": "the sweep's --allow-code-kinds path: a 'module:function' kind named in a config",
    "validation/cli/extras.py": "probes whether a third-party library of an optional extra is installed",
    "theory/__init__.py": "module attributes of the package imported on first use (PEP 562), from a fixed tuple",
}
CODE_PATH = re.compile(r"\bsyncgap\.[\w.]+:\w+")        # "syncgap.validation.sweep.cells:sleep_cell"
DYNAMIC_IMPORTS = ("import_module", "__import__", "resolve_name")


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def _owner(name: str, modules) -> str | None:
    """`name` if it is a module of the packages, else its longest dotted prefix that is one, else None."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_targets(tree: ast.AST, package: str, modules) -> set[str]:
    """The package modules that the import statements anywhere in `tree` name (see the module docstring)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {_owner(a.name, modules) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else _owner(base, modules))
    return out - {None}


def import_graph(left_out=()) -> dict[str, set[str]]:
    """module -> the package modules it imports (module level and function level), less the edges `left_out`."""
    modules = source_modules()
    graph = {name: import_targets(ast.parse(path.read_text(encoding="utf-8")), _package_of(name, path), modules)
             for name, path in modules.items()}
    for source, target in left_out:
        graph[source].discard(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of `graph` (Tarjan, iterative)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.add(top)
                        if top == node:
                            break
                    out.append(component)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def shortest_cycle(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """A shortest cycle through `start` inside its strongly connected `component`, starting and ending there."""
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph[path[-1]] & component):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append(path + [nxt])
    return [start]


def cycles(graph: dict[str, set[str]], tolerated=()) -> list[list[str]]:
    """Cycles that together pass through every module of every strongly connected component with a cycle,
    leaving out components inside `tolerated`."""
    found = []
    for component in strongly_connected(graph):
        looped = len(component) > 1 or any(m in graph[m] for m in component)
        if not looped or component <= set(tolerated):
            continue
        covered: set[str] = set()
        for start in sorted(component):
            if start not in covered:
                found.append(shortest_cycle(graph, component, start))
                covered |= set(found[-1])
    return sorted(found)


def test_the_graph_reads_every_kind_of_import(tmp_path):
    modules = {"syncgap.p": None, "syncgap.p.a": None, "syncgap.p.b": None, "syncgap.p.sub": None,
               "syncgap.p.sub.c": None}
    source = ("from . import a\nfrom .sub import c\nfrom syncgap.p import NAME\n"
              "def f():\n    import syncgap.p.sub.c.thing\n    from ..p import b\n")
    assert import_targets(ast.parse(source), "syncgap.p", modules) == {"syncgap.p.a", "syncgap.p.sub.c", "syncgap.p",
                                                                       "syncgap.p.b"}
    assert import_targets(ast.parse("from .. import a\n"), "syncgap.p.sub", modules) == {"syncgap.p.a"}


def test_the_cycle_finder_finds_and_tolerates_what_it_should():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert cycles(graph, tolerated=()) == [["a", "b", "c", "a"], ["d", "d"]]
    assert cycles(graph, tolerated=("a", "b", "c")) == [["d", "d"]]
    assert cycles({"a": {"b"}, "b": {"a", "x"}, "x": {"a"}}, tolerated=("a", "b")) == [["a", "b", "a"],
                                                                                    ["x", "a", "b", "x"]]


def test_the_graph_covers_the_four_packages():
    graph = import_graph()
    assert {"syncgap.theory.gated", "syncgap.validation.cli.main", "syncgap.dit_bridge.coupling"} <= set(graph)
    assert "syncgap.theory.gated" in graph["syncgap.validation.suites.ou.law"]      # a function-level import


def test_the_package_modules_import_each_other_without_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (break each, e.g. by moving the shared part into its own module):\n" + \
        "\n".join(" -> ".join(c) for c in found)


def _dynamic_imports(tree: ast.AST) -> list[int]:
    """Line numbers of calls to importlib.import_module, __import__ or pkgutil.resolve_name."""
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "attr", None) or getattr(n.func, "id", None)) in DYNAMIC_IMPORTS]


@pytest.mark.parametrize("path", sorted(source_modules().values()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_code_is_looked_up_by_a_module_function_string(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT).as_posix()
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    named = sorted({m.group(0) for s in strings for m in CODE_PATH.finditer(s)})
    assert not named, f"{where} names code by string {named}: register the function itself (a dict of references)"
    lines = _dynamic_imports(tree)
    assert not lines or where in DYNAMIC_IMPORT_ALLOWED, (
        f"{where}:{lines}: imports a module by a computed name; import it by reference (a registry dict of "
        "functions), or a small wrapper function whose body imports an optional heavy dependency")


def test_the_allowed_dynamic_imports_are_still_there():
    for where in DYNAMIC_IMPORT_ALLOWED:
        assert _dynamic_imports(ast.parse((ROOT / where).read_text(encoding="utf-8"))), f"drop {where}"


def test_the_registries_hold_functions():
    from syncgap.validation.cli.main import SUBCOMMANDS
    from syncgap.validation.suites import PARTIAL_CHECKS, SUITES
    from syncgap.validation.sweep.kinds import KINDS
    functions = [*SUBCOMMANDS.values(), *SUITES.values(), *PARTIAL_CHECKS.values()]
    functions += [f for k in KINDS.values() for f in (k.function, k.check, k.cost) if f is not None]
    assert functions and all(callable(f) and not isinstance(f, str) for f in functions)
