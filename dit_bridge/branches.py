"""Protocol I's branching (docs/science.md §5): one prefix run once, branched at every t_int, the tails together.

The pair runs the window's prefix (release: coupled at g; switch-on: independent) once, and a snapshot
(state and generator states) is taken at every t_int, so the noise of each replica is the same for every
t_int and every g. The tails (release: independent; switch-on: coupled) of all branches advance together
in one batch, [A of all branches; B of all branches] (coupling.py's layout): branch i joins at t_int[i], and
every row keeps its own generator, so it draws the same noise as alone. Under cloning the replicas are one
trajectory (eps = 0, B's generators copy A's) until t_int, where B continues on fresh noise (`split_clone`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from syncgap.theory.checks import InputError

from .sampling import PairState, row_seed

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from diffusers import DDIMScheduler, DDPMScheduler

    from .pair_run import PairRun

    Branch = tuple[int, int, torch.Tensor, torch.Tensor]   # (i, t_int, a, b): a, b (P, C, H, W) final outputs


def join(states: Sequence[PairState]) -> PairState:
    """Branches (each rows [A; B], one step) -> one state [A of all; B of all] (coupling.py's layout)."""
    a = [s.x.chunk(2)[0] for s in states]
    b = [s.x.chunk(2)[1] for s in states]
    gens = [gn for s in states for gn in s.generators[:len(s.generators) // 2]]
    gens += [gn for s in states for gn in s.generators[len(s.generators) // 2:]]
    return PairState(torch.cat(a + b), states[0].step, gens)


def split(state: PairState, n_branches: int) -> list[PairState]:
    """Inverse of `join`: one PairState per branch."""
    a, b = state.x.chunk(2)
    m = a.shape[0] // n_branches
    half = len(state.generators) // 2
    return [PairState(torch.cat([a[i * m:(i + 1) * m], b[i * m:(i + 1) * m]]), state.step,
                      state.generators[i * m:(i + 1) * m] + state.generators[half + i * m:half + (i + 1) * m])
            for i in range(n_branches)]


def split_clone(run: PairRun, branch: PairState, t_int: int) -> PairState:
    """Under clone the replicas split at t_int: B continues on fresh noise (its own generators)."""
    if run.clone:
        branch.generators[run.n_pairs:] = [torch.Generator().manual_seed(row_seed(run.seed, j, 1, 100 + t_int))
                                           for j in range(run.n_pairs)]
    return branch


def tail_branches(run: PairRun, scheduler: DDPMScheduler | DDIMScheduler, snapshots: Sequence[PairState],
                  t_ints: Sequence[int], coupled_tail: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Advance every branch from its t_int to the end, all together: branch i joins the batch at t_int[i].

    One model call per step on the rows of all branches that have started, instead of one branch
    after another; the rows keep their own generators, so each row draws the same noise as alone.
    Returns the final (a, b) per branch, each (P, C, H, W). The caller restores the processors.
    """
    run.couple(coupled_tail)
    labels = run.row_labels
    m = len(labels) // 2

    def rows_labels(n):  # labels of n joined branches in the layout [A of all; B of all]
        return torch.cat([labels[:m]] * n + [labels[m:]] * n)
    parts, tail = [], None
    for i, t_int in enumerate(t_ints):
        if tail is not None:
            parts = split(run.advance(scheduler, tail, t_int, rows_labels(len(parts))), len(parts))
        tail = join(parts + [snapshots[i]])
        parts = parts + [snapshots[i]]
    tail = run.advance(scheduler, tail, labels=rows_labels(len(parts)))
    return [p.x.chunk(2) for p in split(tail, len(parts))]


def branch_prefix(run: PairRun, t_ints: Sequence[int]) -> list[PairState]:
    """Protocol I's prefix, run once and branched at every t_int: one PairState per t_int (x and the generators
    at that step), coupled at g in the release window, uncoupled in switch-on. An uncoupled prefix depends on
    neither g nor the coupled layers, so one serves every coupled set of a causal test
    (`protocol_one_branches(..., prefix)`)."""
    scheduler = run.scheduler()
    state = run.start()
    run.couple(run.window == "release")
    out = []
    try:
        for t_int in t_ints:
            run.advance(scheduler, state, t_int)
            out.append(split_clone(run, state.snapshot(), t_int))
    finally:
        run.couple(False)
    return out


def protocol_one_branches(run: PairRun, t_ints: Sequence[int],
                          prefix: Sequence[PairState] | None = None) -> Iterator[Branch]:
    """Yield (i, t_int, a, b) for each t_int: the pair's final outputs a, b (P, C, H, W) after the window
    (release: coupled for the first t_int steps, independent after; switch-on: the reverse).

    The prefix is run once and branched at every t_int (`branch_prefix`); run.batched advances all tails
    together (`tail_branches`), else one after another (the same numbers to float rounding). The model's
    processors are restored however the loop ends. prefix: the switch-on window's uncoupled branches from
    `branch_prefix` on the same run (copied, not advanced), instead of running them again.
    """
    if prefix is not None and (run.window != "switch-on" or not run.batched or len(prefix) != len(t_ints)):
        raise InputError("prefix serves the batched switch-on window only, one branch per t_int")
    if not run.batched:
        yield from _serial_branches(run, t_ints)
        return
    scheduler = run.scheduler()
    snapshots = [p.snapshot() for p in prefix] if prefix is not None else branch_prefix(run, t_ints)
    try:
        finals = tail_branches(run, scheduler, snapshots, list(t_ints), run.window != "release")
    finally:
        run.couple(False)
    for i, (t_int, (a, b)) in enumerate(zip(t_ints, finals)):
        yield i, t_int, a, b


def _serial_branches(run: PairRun, t_ints: Sequence[int]) -> Iterator[Branch]:
    """`protocol_one_branches` one branch after another: the prefix advances to each t_int, each tail alone."""
    scheduler = run.scheduler()
    coupled_prefix = run.window == "release"
    state = run.start()
    try:
        run.couple(coupled_prefix)
        for i, t_int in enumerate(t_ints):
            run.advance(scheduler, state, t_int)  # prefix, shared by every branch
            branch = split_clone(run, state.snapshot(), t_int)
            run.couple(not coupled_prefix)
            branch = run.advance(scheduler, branch)
            run.couple(coupled_prefix)
            a, b = branch.x.chunk(2)
            yield i, t_int, a, b
    finally:
        run.couple(False)


__all__ = ["join", "split", "split_clone", "tail_branches", "branch_prefix", "protocol_one_branches"]
