"""Where coupling acts on the gap: couple only a set of layers and measure the gap (issue 15, docs/protocols.md).

The causal test of docs/protocols.md "The causal test": in a variant where coupling every layer moves
the gap (gap(all) differs from gap(none) beyond its interval), couple only the last k layers, or only
the first k, and measure the gap for each; the null is random sets of k layers of the same model.
It shows where coupling acts on the gap, not where the gap emerges (an uncoupled model has its gap
whatever layers one would couple).

The gap is read in the "throughout" window (`protocols.throughout_parts`): one coupled run per pair,
per unit (the FHGM's features, or pooled scales) the onset of the normalised replica difference.
Every layer set runs on the same seeds, so the pairs (starts, noise) are the same in every run and the
shift gap(S) - gap(none) is bootstrapped jointly over pairs (`gap_shift`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from syncgap.ou_models.estimators import bootstrap
from syncgap.theory.checks import InputError, check_int

from .coupling import check_g
from .protocols import pair_labels, throughout_gap, throughout_parts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from .registry import LoadedDiT

SET_KINDS = ("last", "first", "random")


def layer_set(n_layers: int, k: int, kind: str, seed: int = 0) -> list[int]:
    """Sorted indices of k of n_layers blocks: the last k, the first k, or k drawn at random (without
    replacement) from numpy's default_rng(seed). k = 0 is no layer, k = n_layers every layer."""
    n_layers = check_int("n_layers", n_layers, 1)
    k = check_int("k", k, 0, n_layers)
    if kind not in SET_KINDS:
        raise InputError(f"kind must be one of {', '.join(SET_KINDS)}, got {kind!r}")
    if kind == "last":
        return list(range(n_layers - k, n_layers))
    if kind == "first":
        return list(range(k))
    seed = check_int("seed", seed, 0)
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n_layers, size=k, replace=False))


def layer_sets(n_layers: int, ks: Sequence[int], n_random: int, seed: int = 0) -> list[dict]:
    """The sets of the causal test: none, all, and for each k in `ks` (0 < k < n_layers) the last k, the
    first k and `n_random` random k-sets (seeds seed, seed + 1, ...). Each {"label", "kind", "k", "layers"}."""
    n_layers = check_int("n_layers", n_layers, 1)
    n_random = check_int("n_random", n_random, 0, 10**4)
    out = [{"label": "none", "kind": "none", "k": 0, "layers": []},
           {"label": "all", "kind": "all", "k": n_layers, "layers": list(range(n_layers))}]
    for k in sorted({check_int("k", k, 1, max(1, n_layers - 1)) for k in ks}):
        if k >= n_layers:
            raise InputError(f"k must be in [1, {n_layers - 1}] (k = {n_layers} is 'all'), got {k}")
        for kind in ("last", "first"):
            out.append({"label": f"{kind}{k}", "kind": kind, "k": k, "layers": layer_set(n_layers, k, kind)})
        for j in range(n_random):
            out.append({"label": f"random{k}_s{seed + j}", "kind": "random", "k": k,
                        "layers": layer_set(n_layers, k, "random", seed + j)})
    return out


def set_parts(rec: LoadedDiT, g: float, layers: Sequence[int], *, n_pairs: int, seed: int = 0, num_steps: int = 30,
              sampler: str = "ddim", noise: str = "shared", eps: float = 0.3, gate: str = "paper",
              patterns: ArrayLike | None = None, scales: Sequence[int] | None = None) -> np.ndarray:
    """(pairs, 2, units, num_steps + 1) of the throughout window with only `layers` coupled at strength g
    (`protocols.throughout_parts`; layers [] is the uncoupled pair). Same seed, same pairs in every set."""
    g = check_g("g", g)
    num_steps = check_int("num_steps", num_steps, 2, 1000)
    n_pairs = check_int("n_pairs", n_pairs, 2, 10**6)
    lab = pair_labels(rec, None, n_pairs, seed)
    if patterns is None and scales is None:
        raise InputError("set_parts needs patterns (features) or scales (pooled sizes) to read the gap on")
    return throughout_parts(rec, g, lab, n_pairs=n_pairs, seed=seed, num_steps=num_steps, sampler=sampler,
                            guidance_scale=1.0, eps=eps, gate=gate, layers=list(layers), noise=noise,
                            scales=[] if scales is None else list(scales), patterns=patterns)


def gap_shift(parts: ArrayLike, reference: ArrayLike, *, n_boot: int = 200, seed: int = 0,
              level: float = 0.1) -> dict:
    """gap(set) - gap(reference) in sampler steps, with a percentile bootstrap over pairs drawn jointly for both
    runs (the same pairs), plus each gap with its own interval. None (with the reason) where a gap has no value.

    parts, reference: (pairs, 2, units, states) of two runs on the same seeds (`set_parts`).
    """
    a, b = np.asarray(parts, float), np.asarray(reference, float)
    if a.shape != b.shape or a.ndim != 4:
        raise InputError(f"parts and reference must be two (pairs, 2, units, states) arrays of one shape, "
                         f"got {a.shape} and {b.shape}")
    joint = np.stack([a, b], 1)  # (pairs, 2 runs, 2, units, states)

    def shift(u):
        ga, gb = throughout_gap(u[:, 0], level), throughout_gap(u[:, 1], level)
        return None if ga is None or gb is None else ga - gb
    out = {}
    for name, stat in (("gap", lambda u: throughout_gap(u[:, 0], level)),
                       ("reference_gap", lambda u: throughout_gap(u[:, 1], level)), ("shift", shift)):
        iv = bootstrap(stat, joint, n_boot, seed=seed)
        ok = np.isfinite(iv.estimate)
        out[name] = float(iv.estimate) if ok else None
        out[f"{name}_low"] = float(iv.low) if ok and np.isfinite(iv.low) else None
        out[f"{name}_high"] = float(iv.high) if ok and np.isfinite(iv.high) else None
    out["reason"] = None if out["shift"] is not None else (
        "no gap without coupling" if out["reference_gap"] is None else
        "no gap with this set coupled: a unit has no onset (it never desynchronises, or no quiet phase)")
    return out


__all__ = ["SET_KINDS", "layer_set", "layer_sets", "set_parts", "gap_shift"]
