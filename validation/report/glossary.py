"""The words of the validation report for a reader new to the project: how to read a check, and a glossary.

report.md opens with these (validation.report.run.render_markdown); every unit and symbol the checks
and figures use is defined here once.
"""
from __future__ import annotations

SOURCE_PAPER = "the source paper on replica synchronisation in diffusion transformers (arXiv 2603.20987)"

HOW_TO_READ = (
    "Each check holds a prediction against a measurement and ends in one of three verdicts. "
    "**pass** (✅): the prediction agrees with the measurement within the stated interval. "
    "**fail** (❌): it does not; failed checks stay in the report. "
    "**n/a** (➖): nothing was decided, e.g. there is nothing to compare (no prediction or no measurement), the "
    "interval is too wide to tell (it contains the value that would contradict the claim: \"not resolved\"), or "
    "the check rests on an anchor that is not established; n/a is never counted as a pass, and the *why* "
    "column says which. The interval is the measurement's own 95% bootstrap interval (resampling replica pairs or "
    "paths), the same wherever that number appears; the ± column is a stated tolerance the prediction may lie "
    "beyond it (how it was formed is listed under each table). The *claim · role* column says which finding a "
    "check bears on and why it is there: *claim* checks decide the scoreboard, *theory* checks hold this "
    "repository's own predictions, *instrument* checks show a measurement works, *control* checks run where the "
    "claim should not show; a finding's badge counts its claim checks only. Kinds of check: *agreement* "
    "(two-sided: the prediction must lie inside the interval), *bound* (one-sided, e.g. observed ≤ predicted: the "
    "whole interval must lie on the predicted side; a bound that holds is consistent with theory, not an "
    "estimate, and its distance from the observation is stated), *sign* (a quantity is > 0: the whole interval "
    "must be > 0) and *ordering* (a rank correlation such as Kendall's τ is > 0: its interval's lower end must be "
    "> 0). Sign and ordering checks are decided on the interval, never on the point estimate: an interval "
    "containing 0 is n/a (\"not resolved\"), because such data neither confirm nor contradict the claim. Among "
    "many 95% checks about one in twenty misses by chance; a miss much larger than the interval's width is a "
    "real disagreement.")

GLOSSARY = (
    ("replica pair", "two generations of the diffusion model that share their start noise; they synchronise "
     "(agree) or diverge as the reverse process commits to features."),
    ("g", "coupling (gate) strength between the two replicas; g = 0 is uncoupled."),
    ("ρ(g)", "routing factor (1 − g)/(1 + g): the factor by which pure routing coupling scales the gap; it "
     "reaches 0 at g = 1 (the gap collapses)."),
    ("η", "fitted frequency-blind contrast in gap(g) = gap0 (ρ(g) + η)/(1 + η); pure routing predicts η = 0."),
    ("gap, gap0", "difference of commitment times between the local (fine) and the global (coarse) unit, in "
     "sampler steps or OU time; > 0 means global commits first. gap0 is the gap at g = 0."),
    ("OU time", "time t of the forward Ornstein–Uhlenbeck noising process (data at t = 0, noise at large t); "
     "the reverse process runs from large t to 0."),
    ("sampler step", "one step of the diffusion model's reverse sampler (DDPM), counted from the start (pure "
     "noise, step 0) to the end; the number of steps is stated per run."),
    ("t_int", "switch-off step of Protocol I: the replicas run together (cloned or coupled) for the first t_int "
     "sampler steps, then independently to the end."),
    ("Protocol I / Protocol II", "I: couple the replicas up to t_int, then let them run freely, and measure how "
     "much the final outputs agree. II: couple them for the whole run and record the replica difference inside "
     "every layer."),
    ("cloning", "Protocol I at g = 0: the second replica is a copy of the first until t_int."),
    ("agreement", "how alike the two replicas' final outputs are: for an FHGM feature dctij the fraction of "
     "pairs whose projections on it have the same sign (chance 0.5, independent outputs); for a pooled "
     "image (pool k) 1 − |P(a − b)|² / (|P a|² + |P b|²) (chance 0 for independent outputs); 1 is identical."),
    ("commitment step τ", "the t_int (in sampler steps) at the midpoint of a logistic fit to a unit's agreement "
     "curve, halfway between its two fitted plateaus: sharing the first τ steps decides the unit. A curve that "
     "neither rises nor falls has no τ (n/a, not imprecise). (Kendall's τ, a rank correlation, is named as such.)"),
    ("reading resolution", "half the spacing of the t_int grid around the commitment steps (1 step where t_int is "
     "every 2 steps, 1.5 where every 3): intervals of commitment steps and gaps compared with a prediction are "
     "widened by it."),
    ("Kendall τ", "rank correlation between commitment step and unit order (global → local); +1 perfectly in "
     "order, 0 no order (chance), −1 reversed."),
    ("pool k", "the outputs average-pooled to a k × k image before comparing: pool 1 (the image mean) is the "
     "coarsest (global), the largest k, the full resolution, the finest (local)."),
    ("mode k (empirical)", "for a model without known features: the k-th of its outputs' leading principal "
     "directions, ordered by radial spatial frequency (mode1 the lowest); agreement as for a feature."),
    ("holds / does not hold / undecided / not testable here", "the scoreboard's verdict on a claim and model: the "
     "decisive interval wholly on the claim's side, wholly on the other side, straddling the boundary, or no "
     "measurement possible here (with the reason); rules in docs/science.md §7."),
    ("dctij", "the FHGM feature on the 2-D discrete cosine pattern of frequencies (i, j); dct01 is the lowest "
     "(global), dct67 the highest (local)."),
    ("FHGM", "frequency-hierarchy Gaussian mixture: synthetic images made of sign-random DCT features whose "
     "amplitudes fall with frequency, so the exact score is known."),
    ("window", "when Protocol I couples the replicas: release (coupled for the first t_int steps, then free; "
     "the report's default), switch-on (free, then coupled to the end) or throughout."),
    ("noise variant", "the per-step sampler noise of the two replicas: independent (the default) or shared "
     "(only the start differs)."),
    ("layer", "transformer block of the DiT, numbered from 0 at the input."),
    ("t_S, t_C", "speciation time (the process starts to choose between classes) and collapse time (it starts "
     "to copy a training point), in OU time."),
    ("φ", "cloning agreement of the exact OU theory; φ = 0.75 is the level at which crossing times are read."),
    ("critical g, collapse g", "the coupling at which the gap first falls below one sampler step, and to 0."),
)

SUITE_TITLES = {
    "ou_theory": "theory against exactly solvable Ornstein–Uhlenbeck diffusions",
    "dit_findings": "the source paper's findings on small diffusion transformers",
}

__all__ = ["GLOSSARY", "HOW_TO_READ", "SOURCE_PAPER", "SUITE_TITLES"]
