"""Power by design: the pairs and the t_int grid that a stated precision needs (docs/science.md §8).

A gap (or commitment step) is a smooth statistic of n independent replica pairs, so its standard
error is sigma / sqrt(n) (central limit theorem; sigma = the per-pair spread of the estimate) and
its 95% interval half-width h = z sigma / sqrt(n), z = 1.96. A pilot of n0 pairs with half-width h0
therefore fixes sigma = h0 sqrt(n0) / z, and a target half-width h* needs

    n(h*) = ceil(n0 (h0 / h*)^2) = ceil((z sigma / h*)^2)           (pairs_needed)

The t_int grid must resolve the target: its spacing inside the commitment window is at most the
target (whole sampler steps, grid_spacing_needed), and a commitment step read off that grid is
widened by half the spacing (reading_resolution), never less than the grid allows.

Cost: Protocol I runs the coupled prefix once up to the last t_int and then every branch's tail
from its t_int to the end, all branches in one batch (dit_bridge.branches.tail_branches), each
step on both replicas of every pair: 2 (max t + sum_i (S - t_i)) model rows per pair and cell
(replica_row_steps); times the measured seconds per row gives the projected cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from syncgap.theory.checks import InputError, check_int, check_real

Z95 = 1.959963984540054   # two-sided 95% standard normal quantile


def per_pair_spread(halfwidth: float, n_pairs: int, z: float = Z95) -> float:
    """sigma = h sqrt(n) / z: the per-pair spread of an estimate whose 95% half-width at n pairs is h."""
    h = check_real("halfwidth", halfwidth, 0.0, lo_open=True)
    n = check_int("n_pairs", n_pairs, 2)
    return h * math.sqrt(n) / z


def halfwidth_at(n_pairs: int, spread: float, z: float = Z95) -> float:
    """h(n) = z sigma / sqrt(n): the 95% half-width at n pairs of an estimate with per-pair spread sigma."""
    n = check_int("n_pairs", n_pairs, 1)
    return z * check_real("spread", spread, 0.0) / math.sqrt(n)


def pairs_needed(target_halfwidth: float, *, pilot_halfwidth: float, pilot_pairs: int, z: float = Z95) -> int:
    """n(h*) = ceil((z sigma / h*)^2), sigma from the pilot (per_pair_spread): the fewest pairs whose 95%
    half-width is at most the target; at least 2 (a bootstrap over pairs needs two)."""
    target = check_real("target_halfwidth", target_halfwidth, 0.0, lo_open=True)
    sigma = per_pair_spread(pilot_halfwidth, pilot_pairs, z)
    return max(2, math.ceil((z * sigma / target) ** 2 - 1e-9))


def grid_spacing_needed(resolution: float) -> int:
    """The widest whole-step t_int spacing that resolves `resolution` sampler steps: floor(resolution), >= 1."""
    res = check_real("resolution", resolution, 0.0, lo_open=True)
    return max(1, math.floor(res + 1e-9))


def reading_resolution(t_ints, window: tuple[float, float] | None = None) -> float:
    """Half the widest spacing of the t_int grid (inside `window` = (lo, hi) when given): how far a
    commitment step read off this grid may lie from where the grid can place it."""
    t = sorted({float(x) for x in t_ints})
    if len(t) < 2:
        raise InputError(f"t_ints: need at least 2 distinct values, got {t}")
    if window is not None:
        lo, hi = window
        inner = [x for x in t if lo <= x <= hi]
        t = inner if len(inner) >= 2 else t
    return max(b - a for a, b in zip(t, t[1:])) / 2


def transition_grid(num_steps: int, window: tuple[int, int], spacing: int, outer_spacing: int) -> tuple[int, ...]:
    """t_int grid: every `spacing` steps inside the commitment window (lo, hi), every `outer_spacing`
    outside it (the plateaus, which fix the asymptotes), always with 0 and num_steps."""
    s = check_int("num_steps", num_steps, 2)
    lo, hi = (check_int("window", w, 0, s) for w in window)
    if hi <= lo:
        raise InputError(f"window must be (lo, hi) with lo < hi, got {window}")
    step, outer = check_int("spacing", spacing, 1, s), check_int("outer_spacing", outer_spacing, 1, s)
    pts = set(range(lo, hi + 1, step)) | {hi} | set(range(0, lo, outer)) | set(range(s, hi, -outer)) | {0, s}
    return tuple(sorted(pts))


def replica_row_steps(t_ints, num_steps: int) -> int:
    """Model rows per pair of one Protocol I cell: 2 (max t_int + sum (num_steps - t_int)), prefix once, tails batched."""
    s = check_int("num_steps", num_steps, 2)
    t = [check_int("t_int", x, 0, s) for x in t_ints]
    return 2 * (max(t) + sum(s - x for x in t))


@dataclass(frozen=True)
class Design:
    """Pairs and t_int grid chosen for a target half-width, with the cost they project."""

    target_halfwidth: float     # sampler steps, 95% half-width of every gap
    n_pairs: int
    t_ints: tuple
    window: tuple               # commitment window (lo, hi) where the grid is fine
    spacing: int                # t_int spacing inside the window
    resolution: float           # reading resolution of the grid (half the spacing)
    projected_halfwidth: float  # the pilot's half-width scaled to n_pairs (halfwidth_at)
    cpu_s_per_cell: float       # projected one-thread CPU seconds of one Protocol I cell


@dataclass(frozen=True)
class Pilot:
    """What a pilot run measured: the half-width of its widest gap at its pairs, and its cost per model row."""

    halfwidth: float            # sampler steps: 95% half-width of the pilot's widest gap, > 0
    pairs: int                  # replica pairs of the pilot, integer >= 2
    seconds_per_row: float      # one-thread CPU seconds per replica row and sampler step, >= 0

    def __post_init__(self) -> None:
        per_pair_spread(self.halfwidth, self.pairs)    # checks both (InputError naming halfwidth or n_pairs)
        object.__setattr__(self, "seconds_per_row", check_real("seconds_per_row", self.seconds_per_row, 0.0))


def design(target_halfwidth: float, *, pilot: Pilot, num_steps: int, window: tuple[int, int], outer_spacing: int,
           margin: float = 1.0, multiple: int = 1) -> Design:
    """The design a target needs: n0 (h0 / h*)^2 pairs of the pilot times `margin` (room for the scatter of the
    pilot's own half-width), rounded up to a multiple of `multiple`; a transition_grid with spacing <= target
    inside `window`; the half-width the pilot projects at those pairs and the cost per cell."""
    target = check_real("target_halfwidth", target_halfwidth, 0.0, lo_open=True)
    margin = check_real("margin", margin, 1.0, 10.0)
    multiple = check_int("multiple", multiple, 1, 1024)
    n = pairs_needed(target / math.sqrt(margin), pilot_halfwidth=pilot.halfwidth, pilot_pairs=pilot.pairs)
    n = multiple * math.ceil(n / multiple)
    spacing = grid_spacing_needed(target)
    t_ints = transition_grid(num_steps, window, spacing, max(outer_spacing, spacing))
    cost = n * replica_row_steps(t_ints, num_steps) * pilot.seconds_per_row
    projected = halfwidth_at(n, per_pair_spread(pilot.halfwidth, pilot.pairs))
    return Design(target, n, t_ints, tuple(window), spacing, reading_resolution(t_ints, window), projected, cost)



NO_MIDPOINT = ("no midpoint: a flat agreement curve (or one whose midpoint lies outside the t_int range) has no "
               "commitment step at any number of pairs, so the gap is not measurable, not imprecise")


def precision_rows(gaps: dict, target_halfwidth: float | None) -> list[dict]:
    """Per named gap [estimate, low, high] (or None) one row {"label": its name, "gap": its estimate, "halfwidth":
    its 95% half-width, "verdict": whether it meets the target, "reason"}: "meets" / "misses" (an unbounded interval
    misses), "n/a" with NO_MIDPOINT when the gap does not exist, "n/a" when no target is set."""
    rows = []
    for name, gap in gaps.items():
        if not gap or gap[0] is None:
            rows.append({"label": name, "gap": None, "halfwidth": None, "verdict": "n/a", "reason": NO_MIDPOINT})
            continue
        lo = -math.inf if gap[1] is None else float(gap[1])
        hi = math.inf if gap[2] is None else float(gap[2])
        half = (hi - lo) / 2
        verdict = ("n/a" if target_halfwidth is None else "meets" if half <= target_halfwidth else "misses")
        rows.append({"label": name, "gap": float(gap[0]), "halfwidth": half if math.isfinite(half) else None,
                     "verdict": verdict, "reason": "no precision target for this model" if target_halfwidth is None
                     else f"half-width {half:.3g} {'<=' if verdict == 'meets' else '>'} {target_halfwidth:g} steps"})
    return rows

__all__ = ["Z95", "per_pair_spread", "halfwidth_at", "pairs_needed", "grid_spacing_needed", "reading_resolution",
           "transition_grid", "replica_row_steps", "Design", "Pilot", "design", "NO_MIDPOINT", "precision_rows"]


def _fmt3(x) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.3g}"


def precision_sentence(p: dict | None) -> str:
    """The precision a model's sizes reached on its gaps, against their target (a DiT analysis' "precision")."""
    if not p or p["target_halfwidth"] is None:
        return ""
    rows = p["gaps"]
    ok, miss = [r for r in rows if r["verdict"] == "meets"], [r for r in rows if r["verdict"] == "misses"]
    na = [r["label"] for r in rows if r["verdict"] == "n/a"]
    return (f" Precision ({p['n_pairs']} pairs, t_int grid read to ±{p['resolution']:g} step): {len(ok)} of "
            f"{len(rows)} gaps have a 95% half-width within the target {p['target_halfwidth']:g} sampler steps"
            + (f" (widest {p['widest']:.3g})" if p["widest"] is not None else "")
            + (f"; wider: {', '.join(r['label'] + ' ' + _fmt3(r['halfwidth']) for r in miss)}" if miss else "")
            + (f"; n/a, no midpoint (flat agreement curve, not imprecision): {', '.join(na)}" if na else "") + ".")
