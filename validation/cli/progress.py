"""Progress of long loops on stderr: tqdm's counter with rate and ETA, readable in a log too.

    progress = progress_bar("ou cloning: paths", quiet=args.quiet)   # a callable (done, total) or None
    measure.cloning(..., progress=progress)

On a terminal, tqdm redraws one line in place. When stderr is not a terminal (a log file, a CI
job, `2> run.log`), the same meter (count, percent, elapsed, ETA, rate) is written as a new line
each time another `step_percent` of the loop is done, and once at the end, so the log reads as a
history instead of one line of carriage returns. `--quiet` gives None: the loops print nothing.
"""
from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:3.0f}%) [{elapsed}<{remaining}, {rate_fmt}]"


class LogLines:
    """A (done, total) callback that keeps one tqdm meter per loop and prints it as lines or in place."""

    def __init__(self, desc: str, stream=None, step_percent: float = 5.0, interactive: bool | None = None):
        self.desc, self.stream, self.step = desc, stream or sys.stderr, float(step_percent)
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.bar: tqdm | None = None
        self.last_done = 0
        self.next_percent = 0.0
        self.started = time.time()       # a loop's clock starts here (or when the previous loop ended),
                                         # not at its first report, which may come only at its end

    def _open(self, total: int) -> None:
        if self.bar is not None:
            self.bar.close()
        target = self.stream if self.interactive else io.StringIO()   # off a terminal we print lines ourselves
        self.bar = tqdm(total=total, desc=self.desc, file=target, bar_format=BAR_FORMAT if not self.interactive else None,
                        mininterval=0.2 if self.interactive else 0.0, leave=True, dynamic_ncols=True)
        self.bar.start_t = self.bar.last_print_t = self.started
        self.last_done, self.next_percent = 0, self.step

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or done < self.last_done or total != self.bar.total:
            self._open(total)                       # a new loop (or a new phase of the same command)
        self.bar.update(done - self.last_done)
        self.last_done = done
        if self.interactive:
            if done >= total:
                self._close()
            return
        percent = 100.0 * done / max(total, 1)
        if percent >= self.next_percent or done >= total:
            print(str(self.bar), file=self.stream, flush=True)
            while self.next_percent <= percent:
                self.next_percent += self.step
        if done >= total:
            self._close()

    def _close(self) -> None:
        self.bar.close()
        self.bar = None
        self.started = time.time()


def progress_bar(desc: str, quiet: bool = False, **kw: object) -> Callable[[int, int], None] | None:
    """A (done, total) progress callback for a long loop, or None when `quiet`."""
    return None if quiet else LogLines(desc, **kw)


__all__ = ["progress_bar", "LogLines", "BAR_FORMAT"]
