"""Cells computed by forked worker processes of one thread each, while this process goes on submitting and analysing.

    pool = CellWorkers(workers, say)              # workers=1: every cell is computed here, when submitted
    cell = pool.submit(path, config, compute, validate=..., done=report)   # reused at once when stored
    record, reused = pool.result(cell)            # waits for that cell only
    pool.close()                                  # (or `with CellWorkers(...)`) stops the workers still running

Why fork: a cell's `compute` is a closure over this process's loaded model, so a forked child has it without
pickling. A worker is forked with the cells queued at that moment and works through them in submission order,
claiming each in shared memory (so two workers never compute one cell); it computes a cell, writes its file
atomically (store.store_computed), sends the record it wrote to this process (a pipe: the file is not parsed
and hashed a second time) and exits when its cells are claimed. This process forks a new worker when one has
ended and cells wait: the workers keep computing while this process analyses. A worker runs torch and Numba on one thread: GNU OpenMP,
torch's intra-op pool, is not fork-safe with more, and Numba needs a fork-safe threading layer
(`fork_safe_numba`, chosen before its first parallel kernel). A cell that fails in a worker (an exception, a
crash, a kill) leaves no file; this process then computes it itself, so a real error is raised here with its own
traceback. Only on Linux and on the CPU (CUDA does not survive a fork); elsewhere `usable_workers` gives 1.

Measured (FHGM-DiT Protocol I cell in bf16, 96 pairs, quiet 2-core AMD EPYC, 2026-12-06): one process on
two threads 10.7 s per cell; two one-thread processes side by side 17.3 s each, 8.65 s per cell (1.24x).
A cell's numbers do not depend on the thread count (the same cell on 1 and 2 threads: bit-identical).
"""
from __future__ import annotations

import multiprocessing
import queue
import sys
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from syncgap.theory.checks import check_int
from syncgap.validation.store import compute_cell, load_cell, store_computed

if TYPE_CHECKING:
    from collections.abc import Callable

FORK_SAFE_LAYERS = ("tbb", "workqueue")   # Numba threading layers a forked child can use (not GNU OpenMP's)
QUEUED, RUNNING, DONE, FAILED = 0, 1, 2, 3   # a cell's state in the shared array
CAPACITY = 1 << 16        # cells one pool hands to workers; any further cell is computed in this process
POLL_S = 0.1              # how often a waiting result() looks at the shared states


def fork_safe_numba() -> bool:
    """Ask Numba for a fork-safe threading layer ("forksafe": TBB when installed, else its workqueue) unless
    it has started one already; True when the layer in use, or the one it will start, is fork-safe. Call it
    before anything runs a parallel Numba kernel (validate: before the OU suite)."""
    try:
        import numba
    except ImportError:
        return True   # nothing of Numba's runs in this process
    try:
        return numba.threading_layer() in FORK_SAFE_LAYERS   # started already: it is what it is
    except ValueError:   # not started yet
        numba.config.THREADING_LAYER = "forksafe"
        return True


def usable_workers(requested: int, device: str = "cpu", compiled: bool = False) -> int:
    """Worker processes a run may fork: `requested` on a Linux CPU with a fork-safe Numba layer, else 1 (CUDA
    does not survive a fork; a compiled model compiles once per process, so it stays in this one)."""
    n = check_int("workers", requested, 1)
    if n == 1 or device != "cpu" or compiled or not sys.platform.startswith("linux"):
        return 1
    return n if fork_safe_numba() else 1


