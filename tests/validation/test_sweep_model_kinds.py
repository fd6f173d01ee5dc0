"""Sweep kinds on the OU engine and the coupled DiT (validation/sweep/model_cells.py): one tiny cell each
through the local runner, rolled up into the results table; bad fields rejected by name before any work;
the driver imports neither torch nor numba to expand and check a sweep of them."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from syncgap.theory.checks import InputError
from syncgap.validation.sweep import expand, load_table, run_sweep
from syncgap.validation.sweep.kinds import KINDS, check_params

ROOT = Path(__file__).resolve().parents[2]
OU_BASE = {"d": 4, "samples": 200, "T": 5.0, "steps": 100, "n_boot": 20}
CASES = {
    "ou.gap": {"base": {**OU_BASE, "d": 3, "samples": 300, "T": 6.0, "steps": 150, "amplitudes": [20.0, 4.0],
                        "t_ints": 10}, "grid": {"g": [10.0], "seed": [1]}},
    "ou.cloning": {"base": {**OU_BASE, "d": 16, "samples": 400, "branches": 10}, "grid": {"seed": [2]}},
    "dit.protocol1": {"base": {"model": "tiny", "n_pairs": 2, "num_steps": 4, "n_t_int": 5, "n_boot": 10},
                      "grid": {"g": [0.5], "seed": [3]}},
}


def _only_result(out):
    recs = [json.loads(p.read_text()) for p in sorted((out / "cells").rglob("*.json"))]
    assert len(recs) == 1
    return recs[0]["result"]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_runs_once_through_the_local_runner_and_rolls_up(kind, tmp_path):
    summary = run_sweep(expand({"kind": kind, **CASES[kind]}), tmp_path, workers=1)
    assert summary.complete
    res = _only_result(tmp_path)
    rows = load_table(tmp_path)
    assert len(rows) == 1
    if kind == "ou.gap":
        # strong gate, features of amplitude 20 and 4: the strong one commits first (larger OU time) and
        # the gap is near log(20/4) = 1.61, the CLI's gap_log_amplitude_ratio (docs/science.md §4)
        assert res["tau0"] > res["tau1"] > 0
        assert res["gap1_low"] <= res["gap1"] <= res["gap1_high"]
        assert abs(res["gap1"] - math.log(5.0)) < 0.3 and res["gap1_dit_steps"] > 0
    elif kind == "ou.cloning":
        # phi = 0.75 crossing near the speciation time 1/2 log(d + 1) = 1.42 (docs/science.md §2)
        assert abs(res["t_speciation"] - res["t_speciation_theory"]) < 0.5
        assert len(res["agreement"]) == len(res["t_branch"]) == 10
    else:
        assert res["model"] == "tiny" and res["scales"] and "gap" in res
        assert all(f"tau_s{s}" in res for s in res["scales"])


@pytest.mark.parametrize("kind, bad, field", [
    ("ou.gap", {"g": -0.5}, "g"), ("ou.gap", {"amplitudes": []}, "amplitudes"),
    ("ou.gap", {"amplitudes": [3.0, float("nan")]}, "amplitudes[1]"), ("ou.gap", {"steps": 1}, "steps"),
    ("ou.gap", {"scheme": "rk4"}, "scheme"), ("ou.cloning", {"d": 0}, "d"), ("ou.cloning", {"seed": -1}, "seed"),
    ("ou.cloning", {"samples": "many"}, "samples"), ("dit.protocol1", {"g": float("inf")}, "g"),
    ("dit.protocol1", {"model": ""}, "model"), ("dit.protocol1", {"n_pairs": 1}, "n_pairs"),
    ("dit.protocol1", {"n_t_int": 9}, "n_t_int"), ("dit.protocol1", {"device": "tpu"}, "device"),
    ("dit.protocol1.cuda", {"sampler": "euler"}, "sampler"),
])
def test_check_names_the_bad_field(kind, bad, field):
    params = {**CASES.get(kind, CASES["dit.protocol1"])["base"], "g": 0.5, "seed": 0, **bad}
    if kind == "ou.cloning":
        params.pop("g")
    with pytest.raises(InputError) as e:
        check_params(kind, params)
    assert str(e.value).split()[0].startswith(field)


def test_cuda_kind_asks_for_a_gpu_and_the_cpu_kind_does_not():
    assert KINDS["dit.protocol1.cuda"].gpu and not KINDS["dit.protocol1"].gpu
    assert not KINDS["ou.gap"].gpu


def test_driver_expands_and_checks_without_torch_or_numba():
    code = ("import sys, json\n"
            "from validation.sweep import expand\nfrom validation.sweep.kinds import check_params\n"
            f"cases = json.loads({json.dumps(CASES)!r})\n"
            "for kind, c in cases.items():\n"
            "    for cell in expand({'kind': kind, **c}).cells:\n"
            "        check_params(cell.kind, cell.params)\n"
            "print(sorted(m for m in ('torch', 'numba', 'diffusers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
