"""The scoreboard that opens the report: each claim on each model, as holds / does not hold / undecided /
not testable here, with its decisive checks and one sentence of why (docs/science.md §7).

    rows = scoreboard(checks, facts)          # checks: Check records or their JSON dicts
    lines = scoreboard_markdown(rows)         # report.md's first table, P1's block and the caveats

`facts[model]` holds what the checks do not: the units' labels and family, the number of layers,
the quality gate (validation/suites/dit/findings.py and causal.py return them). The decisive
checks of each claim are found by id (their patterns in validation/claims/table.py) and decided by the rules
of validation/claims/rules.py.
"""
from __future__ import annotations

import math
import re

from syncgap.validation.claims import rules
from syncgap.validation.claims.table import CLAIMS, CONTROL_MODELS, P1_CLAIMS, P2_CLAIMS, model_of
from syncgap.validation.checks import check_interval

CAVEATS = (
    "P1 and P2 are known here from their abstracts and from secondary digests only; their full texts were not "
    "read (docs/science.md §1). What is marked [digest] there is a hypothesis, not P2's stated method.",
    "P2's protocol is not known: which window, noise and sampler variant it used is not recovered "
    "(docs/science.md §8); the suite's windows measure different quantities (docs/protocols.md).",
    "DiT-XL/2, the model of P2, was never run here: it is not shipped and not downloadable in the tests "
    "(docs/science.md §6). Every verdict above is on the small models this machine can run.",
    "P2 reports a gap of about 39–41 sampler steps on DiT-XL/2 (the step count of its sampler not recovered) "
    "[digest]; the FHGM-DiT's gap here is about 11.5 of 30 DDPM steps (docs/science.md §5, §8). The numbers are "
    "not comparable as they stand.",
)


def _d(c) -> dict:
    """A check as its JSON dict, with its model filled from the id where the record has none."""
    d = c if isinstance(c, dict) else c.to_json()
    return d if d.get("model") else {**d, "model": model_of(d["id"])}


def _g_of(check_id: str) -> float | None:
    m = re.search(r"\.g([0-9.eE+-]+)$", check_id)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def _models(checks: list[dict], facts: dict) -> list[str]:
    """The DiT models with a claim or theory check (a depth control's model carries only its control check: no row)."""
    seen = [c["model"] for c in checks if c["id"].startswith("dit.") and c["model"] and c.get("role") != "control"]
    return list(dict.fromkeys(seen + [m for m in facts if facts[m].get("dit")]))


def _units_check(by_id: dict, m: str, kind: str, fam: str | None):
    """The decisive check of `kind` on the model's own units: its primary family, else features, else scales."""
    for f in [fam, "features", "modes", "scales"]:
        if f and f"dit.{m}.{kind}.{f}" in by_id:
            return by_id[f"dit.{m}.{kind}.{f}"]
    return None


def _row(claim: str, model: str, v: rules.ClaimVerdict, checks: list[str]) -> dict:
    return {"claim": claim, "statement": CLAIMS[claim], "model": model, "verdict": v.verdict, "why": v.why,
            "checks": checks}


def _p2_1(by_id, m, f, control: str) -> dict:
    c = _units_check(by_id, m, "intrinsic_gap_sign", f.get("family"))
    exact = by_id.get(f"dit.{m}.intrinsic_gap.exact")
    if c is None:
        return _row("P2.1", m, rules.ClaimVerdict(rules.NOT_TESTABLE, "no cloning gap at g = 0 in this report: "
                                                  "the findings suite (dit) did not run on this model"), [])
    reason = (f"control model ({control}): its gap, {rules.interval_text(c['observed'], check_interval(c))} steps, is "
              "what the network adds, not the claim" if control else "")
    v = rules.gap_without_coupling(c["observed"], check_interval(c), not_testable=reason)
    v = rules.ClaimVerdict(v.verdict, f"{v.why} ({_units_words(f, c)})")
    if exact is not None and exact.get("predicted") is not None:
        v = rules.ClaimVerdict(v.verdict, f"{v.why}; the data's exact score alone gives {exact['predicted']:.3g} "
                               "steps on the same units")
    return _row("P2.1", m, v, [c["id"]] + ([exact["id"]] if exact else []))


def _units_words(f: dict, c: dict) -> str:
    """The units a check was read on, and their space: 'features, pixel space'."""
    family = c["id"].rsplit(".", 1)[-1]
    return family + (f", {f['space']} space" if f.get("space") else "")


def _p2_2(by_id, m, f) -> dict:
    gaps = {g: c for i, c in by_id.items() if i.startswith(f"dit.{m}.collapse.clone_gap.") and (g := _g_of(i)) is not None}
    anchor = _units_check(by_id, m, "intrinsic_gap_sign", f.get("family"))
    if not gaps:
        return _row("P2.2", m, rules.ClaimVerdict(rules.NOT_TESTABLE, "coupled-cloning window not yet run "
                    "(`--window clone`): release and switch-on have no g → 0 limit and cannot decide a collapse "
                    "(docs/protocols.md)"), [])
    g = max(gaps)
    gap, ratio = gaps[g], by_id.get(f"dit.{m}.collapse.clone.g{g:g}")
    v = rules.collapse_under_coupling(None if anchor is None else check_interval(anchor), gap["observed"],
                                      check_interval(gap), None if ratio is None else ratio["observed"],
                                      None if ratio is None else check_interval(ratio), g=g)
    return _row("P2.2", m, v, [x["id"] for x in (anchor, gap, ratio) if x is not None])


