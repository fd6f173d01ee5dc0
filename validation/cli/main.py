"""Entry point of the `syncgap` console script.

Each subcommand lives in its own module with `register(subparsers)` (SUBCOMMANDS); heavy
imports (numba, torch) happen inside the command's run function, so `--help`
and `syncgap theory` stay fast. Bad input (`theory.InputError`, argparse errors)
exits with status 2 and a one-line message, never a traceback; when the message starts with
the name of a library parameter, it names the command's flag instead (`noise_std=0 ...`
becomes `--sigma=0 ...`). A simulation that
produced NaN or inf (`theory.checks.SimulationError`, which says where) exits with
status 1 and its one-line message: the input passed its checks, the run failed. A library of
an optional extra that is not installed (numba, torch, ...) exits with status 2 and one line
naming the extra to install (`extras.py`).
A run that completed but measured nothing asked for exits with 3 (`output.NOT_MEASURABLE`).
A full or read-only disk, or an I/O error (store.STORAGE_ERRNOS), on a results file or on stdout, exits
with status 1 and one line naming the file; finished results stay (every store writes atomically).
SIGTERM (what batch schedulers send) is handled like Ctrl-C: the run stops where it is,
finished results stay (every store writes atomically, cell by cell), one line says so, and
the status is 143 (128 + SIGTERM; Ctrl-C gives 130). The output folder's lock
(`sweep.lock`) is released when the command ends.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading

# libgomp's threads (torch's CPU pool, numba's omp layer) busy-wait between parallel regions by default; when
# a machine has more runnable threads than cores they starve each other (benchmarks/RESULTS.md, 2026-11-30: a
# 2-thread torch loop of small matmuls took 38 s of CPU and 107 s wall instead of 0.5 s on the loaded 2-core
# machine). Sleep instead unless the user chose a policy; libgomp reads it once, when torch or numba loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from syncgap.theory.checks import InputError, SimulationError
from syncgap.theory.version import package_version
from syncgap.validation.cli import sweep, theory, validate
from syncgap.validation.cli.arguments import IntRange, number_arg, path_arg
from syncgap.validation.cli.dit import command as dit_command
from syncgap.validation.cli.extras import MissingExtra, missing_extra_message
from syncgap.validation.cli.ou import command as ou_command
from syncgap.validation.store import is_storage_error
from syncgap.validation.sweep import lock

# command -> its module's register(subparsers), in the order of `syncgap --help`
SUBCOMMANDS = {"theory": theory.register, "ou": ou_command.register, "dit": dit_command.register,
               "validate": validate.register, "sweep": sweep.register}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), pointing to --help for the usage.

    A value that starts with '-' and a digit is a value, also a comma list (`--g -0.3,0.3`): argparse's
    own pattern takes only a single number, and no option of syncgap looks like a number.
    """

    NEGATIVE_VALUE = re.compile(r"^-\.?\d[0-9.eE+,\-]*$")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self.NEGATIVE_VALUE

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action, arg_strings):
        # CPython < 3.12 drops a '--' given as an option's value (`--plot=--`), leaving an
        # empty list where one string was expected: reject it here, for every option at once.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one value, got '--'")
        return super()._get_values(action, arg_strings)


# Library parameters that a command passes on under another flag: name -> the flag's dests to try.
LIBRARY_NAMES = {
    "noise_std": ("sigma",), "n_boot": ("boot",), "n_pairs": ("pairs",), "n_samples": ("samples",), "record_every": ("every",),
    "guidance_scale": ("cfg",), "gap0_steps": ("gap0",), "lambda": ("lam",), "layer": ("layers",),
    "gate g": ("g",), "class label": ("class_label",), "class labels": ("class_label",),
    "num_sampling_steps": ("dit_steps", "ddpm_steps"), "t grid": ("T", "steps"),
    "n_bands": ("bands",), "t_int": ("t_int",), "num_steps": ("steps", "num_steps"), "amplitude": ("amplitudes",),
}
_LEADING_NAME = re.compile(r"(gate g|class labels?|t grid|[A-Za-z_][A-Za-z0-9_]*)(?=[=\s:\[]|$)")


def name_the_flag(message: str, flags: dict) -> str:
    """`message` with a leading library parameter name replaced by its flag (flags: dest -> '--flag')."""
    m = _LEADING_NAME.match(message)
    if m is None:
        return message
    for dest in (m.group(1), *LIBRARY_NAMES.get(m.group(1), ())):
        if dest in flags:
            return flags[dest] + message[m.end():]
    return message


PATH_DESTS = ("out", "checkpoint", "samples", "model_dir")   # options whose value is a file or folder path


