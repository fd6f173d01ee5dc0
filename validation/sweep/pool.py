"""The local process pool of `runners`: spawned workers fed one cell at a time, each over its own pipe.

A worker that dies (killed, out of memory, a crash in native code) fails only the cell it was
running: the driver sees its process end without an answer, reports that cell, starts a
replacement and goes on. (A concurrent.futures pool breaks as a whole when one worker dies and
fails every pending cell: 6 of 8 in a test that killed one worker.) A rerun retries the failed cell.
Workers ignore SIGINT; the driver stops them on Ctrl-C or SIGTERM (`finally` below); a worker whose
driver was killed outright (SIGKILL) ends quietly when it finds the pipe closed.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import signal
from multiprocessing.connection import wait

from syncgap.validation.sweep.worker import run_cell


def _worker(conn) -> None:
    """A pool process: run (function, params) jobs from `conn` until None; send (True, payload) or (False, error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):                       # the driver is gone
            return
        if job is None:
            return
        try:
            answer = (True, run_cell(*job))
        except Exception as exc:                          # the cell's own error; the process goes on
            answer = (False, f"{type(exc).__name__}: {exc}".strip())
        try:
            conn.send(answer)
        except OSError:                                   # the driver was killed (SIGKILL) while the cell ran:
            return                                        # end quietly, no BrokenPipeError trace on the terminal


class _Process:
    """One spawned worker process, the driver's end of its pipe, and the cell it runs (or None)."""

    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.cell = None

    def give(self, cell, function) -> bool:
        """Send one cell (its kind's function goes by reference: module and name); False if the process is gone."""
        try:
            self.conn.send((function, cell.params))
        except OSError:
            return False
        self.cell = cell
        return True

    def answer(self):
        """(True, payload), (False, error), or None if the process ended without an answer."""
        try:
            return self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):
            return None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.conn.close()


def run_pool(jobs: list, recorder, workers: int) -> None:
    """Run jobs [(cell, kind function)] on `workers` processes; report each to recorder.done / .failed as it ends."""
    ctx = multiprocessing.get_context("spawn")            # fresh interpreters: thread env read at import
    pending = list(reversed(jobs))                        # pop() keeps the given (costliest-first) order
    procs: list[_Process] = []

    def feed(w: _Process) -> _Process:
        """Give `w` the next cell; a process that is gone is replaced first (while cells remain)."""
        while pending:
            if not w.proc.is_alive():
                w.stop()
                procs.remove(w)
                w = _Process(ctx)
                procs.append(w)
            cell, function = pending[-1]
            if w.give(cell, function):
                pending.pop()
                return w
        return w

    try:
        for _ in range(min(workers, len(jobs))):
            procs.append(_Process(ctx))
        for w in list(procs):
            feed(w)
        while any(w.cell is not None for w in procs):
            busy = [w for w in procs if w.cell is not None]
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for w in busy:
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                cell, w.cell = w.cell, None
                got = w.answer()
                if got is None:
                    w.proc.join(5)
                    recorder.failed(cell, f"WorkerDied: worker process {w.proc.pid} ended (exit code {w.proc.exitcode}) "
                                     "while running this cell; a rerun retries it")
                elif got[0]:
                    recorder.done(cell, got[1])
                else:
                    recorder.failed(cell, got[1])
                feed(w)
    finally:
        for w in procs:
            w.stop()
