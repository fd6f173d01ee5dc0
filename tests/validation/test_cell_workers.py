"""Cells computed in forked workers (validation/cell_workers.py): the same records as in this process, computed
elsewhere, reused when stored, a failed or killed worker's cell computed here, and the cases that stay at one."""
from __future__ import annotations

import json
import os
import sys

import pytest

from syncgap.theory.checks import InputError
from syncgap.validation.cell_workers import CellWorkers, fork_safe_numba, usable_workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers are forked: Linux only")


def _square(x):
    """A cell's compute: its number and the process that computed it."""
    return {"value": [float(x) ** 2], "pid": [float(os.getpid())]}


def _results(paths):
    return [json.load(open(p, encoding="utf-8"))["result"]["value"] for p in paths]


def test_two_workers_store_the_same_cells_as_one_and_compute_them_elsewhere(tmp_path):
    assert fork_safe_numba()   # conftest chose a fork-safe Numba layer, as `syncgap validate` does
    paths = [str(tmp_path / "a" / f"c{i}.json") for i in range(5)]
    seen = []
    with CellWorkers(2) as pool:
        cells = [pool.submit(p, {"i": i}, lambda i=i: _square(i), done=lambda r, reused: seen.append(reused))
                 for i, p in enumerate(paths)]
        records = [pool.result(c)[0] for c in reversed(cells)][::-1]   # waiting out of order is fine
    assert [r["result"]["value"] for r in records] == [[float(i * i)] for i in range(5)]
    assert all(r["result"]["pid"][0] != os.getpid() for r in records)   # computed in the workers
    assert seen == [False] * 5
    one = [str(tmp_path / "b" / f"c{i}.json") for i in range(5)]
    with CellWorkers(1) as pool:
        for i, p in enumerate(one):
            record, reused = pool.result(pool.submit(p, {"i": i}, lambda i=i: _square(i)))
            assert not reused and record["result"]["pid"][0] == os.getpid()
    assert _results(paths) == _results(one)


def test_a_stored_cell_is_reused_without_a_worker(tmp_path):
    path = str(tmp_path / "c.json")
    with CellWorkers(2) as pool:
        first = pool.result(pool.submit(path, {"i": 3}, lambda: _square(3)))
        again = pool.submit(path, {"i": 3}, lambda: pytest.fail("a stored cell was computed again"))
        assert again.index == -1 and pool.result(again) == (first[0], True)   # never handed to a worker
        changed = pool.result(pool.submit(path, {"i": 4}, lambda: _square(4)))   # another config: recomputed
    assert changed[1] is False and changed[0]["result"]["value"] == [16.0]


def test_a_failing_cell_raises_its_own_error_here(tmp_path, capsys):
    parent = os.getpid()

    def broken():
        raise ValueError(f"bad cell computed in {'the parent' if os.getpid() == parent else 'a worker'}")
    with CellWorkers(2, say=print) as pool:
        cell = pool.submit(str(tmp_path / "bad.json"), {"i": 0}, broken)
        with pytest.raises(ValueError, match="bad cell computed in the parent"):
            pool.result(cell)
    assert "it raised an error; computing it in this process" in capsys.readouterr().out
    assert not (tmp_path / "bad.json").exists()


def test_a_killed_worker_s_cell_is_computed_here(tmp_path, capsys):
    parent = os.getpid()

    def dies_in_a_worker():
        if os.getpid() != parent:
            os._exit(9)   # a crash: no exception, no file
        return _square(2)
    with CellWorkers(2, say=print) as pool:
        record, reused = pool.result(pool.submit(str(tmp_path / "k.json"), {"i": 2}, dies_in_a_worker))
    assert record["result"] == {"value": [4.0], "pid": [float(parent)]} and not reused
    assert "exit code 9" in capsys.readouterr().out


