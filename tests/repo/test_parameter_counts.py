"""At most 8 parameters per function: a run of coupled replicas is one checked spec passed down whole
(ou_models.replica_run.ReplicaRun on the OU side, dit_bridge.pair_run.PairRun on the DiT side), not a dozen
loose arguments.

Read from the source with `ast`. ou_models/ (the Numba kernels aside), dit_bridge/ and the OU and DiT functions
of validation/:
every function and method has at most MAX_PARAMS parameters (self/cls aside, *args and **kwargs count one
each), except the public entry points in ENTRY_POINTS, which keep their keyword arguments as thin wrappers:
each builds its spec (the package's run spec, or the one SPEC names for its file) and takes its options after the
first few keyword-only. KNOWN_OVER lists the functions not yet reduced; the list is exact (a new one fails, and so does
one that was fixed but is still listed).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_PARAMS = 8
OU_FILES = sorted(p for p in (ROOT / "ou_models").glob("*.py") if p.name != "kernels.py")
DIT_FILES = sorted((ROOT / "dit_bridge").glob("*.py"))
VALIDATION = {"validation/sweep/model_cells.py": ("ou_", "dit_"), "validation/suites/ou/checks.py": ("",),
              **{p.relative_to(ROOT).as_posix(): ("",) for p in sorted((ROOT / "validation" / "suites" / "dit").rglob("*.py"))}}
# public wrappers: file -> {name: positional parameters before the keyword-only ones}
ENTRY_POINTS = {"ou_models/sampler.py": {"sample": 4},
                "ou_models/measure.py": {"cloning": 5, "mode_gap": 6, "protocol_one": 6, "difference_energy": 5,
                                         "collapse": 7},
                "ou_models/variants.py": {"throughout": 5},
                "ou_models/analog.py": {"coupled_cloning": 8},
                "dit_bridge/ablation.py": {"ablated_cloning": 6},
                "dit_bridge/causal.py": {"set_parts": 3, "set_agreement": 4},
                "dit_bridge/depth.py": {"depth_run": 2},
                "dit_bridge/gains.py": {"layer_gains": 2},
                "dit_bridge/gate_response.py": {"gate_response": 3},
                "dit_bridge/protocols.py": {"protocol_one": 3, "protocol_two": 2},
                "dit_bridge/sampling.py": {"sample_pairs": 4}}
# the spec an entry point builds: by package, or by file where the package's run spec does not apply (the pair
# sampler sits below PairRun and builds its per-step hooks; the gains measurement is no pair run)
SPEC = {"ou_models": "ReplicaRun", "dit_bridge": "PairRun", "dit_bridge/sampling.py": "StepHooks",
        "dit_bridge/gains.py": "GainsRun"}
# not yet reduced to a spec: file -> names
KNOWN_OVER: dict[str, set[str]] = {}


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
    for path in OU_FILES + DIT_FILES:
        yield path, ("",)
    for rel, prefixes in VALIDATION.items():
        yield ROOT / rel, prefixes


@pytest.mark.parametrize("path, prefixes", list(_cases()), ids=lambda c: c.relative_to(ROOT).as_posix()
                         if isinstance(c, Path) else "")
def test_functions_take_at_most_eight_parameters(path, prefixes):
    rel = path.relative_to(ROOT).as_posix()
    allowed = set(ENTRY_POINTS.get(rel, {}))
    known = KNOWN_OVER.get(rel, set())
    over = {name: parameter_count(node, method) for name, node, method in functions(path)
            if name.rsplit(".", 1)[-1].startswith(prefixes) and name not in allowed
            and parameter_count(node, method) > MAX_PARAMS}
    new = [f"{name} ({n})" for name, n in over.items() if name not in known]
    assert not new, f"{rel}: functions with more than {MAX_PARAMS} parameters: {', '.join(new)}; pass a spec"
    assert not known - set(over), f"{rel}: {sorted(known - set(over))} take at most {MAX_PARAMS}: drop from KNOWN_OVER"


@pytest.mark.parametrize("rel, name, positional", [(rel, name, n) for rel, names in ENTRY_POINTS.items()
                                                   for name, n in names.items()])
def test_entry_points_are_thin_wrappers_that_build_the_spec(rel, name, positional):
    node = next(node for qual, node, _ in functions(ROOT / rel) if qual == name)
    calls = {getattr(c.func, "id", None) for c in ast.walk(node) if isinstance(c, ast.Call)}
    spec = SPEC.get(rel, SPEC[rel.split("/")[0]])
    assert spec in calls, f"{rel}:{name} does not build a {spec}"
    assert len(node.args.args) == positional and node.args.kwonlyargs, \
        f"{rel}:{name}: its options after the first {positional} parameters are to be keyword-only"
