"""Coupled cloning on a coupled DiT (docs/protocols.md, window "clone"): when does the coupled system commit?

The pair starts from one noise draw (eps = 0), runs coupled at g with independent per-step noise (each
replica its own generators) to step t_int; there the *pair* is cloned: the copy (A', B') continues,
still coupled at g, on fresh noise (new generators for both rows), the original (A, B) on its own.
The agreement of replica A with its copy A' against t_int rises from chance (cloned at the start) to 1
(cloned at the end) where the coupled system has committed, with the estimators of Protocol I
(commitment.py). At g = 0 nothing is coupled and A' is cloning's B of `protocol_one(clone=True)`: the same
start, the same noise until t_int, the same fresh noise after (`clone_generators`), so the outputs agree
to float rounding (tested: projections within 1e-5).

The original is one coupled run to the end (it does not depend on t_int), so it is run once, as the
prefix to num_steps (`branches.branch_prefix`); the copies of every t_int advance together in one batch
(`branches.tail_branches`), each coupled within its own pair.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from .branches import branch_prefix, tail_branches
from .sampling import PairState, row_seed

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .branches import Branch
    from .pair_run import PairRun


def clone_generators(seed: int, n_pairs: int, t_int: int) -> list:
    """Fresh per-step generators of the copy made at t_int, rows [A'; B']: A' draws what cloning's B draws
    after its split (stream 100 + t_int of replica 1, branches.split_clone), B' its own (replica 3)."""
    return [torch.Generator().manual_seed(row_seed(seed, j, r, 100 + t_int)) for r in (1, 3) for j in range(n_pairs)]


def coupled_clone_branches(run: PairRun, t_ints: Sequence[int]) -> Iterator[Branch]:
    """Yield (i, t_int, a, a_copy) per t_int: replica A's final output (the original, (P, C, H, W)) and that of
    its copy cloned at t_int; run.window is "clone" (protocols.window_branches)."""
    steps = sorted(set(int(t) for t in t_ints) | {run.num_steps})
    snaps = branch_prefix(replace(run, eps=0.0, window="release"), steps)   # the original: one coupled run
    by_step = dict(zip(steps, snaps))
    a_final = by_step[run.num_steps].x.chunk(2)[0]
    copies = [PairState(by_step[int(t)].x.clone(), int(t), clone_generators(run.seed, run.n_pairs, int(t)))
              for t in t_ints]
    scheduler = run.scheduler()
    try:
        finals = tail_branches(run, scheduler, copies, [int(t) for t in t_ints], True)
    finally:
        run.couple(False)
    for i, (t_int, (a_copy, _)) in enumerate(zip(t_ints, finals)):
        yield i, int(t_int), a_final, a_copy


__all__ = ["coupled_clone_branches", "clone_generators"]
