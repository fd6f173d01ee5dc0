"""What a test file reaches in the package, read from the source (no import): the basis of the automatic
`torch`/`numba`/`dask` markers (tests/conftest.py) and of the check that every source module has a fast test
(tests/repo/test_fast_loop.py). See tests/README.md for the rules.
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "ou_models", "dit_bridge", "validation")
# marker -> the third-party import names behind it
LIBRARIES = {"torch": ("torch", "diffusers"), "numba": ("numba",), "dask": ("dask", "distributed")}
# marker -> string constants by which a test drives that library without importing it: a `syncgap`
# subcommand (`dit`, `ou`, `validate`, which runs both suites), a suite or sweep kind (`dit-causal`, `ou_gap`),
# or a DiT model name (`random:DiT-S/2-64-d2`); the package folders' own names (dit_bridge, ou_models) do not count
DRIVERS = {"torch": re.compile(r"^(dit|validate)$|^dit[-_](?!bridge)|DiT"),
           "numba": re.compile(r"^(ou|validate)$|^ou[-_](?!models)")}


@lru_cache(maxsize=None)
def source_modules() -> dict[str, Path]:
    """`syncgap.<package>.<module>` -> its file, for every .py file of the four packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = "syncgap." + ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imported_names(tree: ast.AST, package: str = "", top_level_only: bool = False) -> set[str]:
    """Dotted names an `import`/`from` statement names (with `from a import b`: a and a.b); relative imports
    resolved against `package`. top_level_only: the module body's statements only (what runs at import)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


@lru_cache(maxsize=None)
def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@lru_cache(maxsize=None)
def loaded_with(module: str) -> frozenset[str]:
    """`module` and every name its import runs: its top-level imports, their parent packages, transitively."""
    mods, seen, todo = source_modules(), set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [name.rsplit(".", i)[0] for i in range(1, name.count("."))]          # parent packages
        if name in mods:
            pkg = name if mods[name].name == "__init__.py" else name.rsplit(".", 1)[0]
            todo += sorted(imported_names(_parse(mods[name]), pkg, top_level_only=True))
    return frozenset(seen)


def file_imports(path: Path) -> set[str]:
    """Names a test file imports anywhere in it, `pytest.importorskip("x")` included."""
    tree = _parse(Path(path))
    names = imported_names(tree)
    return names | {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "")
                    == "importorskip" and n.args and isinstance(n.args[0], ast.Constant)}


def file_reach(path: Path) -> set[str]:
    """Names a test file's imports load (`loaded_with` of each)."""
    return set().union(set(), *(loaded_with(n) for n in file_imports(path)))


def library_marks(path: Path) -> set[str]:
    """The markers of a test file: each library its imports load, or that it drives by name (DRIVERS)."""
    reach = {n.split(".")[0] for n in file_reach(path)}
    strings = {n.value for n in ast.walk(_parse(Path(path))) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {mark for mark, libs in LIBRARIES.items()
            if reach & set(libs) or (mark in DRIVERS and any(DRIVERS[mark].search(s) for s in strings))}
