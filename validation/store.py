"""The one resumable-cell store: records on disk, written atomically, validated when read.

Used by the validation suites (`suites/ou/cells.py`, `suites/dit/cells.py`), the sweep
(`sweep/cell_files.py`) and the CLI's resumable `--out` folders (options.json + metrics.jsonl).

A cell record is {"key", "config", "result", "provenance", "content_hash"} (docs/json.md): key =
cell_key(config), the sha256 prefix of the canonical JSON of the configuration; "result" holds only
what the computation returned (so it is reproducible), "provenance" how it was made (wall time, ...);
content_hash = content_hash(record), the sha256 prefix of the canonical JSON of config and result, ties
the stored numbers to their bytes: a record whose bytes no longer match it (edited, or a result
replaced by another cell's) is damaged and recomputed. A record written before content hashes existed
has none: it is accepted once and sealed (its hash written into it) when read.

Writes go to a temporary file in the same folder, are fsync'ed, then renamed with os.replace
(atomic on POSIX and Windows): a reader sees the old file or the whole new one.
Reads validate: a file that is not whole JSON, holds NaN/Infinity or a number beyond float range
(1e999 parses as inf), another configuration, a content hash that does not match, a
missing / null / non-object result, or a result the caller's `validate` rejects is *damaged*:
`load_cell` says so in one line on stderr and the cell is recomputed. A line file
(metrics.jsonl) drops a partial or corrupt line the same way and rewrites itself without it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from syncgap.theory.checks import InputError

KEY_CHARS = 16  # hex digits of sha256 kept in a cell key (64 bits)


class DamagedRecord(ValueError):
    """A stored record that cannot be used as it is; the message says what is wrong with it."""


# ---------------------------------------------------------------- canonical form and plain data

FLAT_NUMBERS = frozenset({float, int})


def _canonical(obj):
    """Normalise for hashing: integral floats become ints (1.0 and 1 are the same cell)."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if set(map(type, obj)) <= FLAT_NUMBERS:   # a flat list of plain numbers (the bulk of a cell)
            return [int(v) if type(v) is float and v.is_integer() else v for v in obj]   # inf, NaN: not integral
        return [_canonical(v) for v in obj]
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer():
        return int(obj)
    return obj


def canonical_json(config: dict) -> str:
    """Canonical JSON of a cell configuration: sorted keys, no spaces, ASCII, integral floats as ints."""
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def cell_key(config: dict) -> str:
    """sha256 prefix of the canonical JSON: the cell's file name and identity.

    InputError (the config is not plain JSON data: NaN, inf, a set, an object) naming what is wrong."""
    try:
        text = canonical_json(config)
    except (TypeError, ValueError) as exc:
        what = "a NaN or infinite number" if isinstance(exc, ValueError) else \
            "a " + str(exc).replace("Object of type ", "").replace(" is not JSON serializable", "")
        raise InputError(f"cell configuration must be plain JSON data (numbers, strings, lists, objects), "
                         f"it holds {what}") from None
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:KEY_CHARS]


def content_hash(record: dict) -> str:
    """sha256 prefix of the canonical JSON of a record's config and result: what ties them to their bytes."""
    return hashlib.sha256(canonical_json({"config": record["config"], "result": record["result"]}).encode("ascii")
                          ).hexdigest()[:KEY_CHARS]


def sealed(record: dict) -> dict:
    """`record` with its content_hash (a new dict)."""
    return {**record, "content_hash": content_hash(record)}


def to_plain(obj, strict: bool = True):
    """Records to plain JSON types: numpy scalars/arrays to numbers/lists, NaN and inf to None.

    strict=True (cell results) rejects any other type; strict=False (CLI output) writes it as str.
    """
    if hasattr(obj, "__dataclass_fields__"):
        obj = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): to_plain(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, strict) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):   # numpy arrays and scalars
        return to_plain(obj.tolist(), strict)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if not strict:
        return str(obj)
    raise TypeError(f"cell result holds a {type(obj).__name__}, which is not JSON data")


# ---------------------------------------------------------------- atomic writes

# errors of the disk or the stream, not of the input nor of the code: disk full, quota, I/O error, read-only
STORAGE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EIO", "EROFS", "EFBIG") if hasattr(errno, n))