def test_close_stops_running_workers_and_leaves_their_cells_unstored(tmp_path):
    import time
    pool = CellWorkers(2)
    pool.submit(str(tmp_path / "slow.json"), {"i": 0}, lambda: time.sleep(30) or _square(0))
    workers = list(pool._alive.values())
    assert workers and any(w.is_alive() for w in workers)   # (a second worker forked beside finds nothing, exits)
    pool.close()
    assert all(w.exitcode is not None and not w.is_alive() for w in workers)
    assert not (tmp_path / "slow.json").exists()


def test_a_worker_takes_the_cells_queued_when_it_was_forked(tmp_path):
    """Eight cells of 0.2 s, two workers: a worker computes every queued cell it can claim (not one fork per
    cell), both work at once, and no cell is computed twice (each compute appends its number to a log)."""
    import time
    log = tmp_path / "computed.log"

    def logged(i):
        time.sleep(0.2)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{i}\n")
        return _square(i)
    with CellWorkers(2) as pool:
        cells = [pool.submit(str(tmp_path / f"c{i}.json"), {"i": i}, lambda i=i: logged(i)) for i in range(8)]
        pids = [pool.result(c)[0]["result"]["pid"][0] for c in cells]
        forked = len(pool._exit_codes) + len(pool._alive)
    assert sorted(int(x) for x in log.read_text().split()) == list(range(8))
    assert forked < len(cells) and len(set(pids)) <= forked and os.getpid() not in pids   # a worker may find its cells claimed


@pytest.mark.slow
def test_a_free_worker_slot_takes_a_queued_cell_while_another_cell_runs(tmp_path):
    """A slow cell holds one worker; the two quick cells after it must not wait for it: a slot freed by the first
    quick cell's worker goes to the second at once (an earlier rule forked no worker for one queued cell while
    another worker was busy, so that cell waited for the slow one)."""
    import time
    log = tmp_path / "order.log"

    def noted(name, seconds):
        time.sleep(seconds)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{name}\n")
        return _square(1)
    with CellWorkers(2) as pool:
        cells = [pool.submit(str(tmp_path / f"{name}.json"), {"name": name}, lambda n=name, s=s: noted(n, s))
                 for name, s in (("slow", 2.0), ("quick1", 0.0), ("quick2", 0.0))]
        for c in cells[1:]:
            pool.result(c)
        assert log.read_text().split() == ["quick1", "quick2"]   # both done while the slow cell still runs
        pool.result(cells[0])
    assert log.read_text().split() == ["quick1", "quick2", "slow"]


def test_usable_workers_stays_at_one_where_a_fork_cannot_work():
    assert usable_workers(3) == 3
    assert usable_workers(3, device="cuda") == 1     # CUDA does not survive a fork
    assert usable_workers(3, compiled=True) == 1     # a compiled model compiles once, in this process
    assert usable_workers(1) == 1
    with pytest.raises(InputError, match="workers"):
        usable_workers(0)
    with pytest.raises(InputError, match="workers"):
        CellWorkers(0)


def test_a_forked_call_returns_its_value_or_raises_its_error():
    from syncgap.validation.cell_workers import ForkedCall
    assert ForkedCall(lambda: ("answer", os.getpid())).result()[1] != os.getpid()   # computed elsewhere

    def broken():
        raise InputError("n_pairs must be >= 2")
    with pytest.raises(InputError, match="n_pairs must be >= 2"):   # the same type and message here
        ForkedCall(broken).result()
    with pytest.raises(RuntimeError, match="exit code 7 before it answered"):
        ForkedCall(lambda: os._exit(7)).result()


def test_suites_beside_run_in_their_own_process_and_keep_the_report_order():
    from syncgap.validation.report.run import _run_suites
    results = _run_suites(["ou", "dit", "dit-causal"], {"ou", "dit-causal"}, lambda name: (name, os.getpid()))
    assert [name for name, _ in results] == ["ou", "dit", "dit-causal"]
    pids = dict(results)
    assert pids["dit"] == os.getpid() and pids["ou"] != os.getpid() and pids["dit-causal"] != os.getpid()
    assert _run_suites(["ou", "dit"], set(), lambda name: (name, os.getpid())) == [("ou", os.getpid()),
                                                                                   ("dit", os.getpid())]
