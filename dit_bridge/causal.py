"""Where coupling acts on the gap: couple only a set of layers and measure the gap (docs/protocols.md).

The causal test of docs/protocols.md "The causal test": in a variant where coupling every layer moves
the gap (gap(all) differs from gap(none) beyond its interval), couple only the last k layers, or only
the first k, and measure the gap for each; the null is random sets of k layers of the same model drawn
from the layers between the two ends (`middle_sets`: a set sharing layers with an end carries part of
that end's effect).
It shows where coupling acts on the gap, not where the gap emerges (an uncoupled model has its gap
whatever layers one would couple).

Two readings of the gap, one per Protocol I window (docs/protocols.md):
- switch-on (`set_agreement`): the pair runs independently for t_int steps, then with only the set
  coupled; per pair and t_int the sign agreement of the final outputs on the FHGM's features. Coupling
  every layer moves this gap (it collapses as g grows), so the test has something to locate; the
  reference is every layer coupled at a weak g (gap(none) does not exist: uncoupled, nothing synchronises).
- throughout (`set_parts`, `gap_shift`): one coupled run per pair, per unit the onset of the normalised
  replica difference; the reference is no layer coupled.
Every layer set runs on the same seeds, so the pairs (starts, noise) are the same in every run and a
shift against the reference is bootstrapped jointly over pairs.
"""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from syncgap.ou_models.estimators import bootstrap
from syncgap.theory.checks import InputError, check_choice, check_int
from syncgap.theory.intervals import interval_fields

from .branches import branch_prefix
from .commitment import feature_agreement
from .pair_run import PAIRS_MAX, PairRun
from .protocols import read_branches
from .throughout import throughout_gap, throughout_parts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from .registry import LoadedDiT
    from .sampling import PairState

SET_KINDS = ("last", "first", "random")


def layer_set(n_layers: int, k: int, kind: str, seed: int = 0) -> list[int]:
    """Sorted indices of k of n_layers blocks: the last k, the first k, or k drawn at random (without
    replacement) from numpy's default_rng(seed). k = 0 is no layer, k = n_layers every layer."""
    n_layers = check_int("n_layers", n_layers, 1)
    k = check_int("k", k, 0, n_layers)
    check_choice("kind", kind, SET_KINDS)
    if kind == "last":
        return list(range(n_layers - k, n_layers))
    if kind == "first":
        return list(range(k))
    seed = check_int("seed", seed, 0)
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n_layers, size=k, replace=False))


def middle_sets(n_layers: int, k: int, n_random: int, seed: int = 0) -> list[list[int]]:
    """n_random distinct k-sets of 0-based block indices drawn from the blocks outside both ends (the last k and
    the first k), so the null is "k other blocks": a set sharing blocks with an end would carry part of that
    end's effect (on a 16-block model a random 5-set holding 3 of the last 5 blocks carries 3/5 of a last-5
    effect). Every such set when there are no more than n_random; none when fewer than k blocks lie between."""
    n_layers, k = check_int("n_layers", n_layers, 1), check_int("k", k, 1, n_layers)
    n_random = check_int("n_random", n_random, 0, 10**4)
    middle = list(range(k, n_layers - k))
    if len(middle) < k:
        return []
    every = [list(c) for c in itertools.combinations(middle, k)]
    if len(every) <= n_random:
        return every
    order = np.random.default_rng(check_int("seed", seed, 0)).permutation(len(every))[:n_random]
    return [every[i] for i in sorted(order)]


def layer_sets(n_layers: int, ks: Sequence[int], n_random: int, seed: int = 0) -> list[dict]:
    """The sets of the causal test: none, all, and for each k in `ks` (0 < k < n_layers) the last k, the
    first k and `n_random` random k-sets of the layers between them (`middle_sets`; fewer, or none, where
    fewer lie between: a 4-layer model has no 3-set outside its ends). Each {"label", "kind", "k", "layers"}."""
    n_layers = check_int("n_layers", n_layers, 1)
    n_random = check_int("n_random", n_random, 0, 10**4)
    out = [{"label": "none", "kind": "none", "k": 0, "layers": []},
           {"label": "all", "kind": "all", "k": n_layers, "layers": list(range(n_layers))}]
    for k in sorted({check_int("k", k, 1, max(1, n_layers - 1)) for k in ks}):
        if k >= n_layers:
            raise InputError(f"k must be in [1, {n_layers - 1}] (k = {n_layers} is 'all'), got {k}")
        for kind in ("last", "first"):
            out.append({"label": f"{kind}{k}", "kind": kind, "k": k, "layers": layer_set(n_layers, k, kind)})
        out += [{"label": f"middle{k}_{'_'.join(map(str, c))}", "kind": "random", "k": k, "layers": c}
                for c in middle_sets(n_layers, k, n_random, seed)]
    return out


