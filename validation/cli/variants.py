"""The protocol variant flags --window, --noise and --eps (docs/protocols.md), declared once for the commands
that run Protocol I and its variants: `syncgap ou gap` (the exact analog) and `syncgap dit measure` (the DiT).

The start of a pair is x_A,B = sqrt(1 - eps^2) z +- eps zeta from one draw (z, zeta) (docs/science.md §5,
Protocol I); the windows and noises are those of ou_models.replica_run and dit_bridge.pair_run.
"""
from __future__ import annotations

import argparse

WINDOWS = ("release", "switch-on", "throughout", "clone")
NOISES = ("independent", "shared")


def add_variant_flags(p: argparse.ArgumentParser, *, window: str | None, window_default: str, eps: float | None,
                      eps_default: str, unit: str, clone_note: str = "") -> None:
    """--window (default `window`, said as `window_default`), --noise and --eps (default `eps`, said as
    `eps_default`); `unit` names what the throughout window's onsets are read on (feature, scale), `clone_note`
    what the clone window needs besides."""
    p.add_argument("--window", choices=WINDOWS, default=window,
                   help="Protocol I coupling window: release = coupled for the first t_int steps then independent "
                        f"({window_default}); switch-on = independent then coupled to the end; throughout = coupled "
                        f"all run, onsets read from the per-{unit} replica difference; clone = coupled cloning: the "
                        "coupled pair cloned at t_int, both copies run on coupled, agreement of a replica with its "
                        f"copy (at g = 0 it is cloning{clone_note}) (docs/protocols.md)")
    p.add_argument("--noise", choices=NOISES, default="independent",
                   help="per-step noise of the two replicas: independent (default) or shared (only the start differs)")
    p.add_argument("--eps", type=float, default=eps,
                   help=f"antisymmetric start sqrt(1-eps^2) z0 +- eps z1 of the pair, eps in [0, 1] (default {eps_default})")
