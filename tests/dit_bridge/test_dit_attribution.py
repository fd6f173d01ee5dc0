"""Attribution by JVP (dit_bridge.attribution): head and rest of the network, JVP against finite differences,
closure of the direct decomposition on a tiny random model."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.attribution import attribution_run, head, jvp, rest_of_network, shares
from syncgap.dit_bridge.registry import load_tiny
from syncgap.theory.checks import InputError
from syncgap.theory.data import frequency_hierarchy_mixture


@pytest.fixture(scope="module")
def tiny64():
    return load_tiny(seed=7, dtype=torch.float64)


def _inputs(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 8, 8, generator=g, dtype=torch.float64)
    return x, torch.full((n,), 400), torch.tensor([1, 2, 3][:n])


def test_rest_of_network_reproduces_the_forward(tiny64):
    m = tiny64.model
    x, t, lab = _inputs()
    with torch.no_grad():
        want = m(x, t, lab).sample[:, :4]
        got = rest_of_network(m, 0, t, lab)(m.pos_embed(x))
        h = m.pos_embed(x)
        for b in list(m.transformer_blocks):
            h = b(h, timestep=t, class_labels=lab)
        torch.testing.assert_close(head(m, h, t, lab), want)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("after", [0, 1, 3])
def test_jvp_matches_central_finite_differences(tiny64, after):
    m = tiny64.model
    x, t, lab = _inputs(seed=after)
    fn = rest_of_network(m, after, t, lab)
    with torch.no_grad():
        h = m.pos_embed(x)
        for b in list(m.transformer_blocks)[:after]:
            h = b(h, timestep=t, class_labels=lab)
    v = torch.randn(h.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    got = jvp(fn, h, v)
    tau = 1e-5
    with torch.no_grad():
        fd = (fn(h + tau * v) - fn(h - tau * v)) / (2 * tau)
    assert float((got - fd).norm() / fd.norm()) < 1e-6
    assert float(got.norm()) > 0


def test_direct_decomposition_closes_and_total_effects_are_finite():
    rec = load_tiny(seed=5)
    mix = frequency_hierarchy_mixture(size=8, channels=4)
    errs = {}
    for eps in (0.2, 0.05):
        r = attribution_run(rec, mix, n_pairs=6, num_steps=6, steps=[1, 4], seed=1, eps=eps)
        assert set(r) == {1, 4}
        e = r[4]
        assert e["total"].shape == (3, 6, 4) and e["direct"].shape == (3, 6, 4) and e["actual"].shape == (6, 4)
        # the head's linearisation of the whole stream difference is the sum of its parts (telescoping)
        np.testing.assert_allclose(e["input_direct"] + e["direct"].sum(0), e["head_linear"], rtol=1e-3, atol=1e-6)
        s = shares(e)
        assert s["total"].shape == (3, 4) and np.all(np.isfinite(s["closure_error"]))
        errs[eps] = np.abs(s["closure_error"]).max()
    assert errs[0.05] < 0.02                 # the closure error is the head's nonlinearity: O(difference^2)
    assert errs[0.05] < errs[0.2] or errs[0.2] < 1e-3
    with pytest.raises(InputError, match="attribution step"):
        attribution_run(rec, mix, n_pairs=2, num_steps=4, steps=[7])


def test_shares_on_made_up_effects():
    act = np.array([[1.0, 2.0], [-1.0, 0.0]])               # (P, F)
    eff = {"actual": act, "skip": 0.5 * act, "input_direct": 0 * act,
           "direct": np.stack([0.25 * act, 0.25 * act]), "total": np.stack([act, 0 * act])}
    s = shares(eff)
    np.testing.assert_allclose(s["direct"], 0.25)
    np.testing.assert_allclose(s["total"][0], 1.0)
    np.testing.assert_allclose(s["closure_error"], 0.0, atol=1e-12)