def set_parts(loaded: LoadedDiT, g: float, layers: Sequence[int], *, n_pairs: int, seed: int = 0,
              num_steps: int = 30, sampler: str = "ddim", noise: str = "shared", eps: float = 0.3, gate: str = "paper",
              patterns: ArrayLike | None = None, scales: Sequence[int] | None = None) -> np.ndarray:
    """(pairs, 2, units, num_steps + 1) of the throughout window with only `layers` coupled at strength g
    (`throughout.throughout_parts`; layers [] is the uncoupled pair). Same seed, same pairs in every set."""
    run = PairRun(loaded, g=g, n_pairs=check_int("n_pairs", n_pairs, 2, PAIRS_MAX), num_steps=num_steps, seed=seed,
                  sampler=sampler, eps=eps, gate=gate, layers=list(layers), window="throughout", noise=noise)
    if patterns is None and scales is None:
        raise InputError("set_parts needs patterns (features) or scales (pooled sizes) to read the gap on")
    return throughout_parts(run, [] if scales is None else list(scales), patterns)


def set_agreement(loaded: LoadedDiT, g: float, layers: Sequence[int], t_ints: Sequence[int], *, patterns: ArrayLike,
                  n_pairs: int, seed: int = 0, num_steps: int = 20, sampler: str = "ddpm",
                  noise: str = "independent", eps: float = 0.3, gate: str = "paper",
                  prefix: Sequence[PairState] | None = None) -> np.ndarray:
    """(pairs, features, len(t_ints)) sign agreement of the pair's final outputs on `patterns` (F, D) in the
    switch-on window: independent for the first t_int steps, then only `layers` coupled at strength g.

    t_ints must hold 0 (coupled the whole run) and num_steps (never coupled): their difference says whether
    the set synchronises a feature at all. Same seed, same pairs and per-step noise in every set. prefix: the
    uncoupled branches of `shared_prefix` on the same arguments (one per t_int), shared by every set and g.
    """
    run = PairRun(loaded, g=g, n_pairs=check_int("n_pairs", n_pairs, 2, PAIRS_MAX), num_steps=num_steps, seed=seed,
                  sampler=sampler, eps=eps, gate=gate, layers=list(layers), window="switch-on", noise=noise)
    t_ints = sorted({check_int("t_int", t, 0, run.num_steps) for t in t_ints})
    if len(t_ints) < 4 or t_ints[0] != 0 or t_ints[-1] != run.num_steps:
        raise InputError(f"t_ints must hold at least 4 steps in [0, {run.num_steps}] including 0 and "
                         f"{run.num_steps}, got {t_ints}")
    reads = {"agreement": lambda a, b: feature_agreement(a, b, patterns)}   # (P, F) per t_int
    return read_branches(run, t_ints, reads, prefix)["agreement"]


def shared_prefix(loaded: LoadedDiT, t_ints: Sequence[int], *, n_pairs: int, seed: int = 0, num_steps: int = 20,
                  sampler: str = "ddpm", noise: str = "independent", eps: float = 0.3) -> list[PairState]:
    """The switch-on window's uncoupled prefix at every t_int (`branches.branch_prefix`): what every
    `set_agreement` on these arguments runs first, whatever g and layers, so computed once per model."""
    run = PairRun(loaded, n_pairs=check_int("n_pairs", n_pairs, 2, PAIRS_MAX), num_steps=num_steps, seed=seed,
                  sampler=sampler, eps=eps, window="switch-on", noise=noise)
    return branch_prefix(run, sorted({check_int("t_int", t, 0, run.num_steps) for t in t_ints}))


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
        out |= interval_fields(name, float(iv.estimate) if ok else None,
                               float(iv.low) if ok and np.isfinite(iv.low) else None,
                               float(iv.high) if ok and np.isfinite(iv.high) else None)
    if out["shift"] is None:
        out["shift_reason"] = ("no gap without coupling" if out["reference_gap"] is None else
                               "no gap with this set coupled: a unit has no onset (it never desynchronises, or no "
                               "quiet phase)")
    return out


__all__ = ["SET_KINDS", "layer_set", "middle_sets", "layer_sets", "set_parts", "set_agreement", "shared_prefix", "gap_shift"]
