"""Cell kinds on the OU engine and the coupled DiT: one measurement per cell, plain numbers out.

- ou.gap: one Protocol I measurement of `ou_models.measure.protocol_one` at one gate g and seed on
  a sign-feature mixture with one feature per amplitude (docs/science.md §4-5): tau_spec per feature
  and the gap tau_0 - tau_k, in OU time and in DiT sampler steps, with bootstrap intervals;
- ou.cloning: one cloning (U-turn) curve of `ou_models.measure.cloning` on the two-Gaussian
  mixture (docs/science.md §2) at one (d, seed): the measured phi = 0.75 crossing and 1/2 log Lambda;
- dit.protocol1 / dit.protocol1.cuda: one `dit_bridge.protocols.protocol_one` cell at one
  (model, g, seed) (docs/science.md §5): tau per scale and the gap in sampler steps; the .cuda kind
  runs on the GPU and asks the Dask runner for one.
The `*_params` checks import neither numba nor torch (the driver runs them on every cell);
the cell functions import the engines where they run.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass

import numpy as np

from syncgap.theory.checks import InputError, check_choice, check_int, check_positive, check_real
from syncgap.theory.intervals import interval_fields, read_triple

SCHEMES = ("sde", "ode", "ddpm", "ddim")
SEED_MAX = 2 ** 63 - 1


def _reals(name, values, lo=None, lo_open=True) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
        raise InputError(f"{name} must be a non-empty list of numbers, got {values!r}")
    return [check_real(f"{name}[{i}]", v, 0.0 if lo is None else lo, lo_open=lo_open) for i, v in enumerate(values)]


def _set_all(spec: object, checked: dict) -> None:
    """Store the checked (normalised) values on a frozen dataclass, in its __post_init__."""
    for name, value in checked.items():
        object.__setattr__(spec, name, value)


def _finite_fields(name, est, low, high) -> dict:
    """interval_fields of `name` with NaN and inf as null (a cell result holds no NaN)."""
    return interval_fields(name, *(None if not np.isfinite(v) else float(v) for v in (est, low, high)))


# ---------------------------------------------------------------- ou.gap

@dataclass(frozen=True)
class OUGapCell:
    """The parameters of one ou.gap cell, checked on construction (InputError naming the field and its range)."""

    g: float                          # gate strength g >= 0
    seed: int                         # noise seed, integer in [0, 2^63 - 1]
    amplitudes: tuple = (20.0, 4.0)   # sign-feature amplitudes a_k > 0, one feature each, 1 <= count <= d
    d: int = 16                       # dimension of each replica, integer in [1, 100000]
    sigma: float = 1.0                # noise std of the mixture, > 0
    samples: int = 2000               # replica pairs, integer in [2, 10^7]
    T: float = 10.0                   # start OU time of the reverse process, > 0
    steps: int = 1000                 # reverse steps of the uniform OU grid, integer in [2, 10^6]
    scheme: str = "sde"               # sampler: sde, ode, ddpm or ddim
    n_boot: int = 300                 # bootstrap resamples, integer in [10, 100000]
    t_ints: int = 25                  # switch-off times t_int, integer in [4, 10000]
    dit_steps: int = 250              # DiT sampler steps the gap is also expressed in, integer in [1, 1000]

    def __post_init__(self) -> None:
        d = check_int("d", self.d, 1, 100_000)
        amps = _reals("amplitudes", self.amplitudes)
        if len(amps) > d:
            raise InputError(f"amplitudes has {len(amps)} entries, at most d={d} features fit")
        _set_all(self, {"g": check_real("g", self.g, 0.0), "seed": check_int("seed", self.seed, 0, SEED_MAX),
                        "amplitudes": amps, "d": d, "sigma": check_positive("sigma", self.sigma),
                        "samples": check_int("samples", self.samples, 2, 10_000_000),
                        "T": check_positive("T", self.T), "steps": check_int("steps", self.steps, 2, 1_000_000),
                        "scheme": check_choice("scheme", self.scheme, SCHEMES),
                        "n_boot": check_int("n_boot", self.n_boot, 10, 100_000),
                        "t_ints": check_int("t_ints", self.t_ints, 4, 10_000),
                        "dit_steps": check_int("dit_steps", self.dit_steps, 1, 1000)})


def ou_gap_params(g: float, seed: int, **options: object) -> dict:
    """The checked fields of OUGapCell(g, seed, **options) as a dict."""
    return asdict(OUGapCell(g, seed, **options))


def ou_gap_cell(g: float, seed: int, **options: object) -> dict:
    """Protocol I on the OU engine at gate g: tau_spec per feature and gap_k = tau_0 - tau_k (docs/science.md §4-5).

    tau_spec is the midpoint of a sigmoid fitted to the replicas' sign agreement against the switch-off
    time t_int (OU time); the gap also in DiT sampler steps of a `dit_steps` schedule. options: the other
    fields of OUGapCell.
    """
    from syncgap.ou_models import engine, measure
    from syncgap.theory.data import SignFeatureMixture

    p = OUGapCell(g, seed, **options)
    amps = np.asarray(p.amplitudes)
    data = SignFeatureMixture(np.eye(p.d)[:amps.size], amps, p.sigma, (p.d,))
    grid = engine.ou_grid(p.T, p.steps)
    ts = 0.5 * np.log(amps ** 2 + p.sigma ** 2)
    times = np.linspace(max(grid[-2], ts.min() - 2.5), min(grid[0], ts.max() + 2.5), p.t_ints)
    r = measure.protocol_one(data, grid, p.g, p.samples, p.seed, t_int_times=times, scheme=p.scheme,
                             n_boot=p.n_boot, dit_sampling_steps=p.dit_steps)
    out = {"g": p.g, "seed": p.seed, "features": amps.size}
    for k in range(amps.size):
        out |= _finite_fields(f"tau{k}", *(x[k] for x in read_triple(r, "tau_spec")))
    for k in range(1, amps.size):
        out |= _finite_fields(f"gap{k}", *(x[k - 1] for x in read_triple(r, "gap")))
        out |= _finite_fields(f"gap{k}_dit_steps", *(x[k - 1] for x in read_triple(r, "gap_dit_steps")))
    return out


# ---------------------------------------------------------------- ou.cloning

@dataclass(frozen=True)
class OUCloningCell:
    """The parameters of one ou.cloning cell, checked on construction (InputError naming the field and its range)."""

    d: int                            # dimension of the two-Gaussian mixture +-mu, ||mu||^2 = d, in [1, 100000]
    seed: int                         # noise seed, integer in [0, 2^63 - 1]
    sigma: float = 1.0                # noise std, > 0
    samples: int = 2000               # paths, integer in [2, 10^7]
    T: float = 10.0                   # start OU time of the reverse process, > 0
    steps: int = 1000                 # reverse steps of the uniform OU grid, integer in [2, 10^6]
    scheme: str = "sde"               # sampler: sde, ode, ddpm or ddim
    n_boot: int = 300                 # bootstrap resamples, integer in [10, 100000]
    branches: int = 25                # cloning (branch) times, integer in [4, 10000]

    def __post_init__(self) -> None:
        _set_all(self, {"d": check_int("d", self.d, 1, 100_000), "seed": check_int("seed", self.seed, 0, SEED_MAX),
                        "sigma": check_positive("sigma", self.sigma),
                        "samples": check_int("samples", self.samples, 2, 10_000_000),
                        "T": check_positive("T", self.T), "steps": check_int("steps", self.steps, 2, 1_000_000),
                        "scheme": check_choice("scheme", self.scheme, SCHEMES),
                        "n_boot": check_int("n_boot", self.n_boot, 10, 100_000),
                        "branches": check_int("branches", self.branches, 4, 10_000)})


def ou_cloning_params(d: int, seed: int, **options: object) -> dict:
    """The checked fields of OUCloningCell(d, seed, **options) as a dict."""
    return asdict(OUCloningCell(d, seed, **options))


def ou_cloning_cell(d: int, seed: int, **options: object) -> dict:
    """Cloning on the OU engine for ±mu, ||mu||^2 = d: phi = 0.75 crossing against 1/2 log Lambda (docs/science.md §2).

    options: the other fields of OUCloningCell."""
    from syncgap.ou_models import engine, measure
    from syncgap.theory.data import two_gaussian_mixture

    p = OUCloningCell(d, seed, **options)
    data = two_gaussian_mixture(p.d, p.sigma)
    grid = engine.ou_grid(p.T, p.steps)
    lam = float(data.eigenvalues()[0])
    ts = 0.5 * np.log(lam)
    times = np.linspace(max(grid[-2], ts - 2.5), min(grid[0], ts + 3.5), p.branches)
    r = measure.cloning(data, grid, p.samples, p.seed, branch_times=times, scheme=p.scheme, n_boot=p.n_boot)
    out = {"d": p.d, "seed": p.seed, "t_speciation_theory": ts,
           "t_branch": r["t_branch"].tolist(), "agreement": r["agreement"][:, 0].tolist()}
    out |= _finite_fields("t_speciation", *(x[0] for x in read_triple(r, "t_speciation")))
    return out


# the sweep reads a kind's parameters and their defaults from its cell function's signature
# (kinds.parameters): for these two, the fields of their cell dataclass
ou_gap_cell.__signature__ = inspect.signature(OUGapCell).replace(return_annotation=dict)
ou_cloning_cell.__signature__ = inspect.signature(OUCloningCell).replace(return_annotation=dict)


# ---------------------------------------------------------------- dit.protocol1

@dataclass(frozen=True)
class DitProtocol1Cell:
    """The parameters of one dit.protocol1 cell, checked on construction (InputError naming the field and its range).
    The checks import no torch: the driver runs them on every cell."""

    model: str                        # a registry name (tiny, fhgm, fhgm-flat, fhgm-deep, digits, dit-xl) or a directory
    g: float                          # gate strength g >= 0
    seed: int                         # noise seed, integer in [0, 2^63 - 1]
    n_pairs: int = 8                  # replica pairs, integer in [2, 100000]
    num_steps: int = 50               # sampler steps, integer in [2, 1000]
    sampler: str = "ddpm"             # ddpm or ddim
    n_t_int: int = 11                 # switch-off times t_int, integer in [4, num_steps + 1]
    eps: float = 0.3                  # the start's antisymmetric split in [0, 1]
    gate: str = "paper"               # paper or joint
    n_boot: int = 200                 # bootstrap resamples, integer in [10, 100000]
    device: str = "cpu"               # cpu or cuda

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError("model must be a registry name (tiny, fhgm, fhgm-flat, fhgm-deep, digits, dit-xl) or a "
                             f"directory, got {self.model!r}")
        num_steps = check_int("num_steps", self.num_steps, 2, 1000)
        _set_all(self, {"g": check_real("g", self.g, 0.0), "seed": check_int("seed", self.seed, 0, SEED_MAX),
                        "n_pairs": check_int("n_pairs", self.n_pairs, 2, 100_000), "num_steps": num_steps,
                        "sampler": check_choice("sampler", self.sampler, ("ddpm", "ddim")),
                        "n_t_int": check_int("n_t_int", self.n_t_int, 4, num_steps + 1),
                        "eps": check_real("eps", self.eps, 0.0, 1.0), "gate": check_choice("gate", self.gate, ("paper", "joint")),
                        "n_boot": check_int("n_boot", self.n_boot, 10, 100_000),
                        "device": check_choice("device", self.device, ("cpu", "cuda"))})


@dataclass(frozen=True)
class DitProtocol1CudaCell(DitProtocol1Cell):
    """The parameters of one dit.protocol1.cuda cell: dit.protocol1's, on the GPU by default."""

    device: str = "cuda"              # cpu or cuda


