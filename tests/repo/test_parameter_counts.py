"""At most 8 parameters per function on the OU side: a run of coupled replicas is one checked spec
(ou_models.replica_run.ReplicaRun) passed down whole, not a dozen loose arguments.

Read from the source with `ast`. ou_models/ (the Numba kernels aside) and the OU functions of validation/:
every function and method has at most MAX_PARAMS parameters (self/cls aside, *args and **kwargs count one
each), except the public entry points in ENTRY_POINTS, which keep their keyword arguments as thin wrappers:
each builds a ReplicaRun and takes its options after the first few keyword-only.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_PARAMS = 8
OU_FILES = sorted(p for p in (ROOT / "ou_models").glob("*.py") if p.name != "kernels.py")
VALIDATION = {"validation/sweep/model_cells.py": ("ou_",), "validation/power.py": ("",),
              "validation/suites/ou_checks.py": ("",)}
# public wrappers: file -> {name: positional parameters before the keyword-only ones}
ENTRY_POINTS = {"ou_models/sampler.py": {"sample": 4},
                "ou_models/measure.py": {"cloning": 5, "mode_gap": 6, "protocol_one": 6, "difference_energy": 5,
                                         "collapse": 7},
                "ou_models/variants.py": {"throughout": 5},
                "ou_models/analog.py": {"coupled_cloning": 8}}


def functions(path: Path):
    """(qualified name, def node, is a method) of every function in the file, nested ones included."""
    def walk(body, prefix, in_class):
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield from walk(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{prefix}{node.name}", node, in_class
                yield from walk(node.body, f"{prefix}{node.name}.", False)
    yield from walk(ast.parse(path.read_text(encoding="utf-8")).body, "", False)


def parameter_count(node: ast.FunctionDef, method: bool) -> int:
    a = node.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    if method and names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (a.vararg is not None) + (a.kwarg is not None)


def _cases():
    for path in OU_FILES:
        yield path, ("",)
    for rel, prefixes in VALIDATION.items():
        yield ROOT / rel, prefixes


@pytest.mark.parametrize("path, prefixes", list(_cases()), ids=lambda c: c.relative_to(ROOT).as_posix()
                         if isinstance(c, Path) else "")
def test_functions_take_at_most_eight_parameters(path, prefixes):
    rel = path.relative_to(ROOT).as_posix()
    allowed = ENTRY_POINTS.get(rel, {})
    over = [f"{name} ({parameter_count(node, method)})" for name, node, method in functions(path)
            if name.rsplit(".", 1)[-1].startswith(prefixes) and name not in allowed
            and parameter_count(node, method) > MAX_PARAMS]
    assert not over, f"{rel}: functions with more than {MAX_PARAMS} parameters: {', '.join(over)}; pass a spec"


@pytest.mark.parametrize("rel, name, positional", [(rel, name, n) for rel, names in ENTRY_POINTS.items()
                                                   for name, n in names.items()])
def test_entry_points_are_thin_wrappers_that_build_the_spec(rel, name, positional):
    node = next(node for qual, node, _ in functions(ROOT / rel) if qual == name)
    calls = {getattr(c.func, "id", None) for c in ast.walk(node) if isinstance(c, ast.Call)}
    assert "ReplicaRun" in calls, f"{rel}:{name} does not build a ReplicaRun"
    assert len(node.args.args) == positional and node.args.kwonlyargs, \
        f"{rel}:{name}: its options after the first {positional} parameters are to be keyword-only"