def _p2_3(checks, m, f, layers) -> dict:
    k = math.ceil(5 * layers / 28) if layers else None
    mine = [c for c in checks if c.get("model") == m and c["claim"] == "P2.3" and c["role"] == "claim"]
    decisive = [c for c in mine if ".causal." not in c["id"] or k is None or c["id"].endswith(f".last{k}_beyond_random")]
    controls = [c for c in checks if c["claim"] == "P2.3" and c["role"] == "control"]
    failed = [c["id"] for c in controls if c["verdict"] == "fail"]
    gate = f.get("gate_passed")
    why = ("a control fails: " + ", ".join(failed) if failed else
           "the model misses its quality gate" if gate is False else "")
    v = rules.last_layer_localisation([(c["id"], c["verdict"]) for c in decisive], not_testable=why)
    if decisive and v.verdict != rules.NOT_TESTABLE:   # each decisive check's own reason, in its words
        v = rules.ClaimVerdict(v.verdict, f"{v.why}; " + "; ".join(f"{c['id']}: {c['reason']}" for c in decisive
                                                                 if c.get("reason")))
    if k is not None and v.verdict != rules.NOT_TESTABLE:
        v = rules.ClaimVerdict(v.verdict, f"{v.why} (P2's last ~5 of 28 is the last {k} of {layers} here)")
    return _row("P2.3", m, v, [c["id"] for c in decisive] + [c["id"] for c in controls])


def _p2_4(by_id, m, f, control: str) -> dict:
    c = _units_check(by_id, m, "ordering", f.get("family"))
    if c is None:
        return _row("P2.4", m, rules.ClaimVerdict(rules.NOT_TESTABLE, "no commitment order in this report: the "
                                                  "findings suite (dit) did not run on this model"), [])
    units = f.get("units") or []
    gate = f.get("gate_passed")
    why = "the control model missed its quality gate" if control and gate is False else ""
    v = rules.global_before_local(c["observed"], check_interval(c), n_units=len(units) if units else 3, not_testable=why)
    v = rules.ClaimVerdict(v.verdict, f"{v.why} ({_units_words(f, c)})")
    if control and v.verdict != rules.NOT_TESTABLE:
        v = rules.ClaimVerdict(v.verdict, f"{v.why} (control, {control}: an order here is the network's own)")
    return _row("P2.4", m, v, [c["id"]])


def scoreboard(checks, facts: dict | None = None) -> list[dict]:
    """Rows {claim, statement, model, verdict, why, checks}: P2.1–P2.4 per DiT model, then P1.A, P1.B."""
    checks = [_d(c) for c in checks]
    facts = facts or {}
    by_id = {c["id"]: c for c in checks}
    rows = []
    for m in _models(checks, facts):
        f = facts.get(m, {})
        control = f.get("control") or ("control model" if m in CONTROL_MODELS else "")
        untestable = f.get("untestable") or {}
        for row in (_p2_1(by_id, m, f, control), _p2_2(by_id, m, f), _p2_3(checks, m, f, f.get("layers")),
                    _p2_4(by_id, m, f, control)):
            why = untestable.get(row["claim"])
            if why and (f.get("random_weights") or row["verdict"] == rules.NOT_TESTABLE):
                row = {**row, "verdict": rules.NOT_TESTABLE, "why": why}
            rows.append(row)
    for claim in P1_CLAIMS:
        mine = [c for c in checks if c["claim"] == claim and c["role"] == "claim"]
        rows.append(_row(claim, "exact OU replicas", rules.many_checks([c["verdict"] for c in mine]),
                         [c["id"] for c in mine]))
    return rows


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


MARK = {rules.HOLDS: "🟢", rules.NOT_HOLD: "🔴", rules.UNDECIDED: "🟡", rules.NOT_TESTABLE: "⚪"}


def _checks_text(ids: list[str]) -> str:
    if not ids:
        return "–"
    shown = ", ".join(f"`{i}`" for i in ids[:3])
    return shown + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def scoreboard_markdown(rows: list[dict]) -> list[str]:
    """report.md's opening: the P2 table (claims × models), P1's block, the caveats and where the rules are."""
    head = ["| claim | model | verdict | decisive checks | why |", "|---|---|---|---|---|"]

    def table(claims):
        return head + [f"| **{r['claim']}** {_cell(r['statement'])} | {_cell(r['model'])} | {MARK[r['verdict']]} "
                       f"{r['verdict']} | {_checks_text(r['checks'])} | {_cell(r['why'])} |"
                       for r in rows if r["claim"] in claims]
    p2 = table(P2_CLAIMS)
    lines = ["## Scoreboard: does each claim hold here?", ""]
    lines += (p2 if len(p2) > 2 else ["No DiT model was run: P2's claims are not testable in this report.", ""])
    lines += ["", "P1's predictions (layers A and B, checked on exactly solvable OU replicas):", ""]
    lines += table(P1_CLAIMS) + ["", "Caveats:", ""] + [f"- {c}" for c in CAVEATS]
    lines += ["", "Verdicts: **holds**, **does not hold**, **undecided** (an interval straddles the rule's "
              "boundary: more pairs would decide), **not testable here** (with the reason). The rules, one per "
              "claim, are in docs/science.md §7 and validation/claims/rules.py; which checks decide which claim is "
              "the table of validation/claims/table.py (each check's `claim` and `role` columns below).", ""]
    return lines


__all__ = ["scoreboard", "scoreboard_markdown", "CAVEATS"]
