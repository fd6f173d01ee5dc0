"""Data distributions with exact posterior means under the OU forward process.

One definition, shared by the exact-score samplers (`ou_models`) and the DiT
training data (`dit_bridge`), so both see the very same distribution.

`SignFeatureMixture` (docs/science.md §2, §4, §6): x_0 = sum_k a_k s_k phi_k + sigma * eps,
with independent signs s_k = ±1 (probability 1/2 each), orthonormal patterns phi_k
(rows of a (K, D) matrix), amplitudes a_k > 0, and isotropic noise eps ~ N(0, I_D).
- K = 1, phi = 1/sqrt(d), a = sqrt(d): Biroli's two-Gaussian mixture ±mu, ||mu||^2 = d.
- The frequency-hierarchy Gaussian mixture (FHGM): phi_k are 2-D DCT-II patterns of
  increasing spatial frequency on an H x W grid with decreasing amplitudes; its control
  `flat_frequency_mixture` has the same patterns with equal amplitudes (no built-in ordering).

Along phi_k the data covariance eigenvalue is Lambda_k = a_k^2 + sigma^2; every
orthogonal direction has eigenvalue sigma^2.

Exact posterior mean at OU time t (x_t = e^{-t} x_0 + sqrt(Delta_t) z), with
Gamma_t = sigma^2 e^{-2t} + Delta_t and y_k = phi_k . x_t:
    m_k = tanh(a_k e^{-t} y_k / Gamma_t)                    (posterior mean of s_k)
    E[x_0 | x_t] = sum_k phi_k [a_k m_k + c_t (y_k - e^{-t} a_k m_k)] + c_t P_perp x_t,
    c_t = sigma^2 e^{-t} / Gamma_t.
Score (Tweedie): grad log p_t(x) = (e^{-t} E[x_0 | x_t] - x_t) / Delta_t, which for
K = 1 equals tanh(mu_t.x/Gamma_t) mu_t/Gamma_t - x/Gamma_t of docs/science.md §2.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .checks import SCALE_MAX, InputError, check_array, check_int, check_positive, check_real
from .schedules import delta


@dataclass(frozen=True)
class SignFeatureMixture:
    """x_0 = sum_k a_k s_k phi_k + sigma eps; patterns (K, D) orthonormal rows."""

    patterns: np.ndarray    # (K, D)
    amplitudes: np.ndarray  # (K,)
    noise_std: float
    shape: tuple            # shape of one sample, prod(shape) == D
    names: tuple = ()

    def __post_init__(self):
        p = check_array("patterns", self.patterns, ndim=2)
        a = check_array("amplitudes", self.amplitudes, ndim=1)
        if a.shape[0] != p.shape[0]:
            raise InputError(f"amplitudes has {a.shape[0]} entries but patterns has {p.shape[0]} rows")
        if np.any(a <= 0) or np.any(a > SCALE_MAX):
            raise InputError(f"amplitudes must all be in the allowed range (0, {SCALE_MAX:g}], got {a.tolist()}")
        check_positive("noise_std", self.noise_std)
        if int(np.prod(self.shape)) != p.shape[1]:
            raise InputError(f"shape {self.shape} does not hold D={p.shape[1]} values")
        if not np.allclose(p @ p.T, np.eye(p.shape[0]), atol=1e-8):
            raise InputError("patterns must be orthonormal rows")
        object.__setattr__(self, "patterns", p)
        object.__setattr__(self, "amplitudes", a)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if not self.names:
            object.__setattr__(self, "names", tuple(f"feature{k}" for k in range(a.size)))

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    @property
    def num_features(self) -> int:
        return self.patterns.shape[0]

    def eigenvalues(self) -> np.ndarray:
        """Lambda_k = a_k^2 + sigma^2: covariance eigenvalue along each feature."""
        return self.amplitudes ** 2 + self.noise_std ** 2

    def sample(self, n: int, rng: np.random.Generator,
               return_signs: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """n samples flattened to (n, D); optionally the signs (n, K) too."""
        n = check_int("n", n, 1)
        s = rng.choice(np.array([-1.0, 1.0]), size=(n, self.num_features))
        x = (s * self.amplitudes) @ self.patterns + self.noise_std * rng.standard_normal((n, self.dim))
        return (x, s) if return_signs else x

    def project(self, x: ArrayLike) -> np.ndarray:
        """Feature coordinates y_k = phi_k . x for a batch (..., D) -> (..., K)."""
        return np.asarray(x) @ self.patterns.T

    def feature_signs(self, x: ArrayLike) -> np.ndarray:
        """Class label of each feature: sign(phi_k . x), shape (..., K)."""
        return np.sign(self.project(x))

    def _decay_and_variance(self, t):
        """(e^{-t}, Gamma_t = sigma^2 e^{-2t} + Delta_t): mean decay and the variance of x_t given the signs (§2)."""
        e = np.exp(-t)
        return e, self.noise_std ** 2 * e * e + float(delta(t))

    def posterior_mean(self, x: ArrayLike, t: float) -> np.ndarray:
        """E[x_0 | x_t = x] at OU time t > 0; x has shape (..., D)."""
        t = check_real("t", t, 0.0, lo_open=True)
        x = np.asarray(x, dtype=float)
        e, gam = self._decay_and_variance(t)
        c = self.noise_std ** 2 * e / gam
        y = self.project(x)                                    # (..., K)
        m = np.tanh(self.amplitudes * e * y / gam)             # (..., K)
        along = self.amplitudes * m + c * (y - e * self.amplitudes * m)
        perp = x - y @ self.patterns                           # (..., D)
        return along @ self.patterns + c * perp

    def score(self, x: ArrayLike, t: float) -> np.ndarray:
        """grad log p_t(x) = (e^{-t} E[x_0|x_t] - x) / Delta_t."""
        t = check_real("t", t, 0.0, lo_open=True)
        return (np.exp(-t) * self.posterior_mean(x, t) - np.asarray(x, dtype=float)) / float(delta(t))

    def log_density(self, x: ArrayLike, t: float) -> float | np.ndarray:
        """log p_t(x) (exact; used to check scores by finite differences)."""
        t = check_real("t", t, 0.0, lo_open=True)
        x = np.asarray(x, dtype=float)
        e, gam = self._decay_and_variance(t)
        y = self.project(x)
        perp2 = np.sum(x * x, axis=-1) - np.sum(y * y, axis=-1)
        ay = self.amplitudes * e
        # each feature direction: 1/2 N(+a e, gam) + 1/2 N(-a e, gam)
        lp = -(y * y + ay * ay) / (2 * gam) + np.logaddexp(ay * y / gam, -ay * y / gam) - np.log(2.0)
        return lp.sum(-1) - perp2 / (2 * gam) - 0.5 * self.dim * np.log(2 * np.pi * gam)


def two_gaussian_mixture(d: int, noise_std: float = 1.0) -> SignFeatureMixture:
    """Biroli et al.'s mixture ±mu, mu = (1, ..., 1) so ||mu||^2 = d, covariance sigma^2 I (§2)."""
    d = check_int("d", d, 1)
    return SignFeatureMixture(np.full((1, d), 1.0 / np.sqrt(d)), np.array([np.sqrt(d)]),
                              noise_std, (d,), ("class",))


