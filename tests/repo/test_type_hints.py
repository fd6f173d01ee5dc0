"""Type hints on the public API (issue 18 item 9): every public function and method of theory/, ou_models/
and the DiT bridge's measurement modules annotates each parameter (self/cls aside) and its return.

Read from the source with `ast`, nothing imported, so the check runs without numba, torch or diffusers.
Public: a module-level function or a method of a public class whose name does not start with `_`
(dunder methods and functions nested in functions are not API). Numba kernels are checked like any
other function: numba ignores annotations, so they carry them too (JIT_EXEMPT below stays empty).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIT_FILES = ("commitment", "coupling", "recording", "sampling", "checkpoints", "protocols", "gains", "train", "datasets",
             "depth", "probes", "causal", "registry", "zoo_quality", "pair_run", "branches", "throughout", "token_modes",
             "coupled_clone")
FILES = sorted([*(ROOT / "theory").glob("*.py"), *(ROOT / "ou_models").glob("*.py"),
                *(ROOT / "dit_bridge" / f"{name}.py" for name in DIT_FILES)])

# Decorators whose functions may stay unannotated (annotations that would interfere with a JIT);
# none does today: numba's njit ignores annotations.
JIT_EXEMPT: frozenset[str] = frozenset()

# theory/ functions allowed to lack full hints. The 37 listed when this test was written are all hinted now;
# the set stays (and stays empty) so that a new unhinted public function fails with its name.
THEORY_NOT_YET_HINTED: frozenset[str] = frozenset()


def public_functions(tree: ast.Module):
    """(qualified name, def node, defined in a class) of every public function and public-class method."""
    def walk(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                yield from walk(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                yield f"{prefix}{node.name}", node, bool(prefix)
    yield from walk(tree.body, "")


def decorator_names(node: ast.FunctionDef) -> set[str]:
    """Dotted names of the decorators, call arguments dropped: @njit(cache=True) -> 'njit'."""
    return {ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}


def missing_annotations(node: ast.FunctionDef, method: bool) -> list[str]:
    """Names of the unannotated parameters (self/cls of a method aside), then 'return' if unannotated."""
    a = node.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []),
              *([a.kwarg] if a.kwarg else [])]
    skip = method and params and params[0].arg in ("self", "cls") and "staticmethod" not in decorator_names(node)
    out = [p.arg for p in params[1 if skip else 0:] if p.annotation is None]
    return out + (["return"] if node.returns is None else [])


def offenders(source: str, where: str) -> dict[str, list[str]]:
    """'where:qualname' -> missing annotations, for every public function of `source` lacking any."""
    found = {}
    for name, node, method in public_functions(ast.parse(source)):
        if decorator_names(node) & JIT_EXEMPT:
            continue
        missing = missing_annotations(node, method)
        if missing:
            found[f"{where}:{name}"] = missing
    return found


def test_the_scan_sees_the_files_and_their_functions():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"theory/gated.py", "ou_models/engine.py", "ou_models/kernels.py", "dit_bridge/protocols.py"} <= names
    n = sum(1 for p in FILES for _ in public_functions(ast.parse(p.read_text(encoding="utf-8"))))
    assert n > 200, f"only {n} public functions found: the walk misses definitions"


def test_the_check_flags_what_it_should_and_nothing_else():
    src = '''
def bare(x, y: int = 1, *args, k, **kw): ...
def full(x: int, /, y: float, *args: int, k: str, **kw: object) -> None: ...
def no_return(x: int): ...
def _private(x): ...
def outer(x: int) -> int:
    def inner(y): ...
    return x
class Public:
    def __init__(self, a): ...
    def method(self, a) -> int: ...
    @classmethod
    def make(cls) -> "Public": ...
    @staticmethod
    def helper(self): ...
class _Hidden:
    def method(self, a): ...
'''
    assert offenders(src, "m") == {"m:bare": ["x", "k", "args", "kw", "return"], "m:no_return": ["return"],
                                   "m:Public.method": ["a"], "m:Public.helper": ["self", "return"]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_public_function_is_annotated(path):
    where = path.relative_to(ROOT).as_posix()
    found = offenders(path.read_text(encoding="utf-8"), where)
    new = {name: missing for name, missing in found.items() if name not in THEORY_NOT_YET_HINTED}
    listing = "\n".join(f"  {name}: {', '.join(missing)}" for name, missing in sorted(new.items()))
    assert not new, f"public functions without full type hints (parameter names, 'return'):\n{listing}"
    stale = sorted(name for name in THEORY_NOT_YET_HINTED if name.startswith(f"{where}:") and name not in found)
    assert not stale, f"now fully hinted: remove {stale} from THEORY_NOT_YET_HINTED"
