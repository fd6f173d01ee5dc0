"""The localisation rule of the depth test and the controls that show it can answer either way.

    localise(last, first, null, k) -> (answer, reason): "last k", "first k", "elsewhere" or "n/a"
    set_effects(est, boots, k, n_random, seed) -> the rule's inputs from per-block effects and their resamples
    control_checks(...) / localisation_check(...)   (dit_depth_attribution.control_record writes a control's record)

The rule (pure): each of `last` and `first` is one set's effect [estimate, low, high] (larger = the set
carries more of the measured quantity), `null` the estimates of at least MIN_NULL random k-sets of the blocks
outside both ends, each a measured value (never a convention). With edge = max(null):
- "last k"    when the last set's whole interval lies above the edge and above the first set's interval;
- "first k"   symmetrically;
- "elsewhere" when both intervals lie wholly below the edge (some other k-set carries more than either end);
- "n/a"       otherwise (not resolved), or with fewer than MIN_NULL null values, or a set without an interval.
Controls: models of the deep model's architecture built so that only the last (positive) or only the first
(negative) k blocks can do the fine feature's work; the same code must answer "last k" and "first k" on them
before the deep model's answer is a verdict (docs/protocols.md, "Depth").
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from syncgap.dit_bridge.causal import middle_sets
from syncgap.theory.intervals import read_triple, triple_fields
from syncgap.validation.checks import FAIL, NA, PASS, Check, Decision, decided
from syncgap.validation.legacy import upgrade_localisation

MIN_NULL = 5
ANSWERS = ("last", "first", "elsewhere")
RECORD_FILE = "depth_control.json"
# deep model -> (positive control: only its last k blocks learn the finest feature, negative control: only its first k),
# zoo names (dit_bridge.train.ZOO_CONFIGS: trainable_blocks 11-15 and 0-4 of 16); a model without controls is n/a.
CONTROLS = {"fhgm-deep16": ("fhgm-deep16-pos", "fhgm-deep16-neg")}
P2_K = 5   # P2: the gap emerges in the last ~5 layers (of 28)


def control_k(n_layers: int) -> int:
    """k of the localisation test: P2's 5 blocks (the controls' construction), at most a third of the depth so
    that the last k, the first k and random k-sets of the other blocks are distinct (1 on a 4-block model)."""
    return int(max(1, min(P2_K, n_layers // 3)))


def _finite(x) -> bool:
    return x is not None and np.isfinite(float(x))


def localise(last, first, null, k: int, min_null: int = MIN_NULL) -> tuple[str, str]:
    """(answer, reason) of the rule in the module docstring; answers "last k", "first k", "elsewhere", "n/a"."""
    values = [float(v) for v in null if _finite(v)]
    if len(values) < min_null:
        return "n/a", f"the random-set null has {len(values)} measured values; need at least {min_null}"
    for name, s in (("last", last), ("first", first)):
        if s is None or not all(_finite(v) for v in s):
            return "n/a", f"the {name} {k} blocks have no effect with a bounded interval"
    edge = max(values)
    (le, llo, lhi), (fe, flo, fhi) = ([float(v) for v in s] for s in (last, first))
    where = f"last {k}: {le:.3g} [{llo:.3g}, {lhi:.3g}], first {k}: {fe:.3g} [{flo:.3g}, {fhi:.3g}], " \
            f"largest of {len(values)} random {k}-sets {edge:.3g}"
    if llo > edge and llo > fhi:
        return f"last {k}", where
    if flo > edge and flo > lhi:
        return f"first {k}", where
    if lhi < edge and fhi < edge:
        return "elsewhere", where
    return "n/a", "not resolved: " + where


def set_effects(est: np.ndarray, boots: np.ndarray, k: int, n_random: int = MIN_NULL, seed: int = 0) -> dict:
    """Rule inputs from per-block effects est (L,) and bootstrap resamples (B, L): the sum over a set's blocks
    with its interval (95% percentile of the resampled sums; fields last, last_low, last_high and first, ...)
    for the last and first k, and the estimates of n_random random k-sets (the null)."""
    est, boots = np.asarray(est, float), np.asarray(boots, float)
    n = est.size

    def iv(idx):
        v = boots[:, idx].sum(1)
        v = v[np.isfinite(v)]
        e = float(est[idx].sum())
        if not np.isfinite(e) or v.size < boots.shape[0] / 2:
            return [e if np.isfinite(e) else None, None, None]
        return [e, float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))]
    rand = middle_sets(n, k, n_random, seed)
    return {"k": k, **triple_fields("last", iv(list(range(n - k, n)))), **triple_fields("first", iv(list(range(k)))),
            "null": [float(est[s].sum()) for s in rand], "null_sets": rand}


def margin(effects: dict, end: str) -> float | None:
    """How far the `end` ("last" or "first") set's interval clears the null's edge and the other end's interval:
    low(end) - max(edge, high(other)); > 0 exactly when the rule answers that end. None without the numbers
    (fewer than MIN_NULL null values, or an interval end missing)."""
    other = "first" if end == "last" else "last"
    values = [float(v) for v in effects.get("null", []) if _finite(v)]
    lo, hi = read_triple(effects, end)[1], read_triple(effects, other)[2]
    if len(values) < MIN_NULL or not _finite(lo) or not _finite(hi):
        return None
    return float(lo) - max(max(values), float(hi))


def decision_for(answer: str, reason: str, expected: str) -> Decision:
    """A control's check: pass when the rule answers as the construction says, fail on another answer, n/a when
    the rule is n/a."""
    if answer == "n/a":
        return Decision(NA, reason)
    return Decision(PASS if answer == expected else FAIL, f"answers {answer!r}, constructed {expected!r}: {reason}")


def read_control(zoo_dir: str, name: str) -> dict | None:
    """The control's cached record beside its weights, or None."""
    try:
        with open(os.path.join(zoo_dir, name, RECORD_FILE), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return upgrade_localisation(record) if isinstance(record, dict) else None   # a record of an older encoding too


def control_checks(model: str, zoo_dir: str, finding: str) -> tuple[list[Check], str | None]:
    """Checks dit.<control>.depth.control.answer of the deep model's two controls from their records, and the
    reason the deep model's verdict is n/a (None when both controls answer as constructed)."""
    if model not in CONTROLS:
        return [], f"no positive and negative depth controls of {model}'s architecture"
    out, bad = [], []
    for name, kind in zip(CONTROLS[model], ("last", "first")):   # positive, negative
        record = read_control(zoo_dir, name)
        if record is None:
            d = Decision(NA, f"no control record: run `syncgap dit depth-controls --model {name} --expect {kind}`")
            obs, claim = None, f"answers '{kind} k'"
        else:
            claim = f"answers '{record['expect']} {record['k']}'"
            d = decision_for(record["answer"], record["reason"], f"{record['expect']} {record['k']}")
            obs = margin(record, record["expect"])
        out.append(decided(f"dit.{name}.depth.control.answer", f"the localisation rule on the {kind}-block control "
                           f"of {model} (attribution shares against random-set null): margin by which the {kind} "
                           "set clears the null and the other end", 0.0, obs, None if obs is None else (obs, obs),
                           "share", d, kind="localisation", model=name, finding=finding, expects=claim))
        if d.verdict != PASS:
            bad.append(f"{name} ({kind} control): {d.reason}")
    return out, ("controls do not show the test can answer: " + "; ".join(bad)) if bad else None


def localisation_check(model: str, effects: dict, control_reason: str | None, finding: str, what: str,
                       name: str = "localisation") -> Check:
    """dit.<model>.depth.<name>: P2's "last ~5 of 28" by the rule on `effects` (set_effects): pass on
    "last k", fail on "first k" or "elsewhere", n/a when the rule is n/a or the controls do not answer."""
    answer, reason = localise(read_triple(effects, "last"), read_triple(effects, "first"), effects["null"],
                              effects["k"])
    obs = margin(effects, "last")
    if control_reason is not None:
        d = Decision(NA, f"{control_reason} (the rule here answers {answer!r}: {reason})")
    elif answer == "n/a":
        d = Decision(NA, reason)
    else:
        d = Decision(PASS if answer.startswith("last") else FAIL, f"answers {answer!r}: {reason}")
    return decided(f"dit.{model}.depth.{name}", f"where the blocks carry the replica difference ({what}): the "
                   f"last {effects['k']} blocks beyond random {effects['k']}-sets and the first {effects['k']}",
                   0.0, obs, None if obs is None else (obs, obs), "share", d, kind="localisation", model=model,
                   finding=finding, expects=f"answers 'last {effects['k']}'")


__all__ = ["MIN_NULL", "ANSWERS", "RECORD_FILE", "CONTROLS", "P2_K", "control_k", "localise", "set_effects",
           "margin", "decision_for", "read_control", "control_checks", "localisation_check"]
