"""Band ablation (dit_bridge.ablation): the hook removes exactly the band's increment difference, only in its window."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.ablation import BandAblation, ablated_cloning
from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.token_modes import global_mode_mask, token_dct_basis
from syncgap.theory.checks import InputError
from syncgap.theory.data import frequency_hierarchy_mixture


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=5, dtype=torch.float64)


def _block_io(model, layer, h, t):
    block = model.transformer_blocks[layer]
    lab = torch.zeros(h.shape[0], dtype=torch.long)
    with torch.no_grad():
        return block(h, timestep=torch.full((h.shape[0],), t), class_labels=lab)


def test_hook_removes_the_band_difference_and_keeps_the_rest(tiny):
    m = tiny.model
    basis, index = token_dct_basis(4, 4)
    band = global_mode_mask(index, 1)
    h = torch.randn(6, 16, m.config.num_attention_heads * m.config.attention_head_dim, dtype=torch.float64)
    plain = _block_io(m, 1, h, 500)
    with BandAblation(m, 1, band, 400, 600) as abl:
        cut = _block_io(m, 1, h, 500)
        outside = _block_io(m, 1, h, 700)
    torch.testing.assert_close(outside, _block_io(m, 1, h, 700))   # outside the window nothing changes
    u_in, u_out = torch.from_numpy(basis[:, band]), torch.from_numpy(basis[:, ~band])
    d_plain, d_cut = (plain - h)[:3] - (plain - h)[3:], (cut - h)[:3] - (cut - h)[3:]
    coef = torch.einsum("tm,ntd->nmd", u_in, d_cut)
    assert float(coef.abs().max()) < 1e-10                     # no difference left in the band
    torch.testing.assert_close(torch.einsum("tm,ntd->nmd", u_out, d_cut), torch.einsum("tm,ntd->nmd", u_out, d_plain))
    torch.testing.assert_close((cut[:3] + cut[3:]), (plain[:3] + plain[3:]))   # the pair's mean is kept
    removed = float(torch.einsum("tm,ntd->nmd", u_in, d_plain).pow(2).sum())
    assert abl.calls == 1 and abl.removed == pytest.approx(removed, rel=1e-9)
    with pytest.raises(InputError, match="band"):
        BandAblation(m, 0, np.zeros(16, bool), 0, 999)


def test_ablated_cloning_reference_removes_nothing_and_an_ablation_something():
    rec = load_tiny(seed=5)
    mix = frequency_hierarchy_mixture(size=8, channels=4)
    _, index = token_dct_basis(4, 4)
    band = global_mode_mask(index)
    ref = ablated_cloning(rec, mix.patterns, None, band, (0, 999), [0, 2, 4, 5], n_pairs=4, num_steps=6, seed=1)
    assert ref["agreement"].shape == (4, 4, 4) and ref["removed_energy"] == 0.0
    cut = ablated_cloning(rec, mix.patterns, 2, band, (0, 999), [0, 2, 4, 5], n_pairs=4, num_steps=6, seed=1)
    assert cut["removed_energy"] > 0 and cut["ablated_calls"] > 0
    assert np.all((cut["agreement"] == 0) | (cut["agreement"] == 1))
    with pytest.raises(InputError, match="t_ints"):
        ablated_cloning(rec, mix.patterns, 2, band, (0, 999), [0, 2], n_pairs=4, num_steps=6)
