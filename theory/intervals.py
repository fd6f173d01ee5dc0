"""The one interval encoding of every record the project writes (docs/json.md).

A quantity `x` measured with an interval is four fields: `x` (the estimate), `x_low` and `x_high` (the
interval's ends; null where open or not measured) and `x_reason` (why the estimate is missing; only there
when it is). A quantity with one value per unit (per feature, per g) keeps the same four names with one
list each, position i of every list belonging to unit i. Every writer builds them with `interval_fields`,
every reader takes them back with `read_interval`. A missing estimate or end is null in the records
(NaN and inf in memory are written as null, validation.store.to_plain).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


ENDS = ("", "_low", "_high")   # suffixes of a quantity's estimate and its interval's ends


def interval_keys(name: str) -> tuple[str, str, str]:
    """(name, name_low, name_high): the fields of `name` and its interval."""
    return tuple(name + end for end in ENDS)


def missing(value: Any) -> bool:
    """True when a scalar estimate does not exist: None or a non-finite float (NaN, inf)."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def interval_fields(name: str, estimate: Any, low: Any, high: Any, reason: str | None = None) -> dict:
    """{name: estimate, name_low: low, name_high: high}, plus name_reason = reason when one is given (why the
    estimate or its interval is missing; None where nothing is)."""
    out = {name: estimate, f"{name}_low": low, f"{name}_high": high}
    if reason is not None:
        out[f"{name}_reason"] = reason
    return out


def triple_fields(name: str, triple: Sequence | None, reason: str | None = None) -> dict:
    """interval_fields of an (estimate, low, high) triple; None (nothing measured) gives three nulls."""
    est, low, high = (None, None, None) if triple is None else triple
    return interval_fields(name, est, low, high, reason)


def _is_triple(x: Sequence) -> bool:
    """An (estimate, low, high) triple: a sequence of three numbers or nulls, not of sequences."""
    return len(x) == 3 and not any(isinstance(v, (list, tuple)) or getattr(v, "ndim", 0) > 0 for v in x)


def _part(x: Sequence | None, i: int) -> Any:
    """Element i of every triple in `x` (a triple, or units of triples at any depth), keeping the nesting."""
    if x is None:
        return None
    return x[i] if _is_triple(x) else [_part(v, i) for v in x]


def list_fields(name: str, triples: Sequence, reason: str | list | None = None) -> dict:
    """interval_fields of one (estimate, low, high) triple per unit (per layer, per layer and feature, ...): three
    nested lists of the same shape; a unit without a triple (None) is null in all three."""
    return interval_fields(name, *([_part(t, i) for t in triples] for i in range(3)), reason)


def read_interval(record: Mapping | None, name: str) -> tuple:
    """(estimate, low, high, reason) of `name` in `record`, each None where the record lacks it."""
    if record is None:
        return None, None, None, None
    return (record.get(name), record.get(f"{name}_low"), record.get(f"{name}_high"), record.get(f"{name}_reason"))


def read_triple(record: Mapping | None, name: str) -> list:
    """[estimate, low, high] of `name` in `record` (the interval without its reason)."""
    return list(read_interval(record, name)[:3])


def _rows(est, low, high):
    """[estimate, low, high] of each unit of three nested lists of one shape (list_fields' inverse)."""
    if not isinstance(est, (list, tuple)):
        return [est, low, high]
    n = len(est)
    return [_rows(e, lo, hi) for e, lo, hi in zip(est, [None] * n if low is None else low,
                                                  [None] * n if high is None else high)]


def read_triples(record: Mapping | None, name: str) -> list:
    """One [estimate, low, high] per unit of a list-valued `name`, nested as the lists are; [] where absent."""
    est, low, high, _ = read_interval(record, name)
    return [] if est is None else _rows(est, low, high)


__all__ = ["ENDS", "interval_keys", "missing", "interval_fields", "triple_fields", "list_fields", "read_interval",
           "read_triple", "read_triples"]