def is_storage_error(exc: BaseException) -> bool:
    """True for an OSError of the disk or stream (STORAGE_ERRNOS): the run stops, finished results stay."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def atomic_write_text(path, text: str) -> None:
    """Write text to `path` atomically: temp file in the same folder, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)   # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)      # a full disk names the file it could not write
        raise
    try:  # make the rename itself durable; not possible on every platform
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_json(path, obj, sort_keys: bool = False) -> None:
    """JSON-encode `obj` (indent 1, keys in insertion order unless sort_keys, no NaN) and write it atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=sort_keys, allow_nan=False) + "\n")


# ---------------------------------------------------------------- validated reads

def report_damage(path, what: str, action: str = "recomputing it") -> None:
    """One line on stderr: which stored file is damaged, how, and what is done about it."""
    print(f"syncgap: {path}: {what}; {action}", file=sys.stderr, flush=True)


def _no_constant(name):
    raise DamagedRecord(f"holds {name}, which is not JSON data")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DamagedRecord(f"holds the number {text[:30]}, beyond float range")
    return value


def parse_json(text: str):
    """json.loads that refuses NaN, Infinity and numbers beyond float range such as 1e999 (DamagedRecord)
    and names a syntax error (DamagedRecord)."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise DamagedRecord(f"is not whole JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def read_json(path):
    """The JSON value in `path`; DamagedRecord when it cannot be read or parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DamagedRecord("is not UTF-8 text") from None
    except OSError as exc:
        raise DamagedRecord(f"cannot be read ({exc.strerror or exc})") from None
    return parse_json(text)


PLAIN_LEAVES = frozenset({float, int, bool, type(None)})   # exact types numbers_only accepts without a look


def numbers_only(result, labels=(), where: str = "result") -> None:
    """TypeError unless every leaf of `result` is a number, a boolean or null.

    Strings are allowed only under the keys named in `labels` (feature names, observables).
    """
    if isinstance(result, dict):
        for k, v in result.items():
            if k in labels:
                continue
            numbers_only(v, labels, f"{where}.{k}")
    elif isinstance(result, list):
        if set(map(type, result)) <= PLAIN_LEAVES:   # a flat list of plain numbers: nothing to descend into
            return
        for i, v in enumerate(result):
            numbers_only(v, labels, f"{where}[{i}]")
    elif not (result is None or isinstance(result, (bool, int, float))):
        raise TypeError(f"{where} is a {type(result).__name__} ({str(result)[:40]!r}) where a number belongs")


def check_record(record, config: dict | None = None, validate=None, upgrade=None) -> dict:
    """`record` when it is a whole cell record (of `config`, when given); else DamagedRecord saying why.

    upgrade(result) -> result reads a result stored in an older encoding into today's (validation.legacy):
    the record returned then holds the upgraded result, and `validate` sees that one."""
    if not isinstance(record, dict):
        raise DamagedRecord(f"holds a JSON {type(record).__name__}, not a cell record")
    if not isinstance(record.get("config"), dict):
        raise DamagedRecord("has no configuration")
    try:
        key = cell_key(record["config"])
    except ValueError:   # InputError
        raise DamagedRecord("has a configuration that is not plain JSON") from None
    if "key" in record and record["key"] != key:
        raise DamagedRecord("has a key that does not hash its configuration")
    if config is not None and key != cell_key(config):
        raise DamagedRecord("holds another configuration (other settings or another version of the code)")
    if "result" not in record:
        raise DamagedRecord("has no result")
    if record["result"] is None:
        raise DamagedRecord("has a null result")
    if not isinstance(record["result"], dict):
        raise DamagedRecord(f"has a result that is a JSON {type(record['result']).__name__}, not an object")
    if "content_hash" in record and record["content_hash"] != content_hash(record):
        raise DamagedRecord("has a result that does not match its content hash (edited or replaced)")
    try:
        if upgrade is not None:
            record = {**record, "result": upgrade(record["result"])}
        if validate is not None:
            validate(record["result"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise DamagedRecord(f"has a result that cannot be used ({what})") from None
    return record


def seal_old_record(path, record: dict) -> dict:
    """A record without a content hash (written before they existed) is accepted once: its hash is
    written into its file now (when the folder is writable), so later edits are caught."""
    if "content_hash" in record:
        return record
    record = sealed(record)
    try:
        atomic_write_json(path, record)
    except OSError:
        pass
    return record


def load_cell(path, config: dict, validate=None, upgrade=None) -> dict | None:
    """The record at `path` when it is whole and holds `config`; None when missing or damaged (said on stderr).
    With `upgrade` (check_record), its result read into today's encoding; the file itself is left as it is."""
    if not os.path.exists(path):
        return None
    try:
        stored = read_json(path)
        record = check_record(stored, config, validate, upgrade)
    except DamagedRecord as exc:
        report_damage(path, str(exc))
        return None
    whole = seal_old_record(path, stored)
    return whole if upgrade is None else {**whole, "result": record["result"]}


