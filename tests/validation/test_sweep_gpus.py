"""Several GPUs: a DiT sweep spread over one worker per (pretend) GPU, then resumed (docs/gpus.md).

On this CPU machine `gpu_cluster(devices=["0", "1"])` starts the cluster the GPU machine would get:
one single-threaded worker per device with its own CUDA_VISIBLE_DEVICES and the resource GPU=1. The
cells are the tiny DiT's Protocol I on the CPU under a kind marked gpu=True, so the runner submits
them with resources={"GPU": 1} exactly as the `dit.protocol1.cuda` cells of the real experiment.
"""
import json
import os
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from syncgap.validation.sweep import KINDS, Kind, expand, model_cells, run_sweep  # noqa: E402
from syncgap.validation.sweep.gpus import gpu_cluster  # noqa: E402


def _cells(out):
    return {p.stem: json.loads(p.read_text()) for p in (Path(out) / "cells").glob("*.json")}


@pytest.mark.slow
def test_dit_cells_spread_over_one_worker_per_gpu_and_resume(tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, "test.dit_gpu", Kind(model_cells.dit_protocol1_cell, check=model_cells.dit_protocol1_params,
                                                    gpu=True))
    sweep = expand({"kind": "test.dit_gpu", "base": {"model": "tiny", "num_steps": 4, "n_pairs": 2, "n_t_int": 4,
                                                     "n_boot": 10},
                    "grid": {"g": [0.0, 0.5, 1.0, 2.0], "seed": [0]}})
    out = tmp_path / "p2"
    with gpu_cluster(devices=["0", "1"]) as cluster, distributed.Client(cluster) as client:
        envs = client.run(lambda: (os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("OMP_NUM_THREADS")))
        assert sorted(envs.values()) == [("0", "1"), ("1", "1")]  # one device per worker, one thread each
        info = client.scheduler_info(n_workers=-1)["workers"].values()
        assert sorted(w["resources"].get("GPU") for w in info) == [1, 1]
        first = run_sweep(sweep, out, client=client)
        assert first.complete and first.done == 4 and first.workers == 2
        cells = _cells(out)
        assert len({c["provenance"]["pid"] for c in cells.values()}) == 2  # both GPUs' workers ran cells
        lost = sweep.cells[2].key
        (out / "cells" / f"{lost}.json").unlink()  # a sweep stopped before this cell finished
        again = run_sweep(sweep, out, client=client)
    assert again.complete and again.skipped == 3 and again.done == 1
    resumed = _cells(out)
    assert resumed.keys() == cells.keys()
    for key in cells:  # the recomputed cell's numbers are bitwise those of the first run
        assert json.dumps(resumed[key]["result"], sort_keys=True) == json.dumps(cells[key]["result"], sort_keys=True)


def test_gpu_cluster_refuses_without_gpus():
    from syncgap.theory.checks import InputError
    with pytest.raises(InputError, match="no GPU is visible here"):
        gpu_cluster(devices=[])
    with pytest.raises(InputError, match="n_gpus=3 but 2 GPU"):
        gpu_cluster(3, devices=["0", "1"])