def _leaf_flags(parser: argparse.ArgumentParser) -> None:
    """Give every leaf (sub)command the default `_flags`: {dest: its long option string}, every
    untyped path option (PATH_DESTS) the `arguments.path_arg` type, so an empty path is refused, and every
    float option the `arguments.number_arg` type, so NaN is refused."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for child in action.choices.values():
            _leaf_flags(child)
    if not subs:
        parser.set_defaults(_flags={a.dest: max(a.option_strings, key=len)
                                    for a in parser._actions if a.option_strings},
                            _ranges={a.dest: a.type for a in parser._actions if isinstance(a.type, IntRange)})
        for a in parser._actions:
            if a.option_strings and a.dest in PATH_DESTS and a.type is None:
                a.type = path_arg
            if a.type is float:           # every real-valued option refuses NaN (arguments.number_arg)
                a.type = number_arg


THREAD_ENV_MAX = 1024


def check_thread_env() -> None:
    """NUMBA_NUM_THREADS, if set, must be an integer in [1, 1024] (InputError otherwise).

    Numba reads it once at import: 0 or -1 raise a ValueError traceback there, text is ignored
    with a warning, 100000 crashed the process (segmentation fault). An empty value counts as unset.
    """
    text = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if not text:
        return
    try:
        value = int(text, 10)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= THREAD_ENV_MAX:
        raise InputError(f"environment variable NUMBA_NUM_THREADS={text!r} must be an integer in "
                         f"[1, {THREAD_ENV_MAX}] (or unset)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="syncgap",
        description="Synchronization gaps of coupled diffusion: theory, OU simulation, coupled DiTs, validation.")
    parser.add_argument("--version", action="version", version=f"syncgap {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS.values():
        register(sub)
    _leaf_flags(parser)
    return parser


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM: unwinds like Ctrl-C (workers stopped, finished results kept)."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises Terminated in the main thread for the block (the old handler is restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: list[str] | None = None) -> int:
    """The console script: status 130 on Ctrl-C and 143 on SIGTERM wherever they land (while the options
    are parsed, while the command's own handler speaks, while the folder lock is released), never a
    traceback and never death by the signal itself (status -2)."""
    try:
        status = _main(argv)
    except Terminated:
        status = 128 + signal.SIGTERM
    except KeyboardInterrupt:
        with contextlib.suppress(BaseException):
            print("interrupted; finished results are kept and a rerun resumes", file=sys.stderr)
        status = 130
    if status in (130, 128 + signal.SIGTERM):
        _forget_interrupt_in_exec()
    return status


def _forget_interrupt_in_exec() -> None:
    """Clear CPython's mark of a KeyboardInterrupt that left an `exec`/`eval` of a string.

    CPython (3.8-3.13) sets that mark when a KeyboardInterrupt leaves code run by `exec(str)` (dataclasses,
    numba and namedtuple build functions that way) and, under `python -m`, kills the process with SIGINT at
    exit (status -2) even though the interrupt was handled and 130 returned. Every `exec` of a string
    resets the mark when it starts, so one harmless `exec` after the handler clears it.
    """
    with contextlib.suppress(BaseException):
        exec("None")


def _main(argv: list[str] | None) -> int:
    with _sigterm_as_interrupt():
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return _run(args)
        finally:
            lock.release()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush raises nothing more."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):   # stdout already closed or not a file
        pass


def _run(args) -> int:
    try:
        check_thread_env()
        for dest, allowed in getattr(args, "_ranges", {}).items():     # the ranges the help states (IntRange)
            if getattr(args, dest, None) is not None:
                allowed.check(args._flags[dest], getattr(args, dest))
        status = int(args.func(args) or 0)
        sys.stdout.flush()          # a full stdout fails here, inside the handlers below, not at exit
        return status
    except InputError as exc:
        print(f"syncgap {args.command}: error: {name_the_flag(str(exc), getattr(args, '_flags', {}))}",
              file=sys.stderr)
        return 2
    except MissingExtra as exc:
        print(f"syncgap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:          # an optional extra is not installed: name it
        message = missing_extra_message(exc.name)
        if message is None:
            raise
        print(f"syncgap {args.command}: error: {message}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"syncgap {args.command}: simulation failed: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:          # `syncgap ... | head`: the reader left; no traceback, no second error at exit
        _silence_stdout()
        return 141
    except OSError as exc:           # a full or read-only disk, an I/O error: one line, finished results kept
        if not is_storage_error(exc):
            raise
        if exc.filename is None:     # the output stream itself (stdout on a full disk): nothing more goes there
            _silence_stdout()
        where = f"cannot write {exc.filename}" if exc.filename else "cannot write its output"
        print(f"syncgap {args.command}: {where}: {exc.strerror or exc}; finished results are kept and a rerun "
              "resumes", file=sys.stderr)
        return 1
    except Terminated:
        print(f"syncgap {args.command}: terminated (SIGTERM); finished results are kept and a rerun resumes",
              file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted; finished results are kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