def dit_protocol1_params(model: str, g: float, seed: int, **options: object) -> dict:
    """The checked fields of DitProtocol1Cell(model, g, seed, **options) as a dict."""
    return asdict(DitProtocol1Cell(model, g, seed, **options))


def run_protocol1(p: DitProtocol1Cell) -> dict:
    """Protocol I on a coupled DiT at (model, g, seed): tau per scale and the gap, in sampler steps (docs/science.md §5)."""
    import torch

    from syncgap.dit_bridge.protocols import protocol_one
    from syncgap.dit_bridge.registry import load_model

    if p.device == "cuda" and not torch.cuda.is_available():
        raise InputError("device='cuda' but no CUDA device is visible to this worker")
    loaded = load_model(p.model, device=p.device)
    t_ints = np.unique(np.linspace(0, p.num_steps, p.n_t_int).round().astype(int)).tolist()
    r = protocol_one(loaded, p.g, t_ints, n_pairs=p.n_pairs, seed=p.seed, num_steps=p.num_steps,
                     sampler=p.sampler, eps=p.eps, gate=p.gate, n_boot=p.n_boot)
    out = {"model": loaded.name, "g": p.g, "seed": p.seed, "scales": r["scales"]}
    for s in r["per_scale"]:
        out |= interval_fields(f"tau_s{s['scale']}", *read_triple(s, "tau"))
    out |= interval_fields("gap", *read_triple(r, "gap"))
    return out


def dit_protocol1_cell(model: str, g: float, seed: int, **options: object) -> dict:
    """Protocol I on a coupled DiT at (model, g, seed) (`run_protocol1`); options: the other fields of DitProtocol1Cell."""
    return run_protocol1(DitProtocol1Cell(model, g, seed, **options))


def dit_protocol1_cuda_params(model, g, seed, device="cuda", **kw) -> dict:
    """dit.protocol1's check with device='cuda'."""
    return dit_protocol1_params(model, g, seed, device=device, **kw)


def dit_protocol1_cuda_cell(model: str, g: float, seed: int, **options: object) -> dict:
    """dit.protocol1 on the GPU (the kind asks the Dask runner for a worker with one)."""
    return run_protocol1(DitProtocol1CudaCell(model, g, seed, **options))


dit_protocol1_cell.__signature__ = inspect.signature(DitProtocol1Cell).replace(return_annotation=dict)
dit_protocol1_cuda_cell.__signature__ = inspect.signature(DitProtocol1CudaCell).replace(return_annotation=dict)
