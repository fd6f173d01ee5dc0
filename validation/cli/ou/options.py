"""The options every `syncgap ou` subcommand shares (dimension, paths, seed, time grid, sampler, bootstrap)
and what they build: the time grid, the sign-feature mixture, the progress meter."""
from __future__ import annotations

import functools

import numpy as np

from syncgap.theory.checks import InputError, check_int

from ..arguments import IntRange, add_json_flag


def is_measured(value) -> bool:
    """A measured number, not a null or NaN placeholder."""
    return value is not None and not (isinstance(value, float) and value != value)


def add_sampler_options(p, d=256, samples=10000, T=10.0, steps=1000):
    """--d, --samples, --seed, --T, --steps, --ddpm-steps, --scheme, --boot, --quiet, --json with these defaults."""
    p.add_argument("--d", type=IntRange(1, 10**6), default=d, help=f"dimension d of each replica, %(type)s (default {d})")
    p.add_argument("--samples", type=IntRange(2, 10**9), default=samples, help=f"independent paths (pairs for two-replica protocols), %(type)s (default {samples})")
    p.add_argument("--seed", type=IntRange(0, 2**63 - 1), default=0, help="random seed, %(type)s; results are bitwise reproducible")
    p.add_argument("--T", type=float, default=T, help=f"start OU time T > 0 of the reverse process, dimensionless (default {T})")
    p.add_argument("--steps", type=IntRange(1, 10**7), default=steps, help=f"reverse steps on the uniform OU grid from T to 0, %(type)s (default {steps}); a measurement needs enough of them near its times (at least 4 grid times in the window it fits)")
    p.add_argument("--ddpm-steps", type=IntRange(0, 1000), default=0,
                   help="use DiT's DDPM schedule with this many sampler steps instead of the OU grid, %(type)s "
                        "(default 0: the OU grid)")
    p.add_argument("--scheme", choices=("sde", "ode", "ddpm", "ddim"), default="sde",
                   help="sampler: reverse SDE, probability-flow ODE, or DiT's DDPM/DDIM update (default sde)")
    p.add_argument("--boot", type=IntRange(10, 10**6), default=300, help="bootstrap resamples for the 95%% intervals, %(type)s (default 300)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)


def time_grid(args):
    """The reverse-time grid: uniform OU steps from --T to 0, or DiT's DDPM schedule of --ddpm-steps."""
    from syncgap.ou_models import engine
    ou = engine.ou_grid(args.T, args.steps)   # checks --T and --steps even where --ddpm-steps replaces them
    if args.ddpm_steps == 0:
        return ou
    return engine.ddpm_grid(check_int("--ddpm-steps", args.ddpm_steps, 1, 1000))


def path_progress(args):
    """The progress meter of a subcommand's path loop (None with --quiet)."""
    from ..progress import progress_bar
    return progress_bar(f"ou {args.ou_command}: paths", args.quiet)


def check_d(d):
    """--d, an integer in [1, 10^6]."""
    return check_int("d", d, 1, 10**6)


def grid_named(run):
    """Re-raise the library's "too few grid times" error naming --steps (the grid's resolution), not --T."""
    @functools.wraps(run)
    def wrapped(args):
        try:
            return run(args)
        except InputError as exc:
            text = str(exc)
            if "distinct branch times" not in text and not text.startswith("steps: "):
                raise
            # the grid is --ddpm-steps' where given (it replaces --T and --steps), else --steps'
            flag = "--ddpm-steps" if getattr(args, "ddpm_steps", 0) else "--steps"
            value = args.ddpm_steps if flag == "--ddpm-steps" else args.steps
            why = text.removeprefix("steps: ").removesuffix("; use more steps")
            raise InputError(f"{flag}={value} gives too coarse a time grid for this measurement ({why}); "
                             f"use more {flag}") from None
    return wrapped


def features(args):
    """The sign-feature mixture of --amplitudes in dimension --d: feature k along coordinate k, noise std 1."""
    from syncgap.theory.data import SignFeatureMixture
    d = check_d(args.d)
    F = len(args.amplitudes)
    if F < 1 or F > d:
        raise InputError(f"--amplitudes: need 1 to --d={d} values (one feature per coordinate), got {F}")
    return SignFeatureMixture(np.eye(d)[:F], np.asarray(args.amplitudes), 1.0, (d,))
