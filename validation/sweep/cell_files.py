"""A sweep's cell files: where each finished cell's record lies, whether it is done, and every record
(the records themselves, their hashes and atomic writes: validation.store; the provenance: sweep/provenance.py).

Layout of a sweep folder (`out/`):
    out/sweep.json          the expanded configuration (written at every run)
    out/cells/<key>.json    one record per finished cell, key = cell_key(config)
    out/results.{csv,json}  the roll-up table (`rollup.py`)

A record is {"key", "config", "result", "provenance", "content_hash"} (validation.store); "result" holds only what the
cell function returned (so it is bitwise reproducible), "provenance" the package
version, git revision (and whether the checkout had uncommitted changes), host, pid,
wall and CPU time of the run that produced it (sweep/provenance.py).
Writes are atomic (validation.store.atomic_write_json); stray temporaries (`.<key>.json.*.tmp`) of
a killed run are ignored by `is_done` and `iter_records`. A damaged cell file (not whole JSON, NaN,
a null or non-object result, a key that does not hash its config) is not done: `is_done` says so on
stderr and the next run recomputes it.
"""
from __future__ import annotations

from pathlib import Path

from syncgap.validation.store import DamagedRecord, check_record, read_json, report_damage, seal_old_record


def cell_path(out_dir, key: str) -> Path:
    """out/cells/<key>.json."""
    return Path(out_dir) / "cells" / f"{key}.json"


def read_record(path, report: bool = False) -> dict | None:
    """The record in `path`, or None when it is missing or not a whole record of the cell named by its key.

    report: say on stderr what is wrong with a damaged file (validation.store.check_record).
    """
    if not Path(path).exists():
        return None
    try:
        record = check_record(read_json(path))
        if record.get("key") != Path(path).stem:
            raise DamagedRecord("is not named after its cell's key")
    except DamagedRecord as exc:
        if report:
            report_damage(path, str(exc), "it is recomputed by the next run")
        return None
    return record


def is_done(out_dir, key: str) -> bool:
    """True when the cell's result file exists and is a whole record of that cell (damage is said on stderr;
    a record from before content hashes is sealed now: validation.store.seal_old_record)."""
    path = cell_path(out_dir, key)
    record = read_record(path, report=True)
    if record is not None:
        seal_old_record(path, record)
    return record is not None


def iter_records(out_dir):
    """Every valid record under out/cells, sorted by key; temporaries and broken files skipped."""
    folder = Path(out_dir) / "cells"
    if not folder.is_dir():
        return
    for p in sorted(folder.glob("*.json")):
        if p.name.startswith("."):
            continue
        record = read_record(p)
        if record is not None:
            yield record