def one_thread() -> None:
    """torch and Numba on one thread: what a forked child may use (module docstring); a library this process has not
    imported yet reads the same from the environment when it is."""
    import os
    os.environ["OMP_NUM_THREADS"] = os.environ["NUMBA_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)


@dataclass(eq=False)
class Cell:
    """One submitted cell: where it is stored, its configuration and compute, and, once known, (record, reused)."""

    path: str
    config: dict
    compute: Callable[[], Any]
    validate: Callable | None = None
    done: Callable[[dict, bool], object] | None = None   # told (record, reused) once the cell is finished
    index: int = -1                                      # its slot in the shared state array
    outcome: tuple[dict, bool] | None = None


def _work(cells: list[Cell], state, owner, lock, me: int, records) -> None:
    """A forked worker's whole life: claim and compute `cells` in order on one thread, put each stored record on
    `records` and mark it DONE, or mark it FAILED (the parent computes a failed cell again and raises its error
    there); exit when none is left."""
    one_thread()
    for cell in cells:
        with lock:
            if state[cell.index] != QUEUED:
                continue
            owner[cell.index] = me           # before the state: a RUNNING cell always names its worker
            state[cell.index] = RUNNING
        try:
            records.put((cell.index, store_computed(cell.path, cell.config, cell.compute, cell.validate)))
            state[cell.index] = DONE
        except Exception:   # noqa: BLE001 -- whatever it was, the parent recomputes and reports it
            state[cell.index] = FAILED


class CellWorkers:
    """Up to `workers` forked processes computing submitted cells in submission order (module docstring)."""

    def __init__(self, workers: int = 1, say: Callable[[str], object] | None = None) -> None:
        self.workers = check_int("workers", workers, 1)
        self.say = say if say is not None else (lambda m: None)
        self._fork = multiprocessing.get_context("fork") if self.workers > 1 else None
        if self._fork is not None:
            self._state = self._fork.RawArray("b", CAPACITY)   # QUEUED ... FAILED per cell index
            self._owner = self._fork.RawArray("i", CAPACITY)   # the worker that claimed it
            self._lock = self._fork.Lock()
            self._records = self._fork.Queue()   # (index, record) from the workers: no second read of the file
        self._arrived: dict[int, dict] = {}
        self._handed = 0                   # cells handed to workers so far: the next one's index
        self._waiting: list[Cell] = []     # handed, not yet collected
        self._alive: dict[int, Any] = {}   # worker number -> process
        self._exit_codes: dict[int, int] = {}

    def submit(self, path, config: dict, compute: Callable[[], Any], *, validate: Callable | None = None,
               done: Callable[[dict, bool], object] | None = None) -> Cell:
        """The cell of `config` at `path`: reused when stored, else computed here (workers=1) or queued."""
        cell = Cell(str(path), config, compute, validate, done)
        if self._fork is None or self._handed >= CAPACITY:
            self._finish(cell, *compute_cell(cell.path, config, compute, validate=validate))
            return cell
        stored = load_cell(cell.path, config, validate)
        if stored is not None:
            self._finish(cell, stored, True)
            return cell
        cell.index, self._handed = self._handed, self._handed + 1
        self._waiting.append(cell)
        self._pump()
        return cell

    def result(self, cell: Cell) -> tuple[dict, bool]:
        """(record, reused) of a submitted cell, waiting for it (and forking workers as cells wait)."""
        while cell.outcome is None:
            self._pump(block=True)
        return cell.outcome

    def close(self) -> None:
        """Stop every running worker; the cells they had not finished stay unstored (a rerun computes them)."""
        for process in self._alive.values():
            process.terminate()
        for process in self._alive.values():
            process.join()
        self._alive, self._waiting = {}, []

    def __enter__(self) -> CellWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pump(self, block: bool = False) -> None:
        """Collect finished cells (waiting up to POLL_S for a change when `block`), then fork workers for the
        unclaimed cells while fewer than `workers` run."""
        if block and self._alive:
            wait([p.sentinel for p in self._alive.values()], timeout=POLL_S)
        for number, process in list(self._alive.items()):
            if not process.is_alive():
                process.join()
                self._exit_codes[number] = process.exitcode
                del self._alive[number]
        self._receive()
        for cell in [c for c in self._waiting if self._state[c.index] != QUEUED]:
            self._collect(cell)
        queued = [c for c in self._waiting if self._state[c.index] == QUEUED]
        # a free slot and an unclaimed cell: fork, even while a busy worker holds that cell in its list (a worker
        # that finds every cell of its list claimed by then exits at once)
        while queued and len(self._alive) < self.workers:
            number = len(self._exit_codes) + len(self._alive) + 1
            process = self._fork.Process(target=_work, daemon=True,
                                         args=(queued, self._state, self._owner, self._lock, number, self._records))
            process.start()
            self._alive[number] = process

    def _receive(self) -> None:
        """Take every record the workers have sent so far."""
        while True:
            try:
                index, record = self._records.get_nowait()
            except queue.Empty:
                return
            self._arrived[index] = record

    def _collect(self, cell: Cell) -> None:
        """Take a DONE cell's record (sent by its worker, else read from its file once the worker has ended);
        compute a FAILED cell, or one whose worker ended while on it, here."""
        state, working = self._state[cell.index], self._owner[cell.index] in self._alive
        if cell.index in self._arrived:
            self._waiting.remove(cell)
            self._finish(cell, self._arrived.pop(cell.index), False)
            return
        if working and state in (RUNNING, DONE):
            return   # still being computed, or its record is on its way
        self._waiting.remove(cell)
        stored = load_cell(cell.path, cell.config, cell.validate) if state == DONE else None
        if stored is not None:
            self._finish(cell, stored, False)
            return
        why = ("it raised an error" if state == FAILED else
               f"its worker ended with exit code {self._exit_codes.get(self._owner[cell.index])}" if state == RUNNING
               else "its file could not be read back")
        self.say(f"cell {cell.path}: {why}; computing it in this process")
        self._finish(cell, store_computed(cell.path, cell.config, cell.compute, cell.validate), False)

    def _finish(self, cell: Cell, record: dict, reused: bool) -> None:
        cell.outcome = (record, reused)
        if cell.done is not None:
            cell.done(record, reused)


class ForkedCall:
    """fn() computed in a forked process on one thread (the fork rules above), its value sent back pickled:
    `result()` waits and returns it, or raises what fn raised (RuntimeError when the process died first)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        fork = multiprocessing.get_context("fork")
        self._answer, send = fork.Pipe(duplex=False)
        self._process = fork.Process(target=_call, args=(fn, send), daemon=True)
        self._process.start()
        send.close()   # this process only reads

    def result(self) -> Any:
        try:
            kind, value = self._answer.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"its process ended with exit code {self._process.exitcode} before it answered"
                               ) from None
        self._process.join()
        if kind == "raise":
            raise value
        return value

    def close(self) -> None:
        """Stop the process if it still runs."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _call(fn: Callable[[], Any], send) -> None:
    """A ForkedCall's process: fn() on one thread, its value (or what it raised) sent back."""
    one_thread()
    try:
        answer = ("return", fn())
    except BaseException as exc:   # noqa: BLE001 -- the parent raises it
        answer = ("raise", exc)
    try:
        send.send(answer)
    except Exception as exc:   # noqa: BLE001 -- an answer that does not pickle
        send.send(("raise", RuntimeError(f"the answer could not be sent back: {type(exc).__name__}: {exc}")))


__all__ = ["CellWorkers", "Cell", "ForkedCall", "usable_workers", "fork_safe_numba", "one_thread",
           "FORK_SAFE_LAYERS"]
