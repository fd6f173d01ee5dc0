"""A NaN or inf arising inside a simulation is reported with where it arose (SimulationError), never silently.

OU engine: a per-step table is poisoned at one step; the error names that step, its OU times and the paths.
Pair sampler: the DiT's output is poisoned for one row at one step (a forward hook), or its weights set to
NaN; the error names the sampler step, the timestep and the rows. CLI: exit status 1 and one line.
"""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.sampling import sample_pairs
from syncgap.ou_models import engine, measure, replica_run, sampler
from syncgap.theory.checks import InputError, SimulationError
from syncgap.theory.data import two_gaussian_mixture

MIX = two_gaussian_mixture(4, 1.0)
GRID = engine.ou_grid(3.0, 20)      # steps of 0.15 in OU time


def _poisoned(monkeypatch, module, step, only_independent=False, entry=np.nan):
    orig = engine.step_tables

    def tables(model, grid, drift=None, gate=0.0, scheme="sde", K=None, sign_mixing=None):
        tb = orig(model, grid, drift, gate, scheme, K, sign_mixing)
        if not only_independent or np.all(np.asarray(gate) == 0):
            tb.L[step, 0, 0] = entry
        return tb
    monkeypatch.setattr(module, "step_tables", tables)


def test_clean_runs_pass_the_check():
    r = sampler.sample(MIX, GRID, 4, seed=1, K=2)
    assert np.isfinite(r["z"]).all()


def test_sampler_names_the_step_time_and_paths(monkeypatch):
    _poisoned(monkeypatch, replica_run, 7)
    with pytest.raises(SimulationError, match=r"first at step 7 \(OU time 1\.95 -> 1\.8\) in paths 0, 1, 2, 3$"):
        sampler.sample(MIX, GRID, 4, seed=1, K=2)


def test_sampler_inf_in_a_table_is_caught_too(monkeypatch):
    _poisoned(monkeypatch, replica_run, 12, entry=np.inf)
    with pytest.raises(SimulationError, match=r"step 12 "):
        sampler.sample(MIX, GRID, 3, seed=2, K=1, path_offset=10)


def test_nonfinite_start_is_bad_input():
    z0 = np.zeros((2, 1, 4))
    z0[1, 0, 2] = np.nan
    with pytest.raises(InputError, match="z0"):
        sampler.sample(MIX, GRID, 2, K=1, z0=z0)


def test_cloning_main_run_names_step_and_paths(monkeypatch):
    _poisoned(monkeypatch, replica_run, 5)
    with pytest.raises(SimulationError, match=r"main run: .* first at step 5 \(OU time 2\.25 -> 2\.1\) in paths 0, 1"):
        measure.cloning(MIX, GRID, 4, seed=1, n_boot=10, batch=2, branch_times=np.linspace(0.3, 2.5, 6))


def test_protocol_one_branch_names_its_start_and_the_step(monkeypatch):
    # the coupled main run (gate 0.5) is clean; the independent tail is poisoned at step 15
    _poisoned(monkeypatch, replica_run, 15, only_independent=True)
    with pytest.raises(SimulationError, match=r"branch from step \d+: .* first at step 15 \(OU time 0\.75 -> 0\.6\)"):
        measure.protocol_one(MIX, GRID, 0.5, 4, seed=1, n_boot=10, t_int_times=np.linspace(0.3, 2.5, 6))


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=3)


def _noise(m):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(m, 4, 8, 8, generator=gen), torch.randn(m, 4, 8, 8, generator=gen)


def test_pair_sampler_names_step_timestep_and_row(tiny):
    calls = []

    def poison(module, inputs, out):
        calls.append(1)
        if len(calls) == 3:           # the third forward = sampler step 2
            out.sample[3] = float("nan")  # row 3 = replica B of pair 1 (M = 2)
        return out
    h = tiny.model.register_forward_hook(poison)
    try:
        xa, xb = _noise(2)
        with pytest.raises(SimulationError, match=r"after step 2 \(timestep \d+\) in rows 3 of 4 \(pairs: B1\)"):
            sample_pairs(tiny, xa, xb, labels=[1, 2], num_steps=6, sampler="ddpm")
    finally:
        h.remove()


def test_pair_sampler_nan_weights_fail_at_the_first_step():
    rec = load_tiny(seed=4)
    with torch.no_grad():
        rec.model.proj_out_2.weight.fill_(float("inf"))
    xa, xb = _noise(2)
    with pytest.raises(SimulationError, match=r"after step 0 .* rows 0, 1, 2, 3 of 4"):
        sample_pairs(rec, xa, xb, labels=[1, 2], num_steps=4, sampler="ddim")


def test_pair_sampler_rejects_nonfinite_start(tiny):
    xa, xb = _noise(1)
    xb[0, 1, 2, 3] = float("inf")
    with pytest.raises(InputError, match="x_b"):
        sample_pairs(tiny, xa, xb, labels=[1], num_steps=4)


def test_cli_reports_a_simulation_error_in_one_line(monkeypatch, capsys):
    from syncgap.validation.cli import main as cli

    def failing(args):
        raise SimulationError("ddpm sampler: non-finite values (NaN or inf) first at step 3 in paths 1")
    parser = cli.build_parser()
    args = parser.parse_args(["theory", "speciation"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(args, "func", failing, raising=False)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    assert cli.main(["theory", "speciation"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "simulation failed" in err and "step 3" in err and "Traceback" not in err


def test_difference_energy_below_float64_resolution_is_an_error_not_a_nan():
    from syncgap.theory.data import SignFeatureMixture

    def energy(a):
        mix = SignFeatureMixture(np.eye(4)[:1], np.array([a]), 1.0, (4,))
        return measure.difference_energy(mix, engine.ou_grid(3.0, 20), 0.5, 8, seed=0, record_every=10, n_boot=10)

    ok = energy(1e3)                                                  # resolved: positive finite energies and rates
    assert np.all(ok["energy"] > 0) and np.all(np.isfinite(ok["rate"]))
    with pytest.raises(SimulationError, match=r"orthogonal is .* at t=.*float64 cannot resolve"):
        energy(1e15)                                                 # |dz|^2 - feature part is rounding error


def test_cli_names_the_flag_of_a_library_parameter(capsys):
    from syncgap.validation.cli.main import main
    assert main(["ou", "cloning", "--d", "4", "--sigma", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--sigma=0 is outside the allowed range [1e-100, 1e+100]" in err and "noise_std" not in err
