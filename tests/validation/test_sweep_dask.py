"""Sweeps on a Dask LocalCluster (2 worker processes, one per test module): determinism, GPU resources, a killed worker."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from syncgap.theory.checks import InputError  # noqa: E402
from syncgap.validation.sweep import KINDS, Kind, cells, expand, run_sweep  # noqa: E402
from syncgap.validation.sweep.runners import QUIET_CLUSTER, dask_worker_env, local_cluster  # noqa: E402

CLONING = {"kind": "mc.cloning", "base": {"d": 6, "n_samples": 100, "T": 3.0, "dt": 0.1},
           "grid": {"t_clone": [0.3, 1.0, 2.0], "seed": [0, 7]}}


@pytest.fixture(scope="module")
def client():
    # allowed-failures 0: a task whose worker dies fails at once (KilledWorker) instead of being
    # retried, so the killed-worker test leaves the sweep incomplete and the rerun must finish it.
    # Every worker advertises one (pretend) GPU so GPU-kind cells can be scheduled.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = local_cluster(2, resources={"GPU": 1})
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


class Recording:
    """A client that records submit() options and can pin every task to some workers."""

    def __init__(self, client, pin=None, hide_gpus=False):
        self.client, self.pin, self.hide_gpus, self.submits = client, pin, hide_gpus, []

    def submit(self, *args, **kwargs):
        self.submits.append(kwargs)
        if self.pin:
            kwargs = {**kwargs, "workers": self.pin, "allow_other_workers": False}
        return self.client.submit(*args, **kwargs)

    def scheduler_info(self, **kw):
        info = self.client.scheduler_info(**kw)
        if self.hide_gpus:
            for w in info["workers"].values():
                w["resources"] = {}
        return info

    def __getattr__(self, name):
        return getattr(self.client, name)


def _results(out):
    return {p.stem: json.loads(p.read_text()) for p in (Path(out) / "cells").glob("*.json")}


def _start_environ():
    """The environment this worker process was started with (not what was set after)."""
    with open("/proc/self/environ", "rb") as f:
        pairs = (item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        return {k.decode(): v.decode() for k, v in pairs}


def test_workers_start_single_threaded(client):
    want = dask_worker_env()
    envs = client.run(lambda: {k: os.environ.get(k) for k in want})
    assert len(envs) == 2 and all(env == want for env in envs.values())
    if os.path.exists("/proc/self/environ"):                 # set before the interpreter started
        for env in client.run(_start_environ).values():
            assert {k: env.get(k) for k in want} == want
    assert want["MALLOC_TRIM_THRESHOLD_"] == os.environ.get("MALLOC_TRIM_THRESHOLD_", "4194304")  # not Dask's 64 KiB
    assert all(cfg == QUIET_CLUSTER for cfg in client.run(_quiet_settings).values())   # profiler off etc.


def _quiet_settings():
    import dask
    return {k: dask.config.get(k) for k in QUIET_CLUSTER}


def test_same_seed_same_numbers_across_runs_and_worker_counts(client, tmp_path):
    sweep = expand(CLONING)
    one = Recording(client, pin=[sorted(client.scheduler_info()["workers"])[0]])
    s1 = run_sweep(sweep, tmp_path / "one", client=one)
    s2 = run_sweep(sweep, tmp_path / "two", client=client)
    s3 = run_sweep(sweep, tmp_path / "local", workers=1)
    assert s1.complete and s2.complete and s3.complete and s2.runner == "dask"
    r1, r2, r3 = (_results(tmp_path / d) for d in ("one", "two", "local"))
    assert len({rec["provenance"]["pid"] for rec in r1.values()}) == 1          # really one worker
    assert len({rec["provenance"]["pid"] for rec in r2.values()}) == 2          # really two
    assert r1.keys() == r2.keys() == r3.keys() and len(r1) == 6
    for k in r1:
        blobs = {json.dumps(r[k]["result"], sort_keys=True) for r in (r1, r2, r3)}
        assert len(blobs) == 1, k


def test_gpu_cells_ask_for_a_gpu_resource(client, tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, "test.gpu_sleep", Kind(cells.sleep_cell, gpu=True))
    sweep = expand({"grid": [{"kind": ["test.gpu_sleep"], "seconds": [0], "seed": [1, 2]},
                             {"kind": ["debug.sleep"], "seconds": [0], "seed": [1]}]})
    rec = Recording(client)
    assert run_sweep(sweep, tmp_path / "o", client=rec).complete
    assert sorted(str(s.get("resources")) for s in rec.submits) == ["None", "{'GPU': 1}", "{'GPU': 1}"]
    with pytest.raises(InputError, match=r"kind 'test.gpu_sleep' needs a GPU: no worker .* advertises one"):
        run_sweep(sweep, tmp_path / "p", client=Recording(client, hide_gpus=True))


@pytest.mark.slow
def test_killed_worker_then_rerun_completes_with_no_cell_lost_or_duplicated(client, tmp_path):
    # one long cell (submitted first) and short ones: the worker running the long cell is
    # killed while short cells are finishing on the other worker, so the kill surely lands mid-cell
    sweep = expand({"kind": "debug.sleep", "grid": [{"seconds": [2.0], "seed": [100]},
                                                    {"seconds": [0.25], "seed": list(range(7))}]})
    long_key = sweep.cells[0].key
    out = tmp_path / "o"
    killed = []

    def kill_the_long_cells_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list((out / "cells").glob("*.json"))) >= 2:
                busy = [w for w, keys in client.processing().items() if any(long_key in k for k in keys)]
                if busy:
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_long_cells_worker)
    killer.start()
    s1 = run_sweep(sweep, out, client=client)
    killer.join()
    assert killed, "no worker was killed"
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "cells").glob("*.json")}
    # the long cell fails, and so may a short cell already queued on the same worker
    assert long_key in [f["key"] for f in s1.failed] and all("KilledWorker" in f["error"] for f in s1.failed)
    assert s1.done + len(s1.failed) == 8 and len(first) == s1.done >= 2

    client.wait_for_workers(2, timeout=60)      # the nanny restarts the killed worker
    s2 = run_sweep(sweep, out, client=client)
    assert s2.complete and (s2.skipped, s2.done) == (s1.done, len(s1.failed))
    files = sorted((out / "cells").glob("*.json"))
    assert [p.stem for p in files] == sorted(c.key for c in sweep.cells)        # each cell exactly once
    for name, (blob, mtime) in first.items():                                  # nothing finished was redone
        assert (out / "cells" / name).read_bytes() == blob
        assert (out / "cells" / name).stat().st_mtime_ns == mtime
    assert sorted(json.loads(p.read_text())["config"]["seed"] for p in files) == list(range(7)) + [100]
    assert json.loads((out / "cells" / f"{long_key}.json").read_text())["provenance"]["pid"] != killed[0]


def test_cli_runs_on_an_existing_scheduler_address(client, tmp_path, capsys):
    from syncgap.validation.cli.main import main
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 0}, "grid": {"seed": [5, 6, 7]}}))
    address = client.scheduler.address
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--scheduler", address, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["runner"], summary["workers"], summary["done"], summary["complete"]) == ("dask", 2, 3, True)
    assert len(list((tmp_path / "o" / "cells").glob("*.json"))) == 3
