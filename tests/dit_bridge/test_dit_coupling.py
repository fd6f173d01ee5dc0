"""Gated cross-replica attention (dit_bridge.coupling) against stock diffusers and a literal 2N-token reference."""
import math

import pytest
import torch

from syncgap.dit_bridge.coupling import (GatedPairAttnProcessor, coupled_layers, get_g, remove_coupling, set_coupling,
                                 set_g)
from syncgap.dit_bridge.registry import load_tiny
from syncgap.theory.checks import InputError

TOL = dict(atol=2e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=3)


def _inputs(m=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * m, 4, 8, 8, generator=gen)
    t = torch.randint(0, 1000, (2 * m,), generator=gen)
    y = torch.randint(0, 10, (2 * m,), generator=gen)
    return x, t, y


def _out(model, x, t, y):
    with torch.no_grad():
        return model(x, t, y).sample


class NaiveJointSequenceProcessor:
    """Reference: the literal sequence X = [X_A; X_B] (2N tokens) with an explicit (2N, 2N) mask."""

    def __init__(self, g, gate):
        self.g, self.gate = g, gate

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        n2, t, dim = hidden_states.shape
        m = n2 // 2
        xj = torch.cat([hidden_states[:m], hidden_states[m:]], dim=1).double()  # (M, 2N, D)
        w = {k: getattr(attn, k).weight.double() for k in ("to_q", "to_k", "to_v")}
        b = {k: getattr(attn, k).bias.double() for k in ("to_q", "to_k", "to_v")}
        h = attn.heads
        d = dim // h
        q, k, v = ((xj @ w[n].T + b[n]).view(m, 2 * t, h, d).permute(0, 2, 1, 3) for n in ("to_q", "to_k", "to_v"))
        logits = q @ k.transpose(-1, -2) / math.sqrt(d)  # (M, H, 2N, 2N)
        rep = torch.arange(2 * t) // t
        cross = rep[:, None] != rep[None, :]  # True where query and key belong to different replicas
        if self.gate == "joint":
            bias = torch.where(cross, math.log(self.g) if self.g > 0 else -math.inf, 0.0).double()
            p = torch.softmax(logits + bias, -1)
        else:
            p_self = torch.softmax(logits.masked_fill(cross, -math.inf), -1)
            p_cross = torch.softmax(logits.masked_fill(~cross, -math.inf), -1)
            p = (p_self + self.g * p_cross) / (1 + self.g)
        o = (p @ v).permute(0, 2, 1, 3).reshape(m, 2 * t, dim)  # (M, 2N, D)
        o = torch.cat([o[:, :t], o[:, t:]], dim=0)  # back to rows [A; B]
        o = o @ attn.to_out[0].weight.double().T + attn.to_out[0].bias.double()
        return o.to(hidden_states.dtype)


def _set_naive(model, gs, gate):
    for blk, g in zip(model.transformer_blocks, gs):
        blk.attn1.set_processor(NaiveJointSequenceProcessor(g, gate))


@pytest.mark.parametrize("gate", ["paper", "joint"])
def test_g0_equals_stock_processor_on_each_replica_alone(tiny, gate):
    x, t, y = _inputs()
    remove_coupling(tiny.model)
    alone = torch.cat([_out(tiny.model, x[:3], t[:3], y[:3]), _out(tiny.model, x[3:], t[3:], y[3:])])
    stock_joint_batch = _out(tiny.model, x, t, y)
    set_coupling(tiny.model, 0.0, gate=gate)
    coupled = _out(tiny.model, x, t, y)
    remove_coupling(tiny.model)
    assert torch.equal(coupled, stock_joint_batch)  # same batch: bit for bit
    torch.testing.assert_close(coupled, alone, **TOL)


@pytest.mark.parametrize("gate", ["paper", "joint"])
@pytest.mark.parametrize("g", [0.0, 0.4, 1.0, 7.0])
def test_swapping_replicas_swaps_outputs(tiny, gate, g):
    x, t, y = _inputs(seed=1)
    set_coupling(tiny.model, g, gate=gate)
    out = _out(tiny.model, x, t, y)
    sw = lambda z: torch.cat([z[3:], z[:3]])  # noqa: E731
    out_sw = _out(tiny.model, sw(x), sw(t), sw(y))
    remove_coupling(tiny.model)
    torch.testing.assert_close(sw(out_sw), out, **TOL)
    if g > 0:
        assert not torch.allclose(out, _out(tiny.model, x, t, y), atol=1e-4)  # the gate does something


@pytest.mark.parametrize("gate", ["paper", "joint"])
@pytest.mark.parametrize("gs", [(0.5, 0.5, 0.5), (2.0, 0.0, 0.3)])
def test_gates_match_literal_joint_sequence_reference(tiny, gate, gs):
    x, t, y = _inputs(seed=2)
    _set_naive(tiny.model, gs, gate)
    ref = _out(tiny.model, x, t, y)
    layers = [i for i, g in enumerate(gs) if g > 0]  # uncoupled layers get the stock processor
    set_coupling(tiny.model, [g for g in gs if g > 0], layers=layers, gate=gate)
    assert coupled_layers(tiny.model) == layers
    out = _out(tiny.model, x, t, y)
    remove_coupling(tiny.model)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_strong_coupling_limit_both_gates_attend_to_partner_only(tiny):
    x, t, y = _inputs(seed=4)
    set_coupling(tiny.model, 1e7, gate="paper")
    paper = _out(tiny.model, x, t, y)
    set_coupling(tiny.model, 1e7, gate="joint")
    joint = _out(tiny.model, x, t, y)
    remove_coupling(tiny.model)
    torch.testing.assert_close(paper, joint, atol=1e-4, rtol=1e-4)


