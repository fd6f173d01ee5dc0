"""The registry of cell kinds: a kind name -> the plain functions that compute, check and cost one cell.

A cell function is `fn(**params) -> dict` of numbers (and lists of numbers). `KINDS` holds the
functions themselves (cells.py, model_cells.py); those modules import neither torch nor numba at
module level, each cell function imports its engine where the cell runs (a Dask worker, a pool
process), so the driver never needs torch for a DiT sweep. An optional `check` function takes the
same parameters and raises `InputError` for bad values; the driver runs it on every cell before any
work starts. `gpu=True` makes the Dask runner submit the cell with `resources={"GPU": 1}`. An
optional `cost` function of the same parameters returns a relative run time; the runners then start
the costliest cells of that kind first (longest-processing-time order), so no worker is left alone
with a long cell at the end.

Registering a kind is one line, here or in any module imported before the sweep:

    KINDS["ou.gap"] = Kind(model_cells.ou_gap_cell, check=model_cells.ou_gap_params)
    KINDS["dit.protocol1.cuda"] = Kind(model_cells.dit_protocol1_cuda_cell, gpu=True)

A config may also name an importable function directly, `kind: mypkg.cells:my_cell`, but
only with `allow_code=True` (the command line's `--allow-code-kinds`): importing and calling
a function named in a file runs code from that file's author, so by default only the
registered kinds are accepted. That is the one place where a string names code (`import_target`).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from syncgap.theory.checks import InputError

from syncgap.validation.sweep import cells, model_cells


@dataclass(frozen=True)
class Kind:
    """A cell kind's function, its optional parameter check and cost, and whether it needs a GPU."""

    function: Callable[..., dict]
    check: Callable[..., object] | None = None
    gpu: bool = False
    cost: Callable[..., float] | None = None


KINDS: dict[str, Kind] = {
    "theory.routing": Kind(cells.routing_cell, check=cells.routing_params),
    "mc.cloning": Kind(cells.cloning_cell, check=cells.cloning_params, cost=cells.cloning_cost),
    "debug.sleep": Kind(cells.sleep_cell, check=cells.sleep_params),
    "ou.gap": Kind(model_cells.ou_gap_cell, check=model_cells.ou_gap_params),
    "ou.cloning": Kind(model_cells.ou_cloning_cell, check=model_cells.ou_cloning_params),
    "dit.protocol1": Kind(model_cells.dit_protocol1_cell, check=model_cells.dit_protocol1_params),
    "dit.protocol1.cuda": Kind(model_cells.dit_protocol1_cuda_cell, check=model_cells.dit_protocol1_cuda_params,
                               gpu=True),
}
CODE_FLAG = "--allow-code-kinds"


def admit(name, allow_code: bool = False) -> None:
    """Return for a registered kind, and with allow_code for a 'module:function' path; InputError otherwise.

    Nothing is imported: a 'module:function' kind without allow_code is refused before its module loads.
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"kind must be a kind name (one of {sorted(KINDS)}) or 'module:function', got {name!r}")
    if name in KINDS:
        return
    module, sep, fn = name.partition(":")
    if sep and module and fn and all(p.isidentifier() for p in module.split(".") + fn.split(".")):
        if not allow_code:
            raise InputError(f"kind {name!r} is not a registered kind (known: {', '.join(sorted(KINDS))}); "
                             f"running a function named in the config executes code from the config: "
                             f"pass {CODE_FLAG} to allow it")
        return
    raise InputError(f"kind: unknown cell kind {name!r} (known: {', '.join(sorted(KINDS))}; "
                     "or give an importable 'module:function')")


def import_target(path: str):
    """'package.module:function' -> the function (raises ImportError/AttributeError as they come).

    Only for a 'module:function' kind that `admit` let through with allow_code (`get_kind`).
    """
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def get_kind(name, allow_code: bool = False) -> Kind:
    """The registered Kind; with allow_code, also the Kind of a 'module:function' path, imported here (`admit`)."""
    admit(name, allow_code)
    if name in KINDS:
        return KINDS[name]
    try:
        fn = import_target(name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"kind {name!r}: cannot import its cell function {name!r} "
                         f"({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise InputError(f"kind {name!r}: {name!r} is not callable")
    return Kind(fn)


def parameters(name: str) -> tuple[tuple, dict, bool]:
    """(parameter names in signature order, {name: default}, accepts **kwargs) of a kind's function.

    Like `longest_first` and `check_params`, for kinds that `admit` already let through (`config.expand`).
    """
    names, defaults, var_kw = [], {}, False
    for p in inspect.signature(get_kind(name, allow_code=True).function).parameters.values():
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


def longest_first(todo: list) -> list:
    """The cells `todo` with each costed kind's cells re-sorted by decreasing cost within that kind's slots.

    Cells of kinds without a `cost` keep their places; so does the order among equal costs.
    """
    out = list(todo)
    slots: dict[str, list[int]] = {}
    for i, c in enumerate(out):
        slots.setdefault(c.kind, []).append(i)
    for name, idx in slots.items():
        kind = get_kind(name, allow_code=True)
        if kind.cost is None or len(idx) < 2:
            continue
        ranked = sorted((out[i] for i in idx), key=lambda c: -float(kind.cost(**c.params)))
        for i, c in zip(idx, ranked):
            out[i] = c
    return out


def check_params(name: str, params: dict) -> None:
    """Run the kind's check on one cell's parameters (InputError on a bad value)."""
    kind = get_kind(name, allow_code=True)
    if kind.check is not None:
        kind.check(**params)
