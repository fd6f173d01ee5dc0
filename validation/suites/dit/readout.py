"""How a gap is read off Protocol I cells honestly: the end-of-grid column, null reasons, missing resamples.

- **Switch-on never reads t_int = num_steps.** Switched on at t_int = num_steps the pair is never coupled: its
  agreement is chance by construction, whatever the dynamics. A curve that stays at 1 for every t_int < num_steps
  and drops only there would put a "midpoint" between the last two t_int of every feature and a gap of 0: an
  end-of-grid artefact (for the analog with a gated read-out, the one-step identity, ou_models.analog). So the
  switch-on window is read on t_int < num_steps only (`readable_cells`).
- **A flat curve is null, with its reason** (`null_reason`): a feature whose agreement does not fall (switch-on)
  or rise (release, cloning) by dit_bridge.commitment's min_contrast over the t_int read has no commitment time;
  at 1 throughout it is synchronised at every t_int (coupling can still overturn it at the end). Its gap is
  null with that reason, never 0.
- **Missing resamples** (dit_analysis.missing_fraction): a midpoint interval is n/a when more than
  dit_analysis.MAX_MISSING of its bootstrap resamples have no midpoint; the fraction is reported beside it.
"""
from __future__ import annotations

import numpy as np

from syncgap.dit_bridge.commitment import commitment_time
from syncgap.theory.intervals import interval_fields, read_triple

from syncgap.validation.suites.dit import analysis as dit_analysis

MIN_CONTRAST = 0.05   # dit_bridge.commitment.commitment_time's default: the least rise or fall of a curve


def readable_cells(cells, window: str, num_steps: int):
    """cells [(g, t, a (P, U, T))] as read in `window`: switch-on drops the column t_int = num_steps."""
    if window != "switch-on":
        return cells
    out = []
    for g, t, a in cells:
        keep = np.asarray(t) < num_steps
        out.append((g, np.asarray(t)[keep], np.asarray(a)[:, :, keep]))
    return out


def null_reason(t, a, direction: str = "rising") -> str | None:
    """Why the gap of a (P, U, T) (first and last unit) has no value, or None when both units have a midpoint."""
    t = np.asarray(t, float)
    names = {0: "the first unit", 1: "the last unit"}
    for i, c in enumerate(np.asarray(a, float)[:, [0, -1]].mean(0)):
        if commitment_time(t, c, direction=direction) is not None:
            continue
        if c.min() >= 1.0 - MIN_CONTRAST:
            return (f"{names[i]}'s agreement is flat at 1 (min {c.min():.3f}) over t_int {t[0]:g}..{t[-1]:g}: "
                    "synchronised at every t_int read, no commitment time (null, not 0)")
        verb = "fall" if direction == "falling" else "rise"
        return (f"{names[i]}'s agreement does not {verb} by {MIN_CONTRAST:g} over t_int {t[0]:g}..{t[-1]:g} "
                "(flat curve): no commitment time")
    return None


def gap_readings(cells, n_boot: int, seed: int = 0, direction: str = "rising") -> dict:
    """{g: {"gap", "gap_low", "gap_high" (theory.intervals), "gap_reason": why n/a (only when it is),
    "missing": fraction of resamples without a gap}}."""
    out = {}
    for g, t, a in cells:
        c = dit_analysis.commitment(t, a[:, [0, -1]], n_boot, seed, direction)
        reason = null_reason(t, a, direction) if c["gap"] is None else None
        miss = c["missing"]["gap"]
        if reason is None and miss > dit_analysis.MAX_MISSING:
            reason = (f"{100 * miss:.0f}% of the bootstrap resamples have no midpoint (more than "
                      f"{100 * dit_analysis.MAX_MISSING:.0f}%): interval n/a")
        out[g] = {**interval_fields("gap", *read_triple(c, "gap"), reason), "missing": miss}
    return out


__all__ = ["readable_cells", "null_reason", "gap_readings", "MIN_CONTRAST"]
