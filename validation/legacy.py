"""Old encodings of stored records read into today's one interval encoding (docs/json.md), so that a run folder
written before it (cells of `syncgap validate`, a sweep's cells, the `--out` folders of the command line)
resumes without recomputation and gives the same numbers.

Before the one encoding, an interval was stored four ways: an [estimate, low, high] list under the
quantity's name (a list of them for one per unit), a {"estimate", "low", "high"} object, an estimate with
`<name>_ci` = [low, high] (or `ci_low`/`ci_high` beside a curve, `low`/`high` beside a unit's estimate,
`<name>_lo`/`<name>_hi`), and `<name>_estimate` beside `<name>_low`/`<name>_high`. Each `upgrade_*` function
takes one stored result in any of its old shapes (or today's, returned as it is) and returns it in today's
shape as a new dict; the numbers are moved, never recomputed. The readers call them on every record they
load (validation.store.load_cell's `upgrade`).
"""
from __future__ import annotations

from syncgap.theory.intervals import interval_fields, list_fields, triple_fields


def _today(result: dict, name: str) -> bool:
    """True when `name` is already in the one encoding (or absent)."""
    return name not in result or f"{name}_low" in result


def from_triple(result: dict, name: str) -> dict:
    """[estimate, low, high] (or null) under `name` -> name, name_low, name_high."""
    if _today(result, name):
        return result
    out = dict(result)
    return out | triple_fields(name, out.pop(name))


def from_triples(result: dict, name: str, old: str | None = None) -> dict:
    """One [estimate, low, high] per unit under `old` (default `name`) -> three lists under `name`."""
    old = old or name
    if old not in result or f"{name}_low" in result:
        return result
    out = dict(result)
    return out | list_fields(name, out.pop(old))


def from_band(result: dict, name: str, low: str = "ci_low", high: str = "ci_high") -> dict:
    """A curve `name` with its band in `low`/`high` (ci_low/ci_high) -> name, name_low, name_high."""
    if _today(result, name) or low not in result:
        return result
    out = dict(result)
    return out | interval_fields(name, out.pop(name), out.pop(low), out.pop(high))


def from_ci(result: dict, name: str) -> dict:
    """An estimate (or curve) `name` with `<name>_ci` = [low, high] (null: neither) -> name, name_low, name_high."""
    if _today(result, name) or f"{name}_ci" not in result:
        return result
    out = dict(result)
    low, high = out.pop(f"{name}_ci") or (None, None)
    return out | interval_fields(name, out.pop(name), low, high)


def from_lo_hi(result: dict, name: str) -> dict:
    """An estimate `name` with `<name>_lo`/`<name>_hi` -> name, name_low, name_high."""
    if _today(result, name) or f"{name}_lo" not in result:
        return result
    out = dict(result)
    return out | interval_fields(name, out.pop(name), out.pop(f"{name}_lo"), out.pop(f"{name}_hi"))


def from_object(result: dict, name: str) -> dict:
    """{"estimate", "low", "high"} under `name` -> name, name_low, name_high."""
    if not isinstance(result.get(name), dict):
        return result
    out = dict(result)
    old = out.pop(name)
    return out | interval_fields(name, old.get("estimate"), old.get("low"), old.get("high"))


def from_bare(result: dict, name: str) -> dict:
    """A unit's estimate `name` beside bare `low`/`high` (and `<name>_reason`) -> name, name_low, name_high."""
    if _today(result, name) or "low" not in result:
        return result
    out = dict(result)
    return out | interval_fields(name, out.pop(name), out.pop("low"), out.pop("high"))


def from_estimate(result: dict) -> dict:
    """Every `<name>_estimate` beside `<name>_low` -> `<name>` (a sweep cell's tau0_estimate, gap1_dit_steps_estimate)."""
    old = [k for k in result if k.endswith("_estimate") and f"{k[:-len('_estimate')]}_low" in result]
    return {(k[:-len("_estimate")] if k in old else k): v for k, v in result.items()}


def renamed(result: dict, old: str, new: str) -> dict:
    """The field `old` under its name of today, `new` (a reason named after another quantity)."""
    if old not in result or new in result:
        return result
    out = dict(result)
    out[new] = out.pop(old)
    return out


# ---------------------------------------------------------------- the OU/theory suite's cells

def upgrade_ou_cell(name: str, result: dict) -> dict:
    """An OU/theory suite cell (validation/suites/ou/cells.py; `name` its file stem) in today's encoding."""
    r = from_band(result, "agreement")
    if name.startswith("base_cloning_d"):
        return from_triple(from_triple(r, "t075"), "t_level")
    if name.startswith("collapse_"):
        return from_triple(r, "t_lock_median")
    if name.startswith("layer_a_"):
        modes = [from_triple(from_band(m, "agreement"), "t075") for m in r.get("modes", [])]
        modes = [{k: v for k, v in m.items() if k != "t_level"} if m.get("t_level", 0) is None
                 else from_triple(m, "t_level") for m in modes]   # null: the mode has no exact level
        return from_triple(from_triple(r, "gap075"), "gap_level") | ({"modes": modes} if "modes" in r else {})
    if name.startswith("layer_b_energy_"):
        return from_ci(r, "rate_drift")
    if name.startswith(("layer_b_cloning_", "layer_b_p1_")):
        return from_triple(from_triple(from_triples(r, "tau"), "gap"), "gap_dit_steps")
    if name == "gap_law":   # the law fitted on those cells (ou_law.gap_law), rewritten by every run
        return from_ci(from_ci(from_lo_hi(from_ci(r, "gap0"), "gap"), "eta"), "critical_g")
    return r



# ---------------------------------------------------------------- the command line's --out folders (metrics.jsonl)

def upgrade_ou_gap_row(row: dict) -> dict:
    """One line of `syncgap ou gap --out`'s metrics.jsonl (layer A, layer B, window throughout) in today's encoding."""
    if "onsets" in row:    # window throughout: the reasons were named after the onset and the gap
        return {**row, "onsets": [renamed(o, "onset_reason", "onset_dit_steps_reason") for o in row["onsets"]]}
    if "rates" in row:     # layer A
        return from_triple(from_triples(row, "t_mode"), "gap")
    r = from_band(row, "agreement")
    for name in ("tau_spec", "tau_spec_dit_steps", "gap", "gap_dit_steps"):
        r = from_triples(r, name)
    return r


def upgrade_dit_measure_row(row: dict) -> dict:
    """One line of `syncgap dit measure --out`'s metrics.jsonl (Protocol I or II, any window) in today's encoding:
    each scale's tau (or onset) beside bare low/high, the gap as an {"estimate", "low", "high"} object."""
    if "per_scale" not in row:   # Protocol II: no intervals
        return row
    scales = [from_bare(p, "onset" if "onset" in p else "tau") for p in row["per_scale"]]
    return from_object({**row, "per_scale": scales}, "gap")


# ---------------------------------------------------------------- a sweep's cells

def upgrade_sweep_result(result: dict) -> dict:
    """A sweep cell's result (validation/sweep/model_cells.py: ou.gap, ou.cloning) in today's encoding."""
    return from_estimate(result)


# ---------------------------------------------------------------- the depth controls' records in the zoo

def upgrade_localisation(record: dict) -> dict:
    """A localisation record (a depth control's depth_control.json, dit_depth_localise.control_record) in today's
    encoding: the last and first k blocks' effects were [estimate, low, high]."""
    return from_triple(from_triple(record, "last"), "first")
