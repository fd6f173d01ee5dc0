"""Roll finished cells up into one table: out/results.csv and out/results.json (a list of rows).

A row is the cell's key, its configuration (kind first), its result fields, and the
syncgap version and git revision that produced it. A result field whose name is also a
configuration parameter is stored as "result.<name>". Lists and mappings appear as JSON
text in the CSV and as themselves in the JSON. Figures are redrawn from results.json
(`load_table`), never from a run's memory.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from syncgap.validation.legacy import upgrade_sweep_result

from syncgap.validation.store import atomic_write_text
from syncgap.validation.sweep.cell_files import cell_path, iter_records, read_record


def record_row(record: dict) -> dict:
    """One record to one flat row (a result written before the one interval encoding read into it: validation.legacy)."""
    row = {"key": record["key"], "kind": record["config"].get("kind"), **record["config"]}
    for k, v in upgrade_sweep_result(record["result"]).items():
        row[f"result.{k}" if k in row else k] = v
    prov = record.get("provenance") or {}
    row["syncgap_version"] = prov.get("syncgap_version")
    row["git_revision"] = prov.get("git_revision")
    return row


def table(out_dir, cells=None) -> list[dict]:
    """Rows of the finished cells: of `cells` in their order, or of every record under out_dir."""
    if cells is None:
        recs = list(iter_records(out_dir))
    else:
        recs = [r for r in (read_record(cell_path(out_dir, c.key)) for c in cells) if r is not None]
    return [record_row(r) for r in recs]


def _csv_text(rows: list[dict]) -> str:
    columns = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if row.get(c) is None else
                    json.dumps(row[c], sort_keys=True) if isinstance(row.get(c), (list, dict)) else row[c]
                    for c in columns])
    return buf.getvalue()


def write_table(out_dir, cells=None) -> tuple[Path, Path]:
    """Write out/results.csv and out/results.json atomically; return both paths."""
    rows = table(out_dir, cells)
    out = Path(out_dir)
    json_text = json.dumps(rows, indent=1, allow_nan=False) + "\n"   # fails before either file is touched
    atomic_write_text(out / "results.csv", _csv_text(rows))
    atomic_write_text(out / "results.json", json_text)
    return out / "results.csv", out / "results.json"


def load_table(path) -> list[dict]:
    """Rows from a results.json (or the sweep folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    with open(p, encoding="utf-8") as f:
        return json.load(f)
