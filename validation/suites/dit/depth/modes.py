"""P2's own depth measure in the depth suite: per-layer mode energies of the replica difference between exact ends.

    modes_record(run) -> the cell's part (pair-blocked energies of dit_bridge.layer_modes.StateRecorder)
    analyse_modes(cell, labels, generated, n_boot, seed) -> depth.json's "layer_modes" block
    modes_text(a) -> one sentence for the report

The gap's ends are read where the exact output commits: the coarse end is the coarsest generated feature,
the fine end the finest generated feature whose replica difference at the exact posterior mean rises
(layer_modes.commitment_fit); a finer feature whose exact-output difference never rises does not
desynchronise in this shared-noise run, so it has no commitment step at any layer, and is named as left out.
"""
from __future__ import annotations

import numpy as np

from syncgap.dit_bridge.layer_modes import layer_mode_commitment, pair_blocks, state_names
from syncgap.theory.intervals import interval_keys, list_fields, read_triples

N_UNITS = 32   # pair blocks kept in the cell (the bootstrap's units)


def modes_record(run: dict) -> dict:
    """The layer-mode part of a depth cell from a depth_run result: energies summed over N_UNITS pair blocks."""
    return {"state_energies": pair_blocks(run["state_energies"], N_UNITS).astype(np.float32),
            "timesteps": np.asarray(run["timesteps"]),   # groups: the features, then global and local
            "bayes_accuracy": np.asarray(run["bayes_accuracy"])}


def _gap_ends(exact_tau: list, generated: list[int]) -> tuple[int, int | None, list[int]]:
    """(coarse, fine or None, left-out finer features): the gap's ends from the exact endpoint's commitment steps
    (one estimate per group)."""
    coarse = generated[0]
    rising = [k for k in generated if exact_tau[k] is not None]
    fine = rising[-1] if rising and rising[-1] != coarse else None
    left = [k for k in generated if k > (coarse if fine is None else fine)]
    return coarse, fine, left


def analyse_modes(cell: dict, labels: list[str], generated: list[int] | None, n_boot: int, seed: int) -> dict:
    """Curves q (states, groups, steps), per state and feature the commitment step and sharpness with intervals,
    and per state the gap tau(fine) - tau(coarse) (see the module docstring for the ends)."""
    e = np.asarray(cell["state_energies"], float)   # (S, states, U, G, 2)
    steps = np.asarray(cell["steps"], float)
    n_feat = len(labels)
    generated = list(range(n_feat)) if not generated else list(generated)
    n_layers = e.shape[1] - 4
    first = layer_mode_commitment(steps, e[:, -1:], coarse=0, fine=0, groups=generated, n_boot=10, seed=seed)
    coarse, fine, left = _gap_ends(first["tau"][0], generated)
    r = layer_mode_commitment(steps, e, coarse=coarse, fine=coarse if fine is None else fine,
                              groups=list(range(n_feat)), n_boot=n_boot, seed=seed)
    gap = {k: r[k] for k in interval_keys("gap")} if fine is not None else list_fields("gap", [None] * e.shape[1])
    return {"states": state_names(n_layers), "groups": list(labels) + ["global", "local"], "steps": steps,
            "timesteps": cell["timesteps"], "q": r["q"], **{k: r[k] for k in interval_keys("tau")},
            **{k: r[k] for k in interval_keys("sharpness")}, **gap,
            "coarse": labels[coarse], "fine": None if fine is None else labels[fine],
            "left_out": [labels[k] for k in left], "n_units": e.shape[2]}


def _iv(x) -> str:
    return "none" if x[0] is None else (f"{x[0]:.2f} [{'-' if x[1] is None else f'{x[1]:.2f}'}, "
                                        f"{'-' if x[2] is None else f'{x[2]:.2f}'}]")


def modes_text(a: dict) -> str:
    """One sentence: commitment steps at the two exact ends and at the first and last block, and the gap."""
    lm = a["layer_modes"]
    k = lm["groups"].index(lm["coarse"])
    tau, gaps = read_triples(lm, "tau"), read_triples(lm, "gap")    # per state (and group)
    ends = (f"{lm['coarse']}'s replica difference commits (logistic midpoint, sampler steps) at x_t "
            f"{_iv(tau[0][k])}, after block 1 {_iv(tau[2][k])}, after the last block "
            f"{_iv(tau[-3][k])}, at the network's x0_hat {_iv(tau[-2][k])} and at the exact posterior "
            f"mean {_iv(tau[-1][k])}")
    if lm["fine"] is None:
        gap = (f"; no finer generated feature's difference rises at the exact output ({', '.join(lm['left_out'])}"
               " never desynchronise in this shared-noise run), so the per-layer gap has no value")
    else:
        gap = (f"; per-layer gap tau({lm['fine']}) - tau({lm['coarse']}) at x_t {_iv(gaps[0])}, after the last "
               f"block {_iv(gaps[-3])}, exact output {_iv(gaps[-1])}"
               + (f" ({', '.join(lm['left_out'])} never desynchronise: left out)" if lm["left_out"] else ""))
    return f"P2's own measure (per-layer mode energies of the replica difference): {ends}{gap}."


__all__ = ["N_UNITS", "modes_record", "analyse_modes", "modes_text"]
