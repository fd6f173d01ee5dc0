"""The registry of cell kinds: a kind name -> the plain function that computes one cell.

A cell function is `fn(**params) -> dict` of numbers (and lists of numbers); it is
imported by its "module:function" path only where the cell runs (a Dask worker, a
pool process), so the driver never needs torch for a DiT sweep. An optional `check`
function takes the same parameters and raises `InputError` for bad values; the driver
runs it on every cell before any work starts. `gpu=True` makes the Dask runner submit
the cell with `resources={"GPU": 1}`. An optional `cost` function of the same parameters
returns a relative run time; the runners then start the costliest cells of that kind first
(longest-processing-time order), so no worker is left alone with a long cell at the end.

Registering a kind is one line, here or in any module imported before the sweep:

    KINDS["ou.gap"] = Kind("syncgap.validation.sweep.model_cells:ou_gap_cell",
                            check="syncgap.validation.sweep.model_cells:ou_gap_params")
    KINDS["dit.protocol1.cuda"] = Kind("syncgap.validation.sweep.model_cells:dit_protocol1_cuda_cell", gpu=True)

A config may also name an importable function directly, `kind: mypkg.cells:my_cell`, but
only with `allow_code=True` (the command line's `--allow-code-kinds`): importing and calling
a function named in a file runs code from that file's author, so by default only the
registered kinds are accepted.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from syncgap.theory.checks import InputError


@dataclass(frozen=True)
class Kind:
    """Where a cell kind's function lives, its optional parameter check and cost, and whether it needs a GPU."""

    target: str
    check: str | None = None
    gpu: bool = False
    cost: str | None = None


_CELLS = "syncgap.validation.sweep.cells"
_MODEL = "syncgap.validation.sweep.model_cells"   # OU engine and coupled DiT cells
KINDS: dict[str, Kind] = {
    "theory.routing": Kind(f"{_CELLS}:routing_cell", check=f"{_CELLS}:routing_params"),
    "mc.cloning": Kind(f"{_CELLS}:cloning_cell", check=f"{_CELLS}:cloning_params", cost=f"{_CELLS}:cloning_cost"),
    "debug.sleep": Kind(f"{_CELLS}:sleep_cell", check=f"{_CELLS}:sleep_params"),
    "ou.gap": Kind(f"{_MODEL}:ou_gap_cell", check=f"{_MODEL}:ou_gap_params"),
    "ou.cloning": Kind(f"{_MODEL}:ou_cloning_cell", check=f"{_MODEL}:ou_cloning_params"),
    "dit.protocol1": Kind(f"{_MODEL}:dit_protocol1_cell", check=f"{_MODEL}:dit_protocol1_params"),
    "dit.protocol1.cuda": Kind(f"{_MODEL}:dit_protocol1_cuda_cell", check=f"{_MODEL}:dit_protocol1_cuda_params",
                               gpu=True),
}


def import_target(path: str):
    """'package.module:function' -> the function (raises ImportError/AttributeError as they come)."""
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


CODE_FLAG = "--allow-code-kinds"


def get_kind(name, allow_code: bool = False) -> Kind:
    """The registered Kind; with allow_code, also an ad-hoc Kind for a 'module:function' path; InputError otherwise.

    A 'module:function' kind without allow_code is refused before anything is imported.
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"kind must be a kind name (one of {sorted(KINDS)}) or 'module:function', got {name!r}")
    if name in KINDS:
        return KINDS[name]
    module, sep, fn = name.partition(":")
    if sep and module and fn and all(p.isidentifier() for p in module.split(".") + fn.split(".")):
        if not allow_code:
            raise InputError(f"kind {name!r} is not a registered kind (known: {', '.join(sorted(KINDS))}); "
                             f"running a function named in the config executes code from the config: "
                             f"pass {CODE_FLAG} to allow it")
        return Kind(name)
    raise InputError(f"kind: unknown cell kind {name!r} (known: {', '.join(sorted(KINDS))}; "
                     "or give an importable 'module:function')")


def _resolve(name: str, path: str, what: str):
    try:
        fn = import_target(path)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"kind {name!r}: cannot import its {what} {path!r} "
                         f"({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise InputError(f"kind {name!r}: {path!r} is not callable")
    return fn


def parameters(name: str) -> tuple[tuple, dict, bool]:
    """(parameter names in signature order, {name: default}, accepts **kwargs) of a kind's function.

    Like `longest_first` and `check_params`, for kinds that `get_kind` already admitted (`config.expand`).
    """
    fn = _resolve(name, get_kind(name, allow_code=True).target, "cell function")
    names, defaults, var_kw = [], {}, False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
            if p.default is not p.empty:
                defaults[p.name] = p.default
    return tuple(names), defaults, var_kw


def recorded_defaults(defaults: dict) -> dict:
    """The defaults written into every cell's config (and so into its key): plain data only."""
    return {k: v for k, v in defaults.items()
            if v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float) and v == v and abs(v) != float("inf"))}


def longest_first(cells: list) -> list:
    """`cells` with each costed kind's cells re-sorted by decreasing cost within that kind's slots.

    Cells of kinds without a `cost` keep their places; so does the order among equal costs.
    """
    out = list(cells)
    slots: dict[str, list[int]] = {}
    for i, c in enumerate(out):
        slots.setdefault(c.kind, []).append(i)
    for name, idx in slots.items():
        kind = get_kind(name, allow_code=True)
        if kind.cost is None or len(idx) < 2:
            continue
        cost = _resolve(name, kind.cost, "cost")
        ranked = sorted((out[i] for i in idx), key=lambda c: -float(cost(**c.params)))
        for i, c in zip(idx, ranked):
            out[i] = c
    return out


def check_params(name: str, params: dict) -> None:
    """Run the kind's check on one cell's parameters (InputError on a bad value)."""
    kind = get_kind(name, allow_code=True)
    if kind.check is not None:
        _resolve(name, kind.check, "check")(**params)
