"""Which float type a DiT cell runs its model in, and the model copy that runs it.

    resolve_dtype(choice, device) -> "fp32" | "bf16"       choice: "auto", "fp32" or "bf16"
    model_in(loaded, dtype) -> LoadedDiT                    the same record, weights cast (a copy) for bf16
    dtype_config(dtype) -> dict                             what a cell's configuration key adds for dtype

bf16 is for cells that read signs (Protocol I's release and switch-on windows, cloning, coupled cloning): the
model's forward runs in bfloat16 (matmuls on AMX tiles or AVX512-BF16 dot products through oneDNN), while the
pair state, the scheduler step, the replica difference and every projection stay float32 (sampling._model_eps
casts the input to the weights' dtype and the output back to float32). Everything that reads small differences
or derivatives (difference energies, throughout onsets, the gate's small-perturbation response, JVPs, depth
probes) keeps float32. "auto" is bf16 on a CPU with native bf16 arithmetic (AMX tiles or the AVX512-BF16 dot
product) and float32 elsewhere (a GPU, or a CPU without them, where bf16 is emulated). Measured on a quiet
2-core AMD EPYC with avx512_bf16 and no AMX (benchmarks/RESULTS.md, 2026-12-05): one fhgm forward of 256 rows
1.51-1.81x faster in bf16, fhgm-deep16 1.51-1.58x.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
from typing import TYPE_CHECKING

import torch

from syncgap.theory.checks import InputError, check_choice

if TYPE_CHECKING:
    from .registry import LoadedDiT

DTYPES = ("auto", "fp32", "bf16")
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


BF16_FLAGS = ("amx_bf16", "avx512_bf16")   # /proc/cpuinfo flags of native bf16 (AMX tiles; AVX512 dot product)


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when this CPU computes bf16 natively: a BF16_FLAGS flag in /proc/cpuinfo, or torch's own probes."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_FLAGS)
    except OSError:
        pass
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    try:
        return any(probe is not None and probe() for probe in probes)
    except RuntimeError:
        return False


def resolve_dtype(choice: str, device: str | torch.device = "cpu") -> str:
    """"fp32" or "bf16" for a --dtype choice: "auto" is bf16 on a CPU with native bf16 (native_bf16()), else fp32."""
    check_choice("dtype", choice, DTYPES)
    if choice != "auto":
        return choice
    return "bf16" if torch.device(device).type == "cpu" and native_bf16() else "fp32"


def model_in(loaded: LoadedDiT, dtype: str) -> LoadedDiT:
    """`loaded` itself for fp32; for bf16 a record whose model is a bfloat16 copy (loaded.model is left as it is)."""
    if dtype not in TORCH_DTYPES:
        raise InputError(f"dtype must be fp32 or bf16, got {dtype!r}")
    if dtype == "fp32":
        return loaded
    from diffusers.utils import logging as dlog
    level = dlog.get_verbosity()
    dlog.set_verbosity_error()   # DiT keeps no module in float32, so diffusers' cast warning does not apply
    try:
        model = copy.deepcopy(loaded.model).to(TORCH_DTYPES[dtype]).eval()
    finally:
        dlog.set_verbosity(level)
    return dataclasses.replace(loaded, model=model)


def dtype_config(dtype: str) -> dict:
    """The cell configuration's dtype entry: none for fp32 (so run folders written before cells had a dtype
    resume as the fp32 cells they are), {"dtype": "bf16"} for bf16 (a different key: never mixed)."""
    if dtype not in TORCH_DTYPES:
        raise InputError(f"dtype must be fp32 or bf16, got {dtype!r}")
    return {} if dtype == "fp32" else {"dtype": dtype}


__all__ = ["DTYPES", "BF16_FLAGS", "native_bf16", "resolve_dtype", "model_in", "dtype_config"]