def test_g_is_a_tensor_changed_in_place_per_layer(tiny):
    x, t, y = _inputs(seed=5)
    set_coupling(tiny.model, 0.0)
    buf = tiny.model.transformer_blocks[1].attn1.coupling_g
    proc = tiny.model.transformer_blocks[1].attn1.processor
    base = _out(tiny.model, x, t, y)
    set_g(tiny.model, {1: 0.8})
    assert tiny.model.transformer_blocks[1].attn1.coupling_g is buf  # same tensor, new value
    assert tiny.model.transformer_blocks[1].attn1.processor is proc
    assert get_g(tiny.model) == pytest.approx([0.0, 0.8, 0.0])
    assert not torch.allclose(_out(tiny.model, x, t, y), base, atol=1e-4)
    set_g(tiny.model, 0.0)
    assert torch.equal(_out(tiny.model, x, t, y), base)
    remove_coupling(tiny.model)
    assert coupled_layers(tiny.model) == [] and get_g(tiny.model) == [0.0, 0.0, 0.0]


def test_cfg_layout_pairs_conditional_and_unconditional_rows(tiny):
    x, t, y = _inputs(m=2, seed=6)  # rows [A1, A2 ; B1, B2]
    null = torch.full((2,), 10)
    set_coupling(tiny.model, 0.9)
    cond = _out(tiny.model, x, t, y)
    uncond = _out(tiny.model, x, t, torch.cat([null, null]))
    # sampler layout [A_c, A_u ; B_c, B_u]: each conditional row pairs with its partner's conditional row
    xc = torch.cat([x[:2], x[:2], x[2:], x[2:]])
    tc = torch.cat([t[:2], t[:2], t[2:], t[2:]])
    yc = torch.cat([y[:2], null, y[2:], null])
    both = _out(tiny.model, xc, tc, yc)
    remove_coupling(tiny.model)
    torch.testing.assert_close(torch.cat([both[0:2], both[4:6]]), cond, **TOL)
    torch.testing.assert_close(torch.cat([both[2:4], both[6:8]]), uncond, **TOL)


def test_bad_coupling_input_raises_clear_errors(tiny):
    x, t, y = _inputs()
    with pytest.raises(InputError, match=r"g=-0\.1 is outside"):
        set_coupling(tiny.model, -0.1)
    with pytest.raises(InputError, match="NaN"):
        set_coupling(tiny.model, float("nan"))
    with pytest.raises(InputError, match="gate must be one of"):
        set_coupling(tiny.model, 0.5, gate="mean")
    with pytest.raises(InputError, match="layer=5 is outside"):
        set_coupling(tiny.model, 0.5, layers=[0, 5])
    with pytest.raises(InputError, match="2 values but 3 layers"):
        set_coupling(tiny.model, [0.1, 0.2])
    set_coupling(tiny.model, 0.5, layers=[0])
    with pytest.raises(InputError, match="not coupled"):
        set_g(tiny.model, {2: 0.3})
    with pytest.raises(InputError, match="even number of rows"):
        _out(tiny.model, x[:5], t[:5], y[:5])
    remove_coupling(tiny.model)
    assert isinstance(GatedPairAttnProcessor("joint"), GatedPairAttnProcessor)


@pytest.mark.slow
def test_changing_g_does_not_recompile(tiny):
    """torch.compile (dynamo, eager backend) traces once; new g values reuse the graphs."""
    from torch._dynamo.testing import CompileCounter
    x, t, y = _inputs(m=2, seed=7)
    set_coupling(tiny.model, 0.5)
    counter = CompileCounter()
    compiled = torch.compile(tiny.model, backend=counter)
    with torch.no_grad():
        a = compiled(x, t, y).sample
        frames = counter.frame_count
        set_g(tiny.model, 0.9)
        b = compiled(x, t, y).sample
        set_g(tiny.model, [0.0, 0.0, 0.0])
        c = compiled(x, t, y).sample
    assert counter.frame_count == frames
    assert not torch.allclose(a, b, atol=1e-4)
    set_coupling(tiny.model, 0.0)
    torch.testing.assert_close(c, _out(tiny.model, x, t, y), **TOL)
    remove_coupling(tiny.model)
    torch._dynamo.reset()


@pytest.mark.parametrize("gate", ["paper", "joint"])
def test_gradients_flow_through_the_gate(tiny, gate):
    x, t, y = _inputs(m=1, seed=8)
    set_coupling(tiny.model, 0.5, gate=gate)
    x = x.clone().requires_grad_(True)
    out = tiny.model(x, t, y).sample
    with torch.no_grad():
        ref = tiny.model(x, t, y).sample
    (grad,) = torch.autograd.grad(out[:1].sum(), x)
    remove_coupling(tiny.model)
    torch.testing.assert_close(out.detach(), ref, **TOL)
    assert grad[1].abs().sum() > 0  # replica A's output depends on replica B's input through the gate
