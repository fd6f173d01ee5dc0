"""The run spec of the OU engine (ou_models/replica_run.py): checked once on construction, variants by
`dataclasses.replace`, starts and batches the same in any split."""
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest

from syncgap.ou_models import analog, engine
from syncgap.ou_models.replica_run import ReplicaRun
from syncgap.theory.checks import InputError
from syncgap.theory.data import SignFeatureMixture

DATA = SignFeatureMixture(np.eye(4)[:2], np.array([6.0, 2.0]), 1.0, (4,))
GRID = engine.ou_grid(4.0, 20)
A = [[1.0, -0.4], [-0.4, 1.0]]


def _run(**kw):
    return ReplicaRun(DATA, GRID, kw.pop("n", 6), **{"K": 2, **kw})


@pytest.mark.parametrize("field, value, name", [
    ("n", 0, "samples"), ("seed", -1, "seed"), ("K", 9, "K"), ("drift", [[1.0, -1.2], [-1.2, 1.0]], "drift A"),
    ("gate", -0.5, "gate g"), ("scheme", "rk4", "scheme"), ("window", "sometimes", "window"),
    ("noise", "loud", "noise"), ("eps", 1.5, "eps"), ("batch", 0, "batch"), ("progress", "yes", "progress"),
    ("gate_tables", "tables", "gate_tables"), ("sign_mixing", np.zeros((2, 2)), "sign_mixing"),
])
def test_a_bad_field_is_refused_by_name(field, value, name):
    with pytest.raises(InputError, match=name):
        _run(**{field: value})


def test_inconsistent_fields_are_refused_on_construction_and_on_replace():
    with pytest.raises(InputError, match="independent forward processes"):
        _run(drift=A, gate=0.5)
    with pytest.raises(InputError, match="needs A = I"):
        _run(drift=A, scheme="ddpm")
    with pytest.raises(InputError, match="window 'clone'"):
        _run(window="clone", noise="shared")
    with pytest.raises(InputError, match="K = 2"):
        _run(K=3, eps=0.3)
    with pytest.raises(InputError, match="20 steps of 2 x 2"):
        _run(gate_tables=engine.step_tables(engine.feature_model(DATA), GRID[:11], None, 0.5, "sde", 2))
    run = _run(gate=0.5)
    with pytest.raises(InputError, match="eps"):
        replace(run, eps=2.0)
    with pytest.raises(FrozenInstanceError):
        run.n = 7


def test_fields_are_normalised_once():
    run = _run(drift=np.array(A), n=6.0)
    assert run.K == 2 and run.n == 6 and isinstance(run.n, int) and run.N == 20
    assert isinstance(run.model, engine.FeatureModel) and run.data is DATA
    assert _run(window="clone", gate=0.5).eps == 0.0                  # coupled cloning starts from one point
    free = _run(drift=A).independent()
    assert free.drift is None and free.gate == 0.0 and (free.n, free.seed, free.K) == (6, 0, 2)


def test_tables_are_the_gate_tables_where_given():
    tables = analog.feature_gate_tables(DATA, GRID, np.full((20, 2), 0.3), scheme="sde")
    assert _run(gate=0.5, gate_tables=tables).tables() is tables
    np.testing.assert_array_equal(_run(gate=0.5).tables().L,
                                  engine.step_tables(engine.feature_model(DATA), GRID, None, 0.5, "sde", 2).L)


def test_starts_do_not_depend_on_the_batch_and_follow_the_window():
    run = _run(n=7, drift=A, eps=0.3, seed=4)
    whole = run.start(0, 7)
    np.testing.assert_array_equal(np.concatenate([run.start(0, 3), run.start(3, 7)]), whole)
    np.testing.assert_array_equal(run.start_of([5, 1]), whole[[5, 1]])
    raw = engine.initial_state(run.model, 7, 2, GRID[0], A, 4)
    np.testing.assert_allclose(whole[:, 0] - whole[:, 1], 2 * 0.3 * raw[:, 1])   # A - B = 2 eps z_1
    switch = replace(run, window="switch-on")        # independent first: the independent marginal at T
    free = engine.initial_state(run.model, 7, 2, GRID[0], None, 4)
    z = switch.start(0, 7)
    np.testing.assert_allclose(z[:, 0] + z[:, 1], 2 * np.sqrt(1 - 0.09) * free[:, 0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(whole[:, 0] + whole[:, 1], 2 * np.sqrt(1 - 0.09) * free[:, 0])


def test_batches_cover_the_paths_and_report_progress_after_each():
    seen = []
    run = _run(n=7, batch=3, progress=lambda done, total: seen.append((done, total)))
    spans = []
    for lo, hi in run.batches():
        spans.append((lo, hi, len(seen)))
    assert spans == [(0, 3, 0), (3, 6, 1), (6, 7, 2)] and seen == [(3, 7), (6, 7), (7, 7)]
