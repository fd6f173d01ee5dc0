"""The DiT suite's cells computed by forked workers (validation.cell_workers through findings.submit_model) are the
cells computed in this process, every number bit for bit, the calibrated analog included (it reads its gate)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import pytest

from syncgap.validation.cell_workers import CellWorkers
from syncgap.validation.suites.dit.measure import finished, measure_model, submit_model
from syncgap.validation.suites.dit.settings import Runtime, Settings

SMALL = Settings(num_steps=6, n_pairs=2, t_ints=(0, 2, 4, 6), g_grid=(0.0, 0.5, 2.0), n_boot=10, ou_paths=10,
                 gate_pairs=2, variants=(("release", "independent", "ddpm"),))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers are forked: Linux only")
def test_worker_cells_equal_this_process_cells_bit_for_bit(tmp_path, monkeypatch):
    """No worker starts before every cell up to the gates is submitted (the pool forks only when waited on), so a
    compute that reads a loop variable late (the sign model, rebound to the fp32 model by the last p1 cell) runs
    with the wrong value and its cell differs from the one computed at once in this process."""
    here, forked = str(tmp_path / "here"), str(tmp_path / "forked")
    settings = replace(SMALL, fp32_cells=(("p1", 2.0),))   # the last sign model bound in the loop: fp32
    one = measure_model("fhgm", here, settings, dtype="bf16")
    pump = CellWorkers._pump
    monkeypatch.setattr(CellWorkers, "_pump", lambda self, block=False: pump(self, block) if block else None)
    said = []
    with CellWorkers(2) as pool:
        two = finished(submit_model("fhgm", forked, settings, Runtime(dtype="bf16"), said.append, pool), pool)
    assert one["cells"].keys() == two["cells"].keys()
    kinds = {k for k, _ in one["cells"]}
    assert {"clone", "p1", "p1_clone", "exact_p1", "gate", "calib_p1", "calib_p1_clone", "ou"} <= kinds
    for key, (path, record, reused) in two["cells"].items():
        assert not reused and os.path.dirname(path).startswith(forked)
        mine = one["cells"][key][1]
        assert record["config"] == mine["config"] and record["key"] == mine["key"]
        assert json.dumps(record["result"], sort_keys=True) == json.dumps(mine["result"], sort_keys=True), key
    done = [m.split(": ", 1)[1].split(" done")[0] for m in said if " done " in m]
    assert len(done) == len(two["cells"])   # every cell said once, as it finished
    monkeypatch.undo()
    with CellWorkers(2) as pool:    # a rerun reuses every cell, forking nothing
        again = finished(submit_model("fhgm", forked, settings, Runtime(dtype="bf16"), said.append, pool), pool)
    assert all(reused for _, _, reused in again["cells"].values())
