"""One pair run's settings (dit_bridge.pair_run.PairRun): checked once with the argument and its range named,
normalised, frozen, re-checked by dataclasses.replace; its start state and labels are the protocols'."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.branches import protocol_one_branches
from syncgap.dit_bridge.pair_run import PairRun, pair_labels
from syncgap.dit_bridge.protocols import read_branches
from syncgap.dit_bridge.registry import load_model, load_tiny
from syncgap.dit_bridge.sampling import antisymmetric_noise
from syncgap.dit_bridge.throughout import throughout_parts
from syncgap.theory.checks import InputError


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return load_tiny(seed=11)


def test_checked_values_replace_the_given_ones(tiny):
    run = PairRun(tiny, g=1, n_pairs=np.int64(3), num_steps=6.0, seed=np.int64(2), eps=0, layers=[2, -3])
    assert (run.g, run.n_pairs, run.num_steps, run.seed, run.eps) == (1.0, 3, 6, 2, 0.0)
    assert type(run.g) is float and type(run.n_pairs) is int and type(run.seed) is int
    assert run.layers == (2, -3) and run.layer_list == [2, -3]       # as given: records keep the caller's order
    assert run.dtype == torch.float32
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.g = 2.0


@pytest.mark.parametrize("kw, words", [
    (dict(g=-1.0), ["g=-1", "[0, 1e+12]"]),
    (dict(g=float("nan")), ["g must be a number"]),
    (dict(num_steps=1), ["num_steps=1", "[2, 1000]"]),
    (dict(n_pairs=0), ["n_pairs=0", "[1, 1000000]"]),
    (dict(seed=-1), ["seed=-1", "[0, inf]"]),
    (dict(eps=1.5), ["eps=1.5", "[0, 1]"]),
    (dict(guidance_scale=0.5), ["guidance_scale=0.5", "[1, 1000]"]),
    (dict(sampler="euler"), ["sampler must be one of", "ddpm", "euler"]),
    (dict(gate="half"), ["gate must be one of", "paper", "joint"]),
    (dict(window="later"), ["window must be one of release, switch-on, throughout, clone"]),
    (dict(noise="loud"), ["noise must be one of independent, shared"]),
    (dict(clone=True, window="switch-on"), ["clone=True", "window='release'"]),
    (dict(window="clone", noise="shared"), ["window 'clone'", "independent"]),
    (dict(window="clone", sampler="ddim"), ["ddpm"]),
    (dict(layers=[3]), ["layer=3", "[-3, 2]"]),
    (dict(layers=[1, -2]), ["must not repeat"]),
    (dict(labels=[1, 2]), ["class labels: expected 3, got 2"]),
    (dict(labels=[1, 2, 10]), ["class label 10", "[0, 9]"]),
])
def test_bad_settings_name_the_argument_and_its_range(tiny, kw, words):
    with pytest.raises(InputError) as exc:
        PairRun(tiny, **{"n_pairs": 3, **kw})
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_guidance_needs_a_null_class():
    fhgm = load_model("fhgm")
    assert fhgm.null_class is None
    with pytest.raises(InputError, match="no null class"):
        PairRun(fhgm, guidance_scale=2.0)


def test_replace_checks_again_and_draws_the_labels_of_its_own_seed(tiny):
    run = PairRun(tiny, n_pairs=4, seed=1)
    torch.testing.assert_close(run.row_labels, pair_labels(tiny, None, 4, 1))
    assert torch.equal(run.row_labels[:4], run.row_labels[4:])          # both replicas of a pair: one class
    other = dataclasses.replace(run, seed=2)
    torch.testing.assert_close(other.row_labels, pair_labels(tiny, None, 4, 2))
    with pytest.raises(InputError, match="num_steps"):
        dataclasses.replace(run, num_steps=0)


def test_start_state_of_each_variant(tiny):
    plain = PairRun(tiny, n_pairs=2, seed=3, eps=0.4).start()
    a, b = plain.x.chunk(2)
    assert plain.step == 0 and not torch.equal(a, b) and len(plain.generators) == 4
    xa, xb = antisymmetric_noise(tiny.sample_shape, 2, 3, 0.4)
    assert torch.equal(a, xa) and torch.equal(b, xb)
    clone = PairRun(tiny, n_pairs=2, seed=3, eps=0.4, clone=True).start()
    assert torch.equal(*clone.x.chunk(2))                                # eps = 0: one trajectory
    shared = PairRun(tiny, n_pairs=2, seed=3, eps=0.4, noise="shared").start()
    assert torch.equal(shared.x, plain.x)
    draws = [torch.randn(3, generator=gn) for gn in shared.generators]
    assert torch.equal(draws[0], draws[2]) and torch.equal(draws[1], draws[3])   # B draws A's noise
    own = [torch.randn(3, generator=gn) for gn in plain.generators]
    assert not torch.equal(own[0], own[2])


def test_one_branch_loop_reads_every_window(tiny):
    """read_branches stacks each read along t_int, the same numbers as the raw branches."""
    run = PairRun(tiny, g=0.6, n_pairs=2, seed=5, num_steps=4, window="switch-on")
    raw = [a - b for _, _, a, b in protocol_one_branches(run, [0, 2, 4])]
    read = read_branches(run, [0, 2, 4], {"diff": lambda a, b: (a - b).numpy()})["diff"]
    assert read.shape == (*raw[0].shape, 3) and read.dtype == np.float64
    for i, d in enumerate(raw):
        np.testing.assert_array_equal(read[..., i], d.numpy())
    parts = throughout_parts(dataclasses.replace(run, window="throughout"), [2, 8])
    assert parts.shape == (2, 2, 2, 5)