def dct_pattern(size: int, u: int, v: int) -> np.ndarray:
    """Orthonormal 2-D DCT-II basis image of frequency (u, v) on a size x size grid."""
    n = np.arange(size)

    def basis(k):
        b = np.cos(np.pi * (n + 0.5) * k / size)
        return b / np.linalg.norm(b)

    return np.outer(basis(u), basis(v))


FHGM_FREQUENCIES = ((0, 1), (1, 2), (3, 4), (6, 7))
FHGM_AMPLITUDES = (12.0, 6.0, 3.0, 1.5)
FHGM_NOISE_STD = 0.5


def frequency_hierarchy_mixture(size: int = 16, channels: int = 1,
                                frequencies: Sequence[tuple[int, int]] = FHGM_FREQUENCIES,
                                amplitudes: Sequence[float] = FHGM_AMPLITUDES,
                                noise_std: float = FHGM_NOISE_STD) -> SignFeatureMixture:
    """The frequency-hierarchy Gaussian mixture (docs/science.md §6), samples of shape (channels, size, size).

    Feature k is a DCT pattern of frequency (u_k, v_k), the same on every channel
    (normalised over all channels), with amplitude a_k. The defaults give per-pixel
    variance about 1 on 16 x 16 x 1 and speciation times 1/2 log(a_k^2 + sigma^2)
    of about 2.49, 1.80, 1.11, 0.46 in OU time: low frequencies commit first.
    """
    size = check_int("size", size, 2)
    channels = check_int("channels", channels, 1)
    freqs = [tuple(int(c) for c in f) for f in frequencies]
    for u, v in freqs:
        check_int("frequency u", u, 0, size - 1)
        check_int("frequency v", v, 0, size - 1)
    if len(set(freqs)) != len(freqs):
        raise InputError("frequencies must be distinct")
    pats = np.stack([np.tile(dct_pattern(size, u, v), (channels, 1, 1)).ravel() / np.sqrt(channels)
                     for u, v in freqs])
    names = tuple(f"dct{u}{v}" for u, v in freqs)
    return SignFeatureMixture(pats, np.asarray(amplitudes, dtype=float), noise_std,
                              (channels, size, size), names)


def equal_signal_amplitude(amplitudes: Sequence[float]) -> float:
    """The common amplitude a = sqrt(mean_k a_k^2) that keeps the total signal variance sum_k a_k^2.

    A mixture with K equal amplitudes a has sum_k a^2 = sum_k a_k^2, so its per-pixel variance
    (sum_k a_k^2 + D sigma^2) / D equals the original's: the control differs from the FHGM only in
    how the signal is spread over the frequencies, not in how much of it there is.
    """
    a = check_array("amplitudes", amplitudes, ndim=1)
    return float(np.sqrt(np.mean(np.square(a))))


# The equal-amplitude control of the FHGM (every feature at the FHGM's root-mean-square amplitude): sqrt((144 + 36 + 9 + 2.25) / 4) ~ 6.915 each.
FHGM_FLAT_AMPLITUDES = (equal_signal_amplitude(FHGM_AMPLITUDES),) * len(FHGM_AMPLITUDES)


def flat_frequency_mixture(size: int = 16, channels: int = 1) -> SignFeatureMixture:
    """The FHGM control with equal amplitudes (docs/science.md §6): same DCT patterns, same sigma.

    Every feature has a = sqrt(mean_k a_k^2) ~ 6.915 (`equal_signal_amplitude` of FHGM_AMPLITUDES:
    the same total signal variance, so per-pixel variance about 1 as in the FHGM), so every
    covariance eigenvalue along a feature is Lambda = a^2 + sigma^2 ~ 48.06 and the exact-score
    speciation time 1/2 log(a^2 + sigma^2) ~ 1.936 is the same for all four features: under the
    exact sampler no frequency commits before another, and any ordering a network trained on
    this data shows comes from the network.
    """
    return frequency_hierarchy_mixture(size=size, channels=channels, amplitudes=FHGM_FLAT_AMPLITUDES)


def radial_frequency(u: int, v: int) -> float:
    """sqrt(u^2 + v^2): the radial spatial frequency used to order FHGM features."""
    return float(np.hypot(u, v))