def compute_cell(path, config: dict, compute, validate=None, upgrade=None) -> tuple[dict, bool]:
    """(record, reused): the stored record of `config` at `path` (its result upgraded, load_cell), else
    compute(), written atomically."""
    old = load_cell(path, config, validate, upgrade)
    if old is not None:
        return old, True
    return store_computed(path, config, compute, validate), False


def store_computed(path, config: dict, compute, validate=None) -> dict:
    """compute()'s record of `config`, checked, sealed and written atomically at `path` (whatever is there)."""
    t0 = time.time()
    result = to_plain(compute())
    record = {"key": cell_key(config), "config": to_plain(config), "result": result,
              "provenance": {"wall_s": round(time.time() - t0, 3)}}
    try:
        check_record(record, config, validate)   # before sealing: the hash it would check is the one sealing writes
    except DamagedRecord as exc:   # a bug in the computation or in its validation, not in the file
        raise RuntimeError(f"{path}: the freshly computed cell {exc}") from None
    record = sealed(record)
    atomic_write_json(path, record)
    return record


# ---------------------------------------------------------------- line files (metrics.jsonl)

def read_rows(path, key: str) -> dict:
    """Rows of a JSON-lines file keyed by row[key]; partial or corrupt lines are dropped, said, and removed."""
    if not os.path.exists(path):
        return {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        report_damage(path, f"cannot be read ({exc})", "recomputing every row")
        atomic_write_text(path, "")
        return {}
    rows, kept, bad = {}, [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
            if not isinstance(row, dict) or key not in row:
                raise DamagedRecord(f"has no {key!r}")
            hash(row[key])
        except (DamagedRecord, TypeError) as exc:
            last = " (a partial last line: an interrupted append)" if i == len(lines) else ""
            bad.append(f"line {i} {exc}{last}")
            continue
        rows[row[key]] = row
        kept.append(line)
    if bad:
        report_damage(path, "; ".join(bad), "dropping it and recomputing its row")
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return rows


def append_row(path, row: dict) -> None:
    """Append one JSON line (no NaN) and flush it to disk; an OSError (a full disk) names the file."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def resume_options(folder, options: dict, rows_file: str = "metrics.jsonl") -> bool:
    """Write folder/options.json; True when an existing run of the same options may be resumed.

    A missing or damaged options.json (said on stderr) cannot vouch for the rows already in
    `rows_file`: they are moved aside to `<rows_file>.stale` and recomputed. Options that differ
    from the stored ones raise ValueError (the caller turns it into its own error message).
    """
    path = Path(folder) / "options.json"
    rows = Path(folder) / rows_file
    if path.exists():
        try:
            stored = read_json(path)
        except DamagedRecord as exc:
            stored = exc
        if isinstance(stored, DamagedRecord) or not isinstance(stored, dict):
            what = str(stored) if isinstance(stored, DamagedRecord) else "is not a JSON object"
            action = "rewriting it" + (f" and recomputing the rows of {rows_file}" if rows.exists() else "")
            report_damage(path, what, action)
            if rows.exists():
                os.replace(rows, rows.with_name(rows.name + ".stale"))
        elif stored != options:
            raise ValueError("holds a run with different options")
    elif rows.exists():
        report_damage(rows, "has no options.json to say which options made it", "recomputing its rows")
        os.replace(rows, rows.with_name(rows.name + ".stale"))
    atomic_write_json(path, options)
    return True
