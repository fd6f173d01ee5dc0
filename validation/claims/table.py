"""Which claim each check tests and in what role: one declared table, read by every check (docs/science.md §7).

Every check of the report (validation.checks.Check) carries

- `claim`: the finding it bears on: P2.1–P2.4 (the four findings of P2, docs/science.md §1), P1.A or
  P1.B (the layer-A and layer-B predictions, §3–§4), or "none";
- `role`: why it is in the report:
  - **claim**: it decides a row of the scoreboard (a paper's claim as stated, on one model);
  - **theory**: it holds one of this repository's own derived predictions (exact-score theory or sampler,
    the ρ-law's analog) against a measurement; it can agree with the model while the paper's claim fails;
  - **instrument**: it shows that the measurement itself works (a probe reads, a suite ran);
  - **control**: it runs on a control (a model where the claim should not show, or a null set).

Both come from `ASSIGNMENTS`, a table of check-id patterns (fnmatch: `*` any text, first match wins),
and from `CONTROL_MODELS`: a check on a control model keeps its claim and takes the role "control".
A check id that no pattern matches gets claim "none" and role "unassigned", which a test forbids in a
demo-like run. A helper adding checks adds their patterns here, next to the ones reserved for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

CLAIMS = {
    "P2.1": "the gap exists without coupling (g = 0): it is intrinsic to the transformer",
    "P2.2": "the gap collapses under strong coupling",
    "P2.3": "the gap is depth-localised: it appears only in the last layers (the last ~5 of 28)",
    "P2.4": "global, low-frequency structure commits before local, high-frequency detail",
    "P1.A": "coupled OU replicas: each mode of the coupling speciates at its own time; the gap between modes",
    "P1.B": "gated replicas (the OU analog of P2's gate): feature onsets and the gap between features",
}
P2_CLAIMS = ("P2.1", "P2.2", "P2.3", "P2.4")
P1_CLAIMS = ("P1.A", "P1.B")
NONE = "none"
ROLES = ("claim", "theory", "instrument", "control")
UNASSIGNED = "unassigned"

# models on which a claim should not show; their checks take role "control" (validation.suites.dit.cells.CONTROLS)
CONTROL_MODELS = ("fhgm-flat",)


@dataclass(frozen=True)
class Assignment:
    """Check ids matching `pattern` test `claim` in `role`; `why` says so in words."""

    pattern: str
    claim: str
    role: str
    why: str


ASSIGNMENTS = (
    # a suite that crashed (validation/report/run.py)
    Assignment("*.error", NONE, "instrument", "the suite raised an error"),
    # base theory (Biroli et al.): the simulator and the exact theory agree
    Assignment("ou.base.*", NONE, "theory", "base theory of one replica against simulation"),
    Assignment("ou.collapse.*", NONE, "theory", "collapse time of the empirical score against simulation"),
    # layer A: P1's coupled OU replicas
    Assignment("ou.A.*.t_S", "P1.A", "claim", "per-mode speciation time against simulation"),
    Assignment("ou.A.*.gap", "P1.A", "claim", "gap between the modes against simulation"),
    Assignment("ou.A.*", "P1.A", "theory", "the mode-reduced exact cloning curve against simulation"),
    # layer B: gated replicas
    Assignment("ou.B.*.onset.*", "P1.B", "claim", "gated onset bound against the exact sampler"),
    Assignment("ou.B.gap_g0*", "P1.B", "claim", "gap between features at g = 0 against the exact sampler"),
    Assignment("ou.B.rho_law_support", "P2.2", "theory", "P2's rho-law in the exact analog"),
    Assignment("ou.B.critical_g", "P2.2", "theory", "the analog's critical coupling"),
    # P2.1: the gap at g = 0
    Assignment("dit.*.intrinsic_gap_sign.*", "P2.1", "claim", "sign of the cloning gap at g = 0"),
    Assignment("dit.*.intrinsic_gap.*", "P2.1", "theory", "the g = 0 gap against the exact score of the data"),
    # P2.2: collapse. Coupled cloning (--window clone) is decisive; release/switch-on measure other things
    Assignment("dit.*.bridge.*", "P2.2", "claim", "gap in a window with a g -> 0 limit"),
    Assignment("dit.*.collapse.clone.*", "P2.2", "claim", "coupled-cloning collapse gap(g)/gap(0)"),
    Assignment("dit.*.collapse.clone_gap.*", "P2.2", "claim", "coupled-cloning gap at the strongest g within one step"),
    Assignment("dit.*.rho_law_support*", "P2.2", "theory", "P2's rho-law as one hypothesis among three, g > 0"),
    Assignment("dit.*.gap_exact.*", "P2.2", "theory", "gap at g > 0 against the exact gated sampler"),
    Assignment("dit.*.gap_ratio.*", "P2.2", "theory", "gap ratio against the exact analog's"),
    # P2.3: depth
    Assignment("dit.*.depth.control.*", "P2.3", "control", "a depth control (null blocks, control model)"),
    Assignment("dit.*.depth.increment_structure", "P2.3", "instrument", "the increment measure sees structure"),
    Assignment("dit.*.depth.probe_reads_coarse", "P2.3", "instrument", "the per-layer probe reads a feature"),
    Assignment("dit.*.depth.available", "P2.3", "instrument", "the depth model loads"),
    Assignment("dit.*.depth.*", "P2.3", "claim", "where along depth the gap emerges"),
    Assignment("dit.*.causal.*", "P2.3", "claim", "coupling the last layers against random layer sets"),
    # P2.4: ordering
    Assignment("dit.*.ordering.*", "P2.4", "claim", "Kendall tau of commitment step against unit order"),
    Assignment("dit.*.commit_step.*", "P2.4", "theory", "commitment step against exact-score theory"),
    Assignment("dit.*.exact_sampler.*", NONE, "theory", "the network against the exact-score sampler"),
)


def model_of(check_id: str) -> str:
    """The model named in a DiT check id (dit.<model>.…); '' for other checks."""
    parts = check_id.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "dit" else ""


def assign(check_id: str, model: str = "") -> tuple[str, str]:
    """(claim, role) of a check id: the first matching row of ASSIGNMENTS; role "control" on a control model."""
    for a in ASSIGNMENTS:
        if fnmatchcase(check_id, a.pattern):
            claim, role = a.claim, a.role
            break
    else:
        return NONE, UNASSIGNED
    if (model or model_of(check_id)) in CONTROL_MODELS:
        role = "control"
    return claim, role


__all__ = ["CLAIMS", "P2_CLAIMS", "P1_CLAIMS", "NONE", "ROLES", "UNASSIGNED", "CONTROL_MODELS", "Assignment",
           "ASSIGNMENTS", "assign", "model_of"]
