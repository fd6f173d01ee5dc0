"""Counter-based normal random numbers: every number is a pure function of (seed, path, stream, counter).

A path's noise never comes from shared state, so results are bitwise identical for
any number of threads and any split of the paths into batches (docs/science.md §7 runs).
Uniform bits: SplitMix64's finaliser applied to key + counter * golden (the SplitMix64
stream with seed `key`). Normals: Marsaglia & Tsang's 128-layer ziggurat (J. Stat.
Softw. 5(8), 2000); the 2.76 % of draws that miss the fast path take extra bits from
a hash chain of the same counter, so they stay deterministic too.

`*_np` twins are plain NumPy versions of the same numbers (tests, the reference).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_CHAIN = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S32, _S11 = (np.uint64(s) for s in (30, 27, 31, 32, 11))
_LOW7 = np.uint64(127)
_ZIG_R = 3.442619855899
_TWO31 = 2147483648.0


def _ziggurat_tables():
    """kn (int64), wn, fn of the 128-layer normal ziggurat (Marsaglia & Tsang 2000, zigset)."""
    kn = np.zeros(128, dtype=np.int64)
    wn = np.zeros(128)
    fn = np.zeros(128)
    dn = tn = _ZIG_R
    vn = 9.91256303526217e-3
    q = vn / math.exp(-0.5 * dn * dn)
    kn[0] = int((dn / q) * _TWO31)
    kn[1] = 0
    wn[0] = q / _TWO31
    wn[127] = dn / _TWO31
    fn[0] = 1.0
    fn[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int((dn / tn) * _TWO31)
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / _TWO31
    return kn, wn, fn


ZIG_KN, ZIG_WN, ZIG_FN = _ziggurat_tables()


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit hash."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed: int, path: int, stream: int) -> np.uint64:
    """64-bit key of the noise stream of one path (global index) and stream id (0 = main, b+1 = branch b)."""
    k = mix64(np.uint64(seed) + GOLDEN)
    k = mix64(k + np.uint64(path) * GOLDEN)  # uint64 throughout: numba turns uint64 + int64 into float64
    return mix64(k ^ (np.uint64(stream) * _M2 + _CHAIN))


@njit(cache=True, inline="always")
def _uniform(h):
    """A uniform in (0, 1) from the top 53 bits of a hash."""
    return (np.float64(h >> _S11) + 0.5) * 1.1102230246251565e-16


@njit(cache=True, inline="always")
def _normal_slow(h, hz, iz):
    """Ziggurat slow path (nfix): tail or wedge; new bits come from a hash chain of h."""
    while True:
        x = hz * ZIG_WN[iz]
        if iz == 0:
            while True:
                h = mix64(h ^ _CHAIN)
                xx = -math.log(_uniform(h)) / _ZIG_R
                h = mix64(h ^ _CHAIN)
                yy = -math.log(_uniform(h))
                if yy + yy >= xx * xx:
                    break
            return _ZIG_R + xx if hz > 0 else -_ZIG_R - xx
        h = mix64(h ^ _CHAIN)
        if ZIG_FN[iz] + _uniform(h) * (ZIG_FN[iz - 1] - ZIG_FN[iz]) < math.exp(-0.5 * x * x):
            return x
        h = mix64(h ^ _CHAIN)
        hz = np.int64(h >> _S32) - 2147483648
        iz = np.int64(h & _LOW7)
        if abs(hz) < ZIG_KN[iz]:
            return hz * ZIG_WN[iz]


@njit(cache=True, inline="always")
def normal(key: np.uint64, counter: int) -> float:
    """The standard normal number `counter` of stream `key`."""
    h = mix64(np.uint64(key) + np.uint64(counter) * GOLDEN)
    hz = np.int64(h >> _S32) - 2147483648
    iz = np.int64(h & _LOW7)
    if abs(hz) < ZIG_KN[iz]:
        return hz * ZIG_WN[iz]
    return _normal_slow(h, hz, iz)


@njit(cache=True)
def fill_normals(key: np.uint64, counter0: int, out: np.ndarray) -> None:
    """out[i] = normal(key, counter0 + i) for a 1-D float64 array.

    Two passes, so the common case vectorises: the fast ziggurat layer for every i (NaN
    where it rejects), then the 2.76 % of rejected draws through the slow path. The
    counter's hash input advances by GOLDEN per draw (the same wrap-around sums).
    """
    x0 = np.uint64(key) + np.uint64(counter0) * GOLDEN
    x = x0
    for i in range(out.size):
        h = mix64(x)
        x += GOLDEN
        hz = np.int64(h >> _S32) - 2147483648
        iz = np.int64(h & _LOW7)
        out[i] = hz * ZIG_WN[iz] if abs(hz) < ZIG_KN[iz] else np.nan
    for i in range(out.size):
        if out[i] != out[i]:
            h = mix64(x0 + np.uint64(i) * GOLDEN)
            out[i] = _normal_slow(h, np.int64(h >> _S32) - 2147483648, np.int64(h & _LOW7))


# ---------------------------------------------------------------- NumPy twins (reference, tests)

def _mix64_np(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def stream_key_np(seed: int, path: int, stream: int) -> np.uint64:
    """NumPy twin of `stream_key`."""
    with np.errstate(over="ignore"):
        k = _mix64_np(np.uint64(seed) + GOLDEN)
        k = _mix64_np(k + np.uint64(path) * GOLDEN)
        return _mix64_np(k ^ (np.uint64(stream) * _M2 + _CHAIN))


def normals_np(key: int | np.uint64, counter0: int, size: int) -> np.ndarray:
    """NumPy twin of `fill_normals`: size normals of stream `key` from counter0 on."""
    with np.errstate(over="ignore"):
        h = _mix64_np(np.uint64(key) + np.arange(counter0, counter0 + size, dtype=np.uint64) * GOLDEN)
    hz = (h >> _S32).astype(np.int64) - 2147483648
    iz = (h & _LOW7).astype(np.int64)
    out = hz * ZIG_WN[iz]
    for i in np.nonzero(np.abs(hz) >= ZIG_KN[iz])[0]:
        out[i] = _normal_slow(h[i], hz[i], iz[i])
    return out
