"""Progress on stderr: tqdm meters with rate and ETA, one line per few percent in a log, nothing with --quiet."""
from __future__ import annotations

import io
import re

from syncgap.validation.cli.main import main
from syncgap.validation.cli.progress import LogLines, progress_bar

METER = re.compile(r"^loop: (\d+)/(\d+) \( *(\d+)%\) \[\d\d:\d\d<\d\d:\d\d, +[\d.?]+ ?(it/s|s/it)\]$")


def test_log_lines_every_five_percent_with_rate_and_eta():
    stream = io.StringIO()
    progress = LogLines("loop", stream=stream, step_percent=5, interactive=False)
    for done in range(1, 201):
        progress(done, 200)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20 and "\r" not in stream.getvalue()
    parsed = [METER.match(line) for line in lines]
    assert all(parsed), lines[:3]
    assert [int(m.group(3)) for m in parsed] == list(range(5, 101, 5))


def test_a_new_loop_starts_a_new_meter_and_coarse_reports_still_end_at_100():
    stream = io.StringIO()
    progress = LogLines("loop", stream=stream, step_percent=5, interactive=False)
    progress(60, 100)
    progress(100, 100)
    progress(3, 10)                      # the next phase of the command
    progress(10, 10)
    got = [(int(m.group(1)), int(m.group(2))) for m in map(METER.match, stream.getvalue().splitlines())]
    assert got == [(60, 100), (100, 100), (3, 10), (10, 10)]


def test_quiet_gives_no_callback():
    assert progress_bar("x", quiet=True) is None


def test_cli_progress_lines_and_quiet(capsys):
    argv = ["ou", "cloning", "--d", "16", "--samples", "60", "--steps", "60", "--boot", "10", "--branches", "5"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    meters = [line for line in err if line.startswith("ou cloning: paths:")]
    assert meters and meters[-1].split(": paths: ")[1].startswith("60/60 (100%)")
    assert main(argv + ["--quiet"]) == 0
    assert capsys.readouterr().err == ""
