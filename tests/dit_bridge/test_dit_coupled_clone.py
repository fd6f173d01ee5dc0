"""Coupled cloning on the DiT (dit_bridge.coupled_clone, window "clone"): at g = 0 it is cloning (the
protocol_one(clone=True) variant) to float rounding, on the shipped FHGM-DiT; its checks and its record."""
from __future__ import annotations

import numpy as np
import pytest

from syncgap.dit_bridge.coupled_clone import clone_generators
from syncgap.dit_bridge.protocols import protocol_one
from syncgap.dit_bridge.registry import load_model, load_tiny
from syncgap.theory.checks import InputError
from syncgap.theory.data import frequency_hierarchy_mixture

T_INTS = [0, 6, 12, 18, 24, 30]


@pytest.fixture(scope="module")
def fhgm():
    return load_model("fhgm")


@pytest.mark.slow
def test_coupled_cloning_at_g0_is_cloning(fhgm):
    """Replica A (the original) and its copy A' against cloning's A and B: projections on the FHGM features
    within 1e-5, and final signs equal on >= 99.5% of (pair, feature, t_int) units."""
    mix = frequency_hierarchy_mixture(size=fhgm.sample_shape[1], channels=fhgm.sample_shape[0])
    kw = dict(n_pairs=16, seed=3, num_steps=30, scales=[2, 16], patterns=mix.patterns)
    clone = protocol_one(fhgm, 0.0, T_INTS, clone=True, fit=False, **kw)["projections"]       # (P, 2, F, T)
    coupled = protocol_one(fhgm, 0.0, T_INTS, window="clone", fit=False, **kw)["projections"]
    assert np.abs(coupled - clone).max() < 1e-5
    same = np.sign(coupled) == np.sign(clone)
    assert same.mean() >= 0.995


def test_coupled_cloning_record_and_checks():
    tiny = load_tiny(seed=11)
    r = protocol_one(tiny, 0.5, [0, 2, 4, 6], n_pairs=3, num_steps=6, window="clone", n_boot=20)
    assert r["window"] == "clone" and r["eps"] == 0.0 and r["agreement"].shape == (3, len(r["scales"]), 4)
    assert np.allclose(r["agreement"][:, :, -1], 1.0)    # cloned at the end: the copy is the original
    with pytest.raises(InputError, match="ddpm"):
        protocol_one(tiny, 0.5, [0, 2, 4, 6], n_pairs=3, num_steps=6, window="clone", sampler="ddim")
    with pytest.raises(InputError, match="independent"):
        protocol_one(tiny, 0.5, [0, 2, 4, 6], n_pairs=3, num_steps=6, window="clone", noise="shared")


def test_clone_generators_are_reproducible_and_distinct_per_pair():
    a, b = clone_generators(3, 4, 7), clone_generators(3, 4, 7)
    draws = [g.get_state() for g in a]
    assert all(x.equal(y.get_state()) for x, y in zip(draws, b))
    assert len({bytes(x.numpy()) for x in draws}) == len(draws)
