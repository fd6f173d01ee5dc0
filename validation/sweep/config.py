"""Sweep configs: a base dict plus a grid of lists, expanded to the cartesian product of cells.

    name: cloning-demo            # optional; [A-Za-z0-9_.-]+, default: the file's stem
    kind: mc.cloning              # or in base, or a list in grid (one kind per cell)
    out: runs/sweeps/cloning-demo # optional default output folder
    description: free text        # optional
    base: {d: 16, n_samples: 500} # parameters shared by every cell
    grid:                         # each value a non-empty list; cells = product of the lists
      t_clone: [0.5, 1.0, 2.0]
      seed: [0, 1]

`grid` may also be a list of such mappings: each is expanded with the base and the
cells are concatenated (duplicates, by cell key, kept once). Parameters left out take the
kind function's defaults, which are written into each cell's config and so into its key:
a kind whose defaults change gets new keys, and its old results are not reused. JSON files are read as
JSON, anything else as YAML. Every problem raises `InputError` naming the field
("grid.t_clone", "base.d", "grid[1].seed", "kind", ...) before any cell runs: the
structure, parameter names against the kind's function signature, and each cell's
values through the kind's check.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from syncgap.theory.checks import InputError

from syncgap.validation.sweep import kinds
from syncgap.validation.store import cell_key

TOP_FIELDS = ("name", "kind", "out", "description", "base", "grid")
MAX_CELLS = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Cell:
    """One independent unit of work: a kind, its parameters, and its key (hash of both)."""

    kind: str
    params: dict
    key: str

    @property
    def config(self) -> dict:
        return {"kind": self.kind, **self.params}


@dataclass(frozen=True)
class Sweep:
    """An expanded sweep: its name, cells in grid order, and the config it came from."""

    name: str
    cells: tuple
    config: dict
    out: str | None = None
    source: str | None = None
    kinds: tuple = field(default=())


def _type(v) -> str:
    return "null" if v is None else type(v).__name__


def _field(prefix: str, key) -> str:
    """'base.g' for plain keys, 'base["a b"]' style (repr) for anything else, so messages stay one line."""
    plain = isinstance(key, str) and key.isidentifier() and key.isascii()
    return (f"{prefix}.{key}" if prefix else key) if plain else f"{prefix}[{key!r}]"


def _check_value(where: str, v, depth: int = 0) -> None:
    """JSON data only: null, bool, int, finite float, str, lists and string-keyed mappings."""
    if depth > 32:
        raise InputError(f"{where}: nested deeper than 32 levels")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
        raise InputError(f"{where}: integers must lie within +-2^63 (64-bit), got one of {len(str(abs(v)))} digits")
    if v is None or isinstance(v, (bool, int, str)):
        return
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InputError(f"{where}: must be a finite number, got {v}")
        return
    if isinstance(v, list):
        for i, item in enumerate(v):
            _check_value(f"{where}[{i}]", item, depth + 1)
        return
    if isinstance(v, dict):
        for k, item in v.items():
            if not isinstance(k, str):
                raise InputError(f"{where}: keys must be strings, got {k!r}")
            _check_value(_field(where, k), item, depth + 1)
        return
    raise InputError(f"{where}: must be JSON data (number, string, bool, null, list, mapping), "
                     f"got {_type(v)} {v!r}")


def _check_mapping(where: str, m) -> dict:
    if not isinstance(m, dict):
        raise InputError(f"{where}: must be a mapping of parameter names to values, got {_type(m)}")
    for k, v in m.items():
        if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
            raise InputError(f"{where}: parameter names must be identifiers not starting with '_', got {k!r}")
        _check_value(f"{where}.{k}", v)
    return m


def _grid_blocks(grid) -> list[tuple[str, dict]]:
    """[(field prefix, mapping of lists)] of the grid field."""
    if grid is None:
        return [("grid", {})]
    if isinstance(grid, dict):
        blocks = [("grid", grid)]
    elif isinstance(grid, list):
        if not grid:
            raise InputError("grid: must be a mapping of lists or a non-empty list of such mappings, got []")
        blocks = [(f"grid[{i}]", g) for i, g in enumerate(grid)]
    else:
        raise InputError(f"grid: must be a mapping of parameter lists (or a list of them), got {_type(grid)}")
    for where, g in blocks:
        _check_mapping(where, g)
        for k, v in g.items():
            if not isinstance(v, list) or not v:
                raise InputError(f"{where}.{k}: must be a non-empty list of values, got {v!r}")
    return blocks


def validate_config(config, allow_code: bool = False) -> dict:
    """Structural checks of a parsed config (no kind imports); returns it unchanged.

    A 'module:function' kind is refused unless allow_code (`kinds.admit`).
    """
    if not isinstance(config, dict):
        raise InputError(f"config: the top level must be a mapping with fields {', '.join(TOP_FIELDS)}, "
                         f"got {_type(config)}")
    for k in config:
        if k not in TOP_FIELDS:
            raise InputError(f"{_field('', k)}: unknown config field {k!r} (allowed: {', '.join(TOP_FIELDS)})")
    name = config.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise InputError(f"name: must be a string of letters, digits, '_', '.', '-', got {name!r}")
    for k in ("out", "description"):
        if config.get(k) is not None and (not isinstance(config[k], str) or not config[k].strip()):
            raise InputError(f"{k}: must be a non-empty string, got {config[k]!r}")
    base = _check_mapping("base", config.get("base", {}))
    blocks = _grid_blocks(config.get("grid"))
    if "kind" in config:
        kinds.admit(config["kind"], allow_code)
        if "kind" in base:
            raise InputError("base.kind: kind is also set at the top level; set it in one place")
    total = 0
    for where, g in blocks:
        for k in g:
            if k in base:
                raise InputError(f"{where}.{k}: also set in base; set each parameter in one place")
            if k == "kind" and "kind" in config:
                raise InputError(f"{where}.kind: kind is also set at the top level; set it in one place")
        total += math.prod(len(v) for v in g.values())
        if total > MAX_CELLS:
            raise InputError(f"{where}: the grid expands to more than {MAX_CELLS} cells")
    return config


def _block_kinds(config, base, where, g) -> list[tuple[str, str]]:
    """[(kind name, field it came from)] used by one grid block."""
    if "kind" in config:
        return [(config["kind"], "kind")]
    if "kind" in base:
        return [(base["kind"], "base.kind")]
    if "kind" in g:
        return [(k, f"{where}.kind") for k in g["kind"]]
    raise InputError("kind: missing; set 'kind' at the top level, in base, or as a list in grid")


def expand(config, source: str | None = None, allow_code: bool = False) -> Sweep:
    """Validate a parsed config and expand it into cells (InputError naming the field on any problem).

    allow_code: accept 'module:function' kinds, i.e. import and run code named in the config.
    """
    validate_config(config, allow_code)
    base = config.get("base", {})
    cells, seen, used = [], set(), []
    for where, g in _grid_blocks(config.get("grid")):
        for kind, kfield in _block_kinds(config, base, where, g):
            try:
                kinds.admit(kind, allow_code)
            except InputError as exc:
                raise InputError(f"{kfield}: {exc}") from None
            names, defaults, var_kw = kinds.parameters(kind)
            required = set(names) - defaults.keys()
            origin = {k: f"base.{k}" for k in base if k != "kind"}
            origin.update({k: f"{where}.{k}" for k in g if k != "kind"})
            for k, f in origin.items():
                if k not in names and not var_kw:
                    raise InputError(f"{f}: {k!r} is not a parameter of kind {kind!r} "
                                     f"(parameters: {', '.join(sorted(names))})")
            for k in sorted(required - origin.keys()):
                raise InputError(f"{k}: required by kind {kind!r}; set it in base or in grid")
            if kind not in used:
                used.append(kind)
            axes = [k for k in g if k != "kind"]
            filled = kinds.recorded_defaults(defaults)
            for values in itertools.product(*(g[k] for k in axes)):
                params = {k: v for k, v in filled.items() if k not in origin}
                params.update((k, v) for k, v in base.items() if k != "kind")
                params.update(zip(axes, values))
                params = {**{k: params[k] for k in names if k in params}, **params}   # signature order
                key = cell_key({"kind": kind, **params})
                if key in seen:
                    continue
                try:
                    kinds.check_params(kind, params)
                except (InputError, TypeError, ValueError) as exc:   # a check should raise InputError only
                    msg = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
                    at = next((origin[k] for k in origin if msg.startswith((f"{k}=", f"{k} "))), None)
                    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
                    raise InputError(f"{at + ': ' if at else ''}{msg} (in the {kind} cell {shown})") from None
                seen.add(key)
                cells.append(Cell(kind, params, key))
    name = config.get("name") or (Path(source).stem if source else "sweep")
    if not _NAME.match(name):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Sweep(name, tuple(cells), config, config.get("out"), source, tuple(used))


def parse_config_text(text: str, fmt: str, where: str = "CONFIG"):
    """Parse config text as 'json' or 'yaml'; InputError with line/column on a syntax error, a key given twice
    or a YAML anchor bomb (safe_load.py)."""
    if fmt == "json":
        from syncgap.validation.sweep.safe_load import load_json
        try:
            return load_json(text)
        except InputError as exc:                          # a duplicate key
            raise InputError(f"{where}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise InputError(f"{where}: unreadable JSON: nested too deeply (at most 32 levels are used)") from None
        except ValueError as exc:                          # e.g. an integer of more than 4300 digits
            raise InputError(f"{where}: unreadable JSON: {str(exc).split(';')[0]}") from None
    try:
        import yaml
    except ImportError:
        raise InputError(f"{where}: YAML configs need PyYAML (pip install pyyaml), or write the config as .json") from None
    from syncgap.validation.sweep.safe_load import load_yaml
    try:
        return load_yaml(text)   # duplicate keys and anchor bombs refused (safe_load.StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: invalid YAML{at}: {problem}") from None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. odd timestamps, deep nesting, 5000-digit ints
        raise InputError(f"{where}: unreadable YAML: {str(exc).split(';')[0]}") from None


def load_config(path, allow_code: bool = False) -> dict:
    """Read and structurally validate a config file (.json as JSON, else YAML)."""
    from syncgap.validation.sweep.safe_load import read_regular_file
    p = Path(path)
    raw = read_regular_file(p)   # a FIFO or a device would block: refused
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"CONFIG: {str(p)!r} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise InputError(f"CONFIG: {str(p)!r} is empty")
    config = parse_config_text(text, "json" if p.suffix.lower() == ".json" else "yaml", f"CONFIG {str(p)!r}")
    try:
        return validate_config(config, allow_code)
    except InputError as exc:
        raise InputError(f"{p.name}: {exc}") from None


def load_sweep(path, allow_code: bool = False) -> Sweep:
    """Read, validate and expand a config file into a Sweep (allow_code: see `expand`)."""
    config = load_config(path, allow_code)
    try:
        return expand(config, source=str(path), allow_code=allow_code)
    except InputError as exc:
        raise InputError(f"{Path(path).name}: {exc}") from None
