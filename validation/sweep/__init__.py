"""Scale-out sweeps: grids of independent, idempotent cells, run locally or on Dask, resumable.

A sweep config (JSON or YAML, `config.py`) is a base dict plus a grid of lists; its
cartesian product gives cells (kind + parameters). Each cell is one call of a plain
function `fn(**params) -> dict` named by its *kind* (`kinds.py`), and writes one JSON
record, out/cells/<key>.json, key = sha256 prefix of the canonical JSON of its config,
atomically (`cell_files.py`), with the package version and git revision (`provenance.py`). A rerun skips
finished cells; an interrupted sweep loses nothing that finished (`runners.py`, `worker.py`).
Results roll up into out/results.csv and out/results.json (`rollup.py`).

    from syncgap.validation.sweep import load_sweep, run_sweep
    summary = run_sweep(load_sweep("validation/sweep/examples/cloning.yaml"), "runs/sweeps/cloning")

or `syncgap sweep CONFIG [--out DIR] [--scheduler local|ADDRESS] [--workers N] [--plot X:Y[:GROUP]] [--json]`.
Figures are redrawn from out/results.json (`figures.py`). README.md has the details.

Adding a kind is one line in `kinds.py` (or in any module imported before the sweep):

    KINDS["ou.gap"] = Kind(model_cells.ou_gap_cell, check=model_cells.ou_gap_params)
    KINDS["dit.protocol1.cuda"] = Kind(model_cells.dit_protocol1_cuda_cell, gpu=True)

The function travels to a worker by reference (its module and name) and imports its engine (numba,
torch) only where the cell runs; `check` (same parameters, raises
InputError) runs in the driver on every cell before work starts; `gpu=True` makes the
Dask runner ask for `resources={"GPU": 1}`. For determinism a cell's numbers must depend
only on its parameters (seed included), never on which worker runs it.

Threads: worker processes start with NUMBA_NUM_THREADS=OMP_NUM_THREADS=1 (see runners.py
for starting workers of an existing cluster the same way).
"""
from syncgap.validation.sweep.config import Cell, Sweep, expand, load_config, load_sweep
from syncgap.validation.sweep.kinds import KINDS, Kind
from syncgap.validation.sweep.rollup import load_table, table, write_table
from syncgap.validation.sweep.runners import SweepSummary, run_sweep
from syncgap.validation.store import atomic_write_json, canonical_json, cell_key
from syncgap.validation.sweep.cell_files import is_done
from syncgap.validation.sweep.provenance import git_revision, package_version
from syncgap.validation.sweep.worker import run_cell

__all__ = ["Cell", "KINDS", "Kind", "Sweep", "SweepSummary", "atomic_write_json", "canonical_json",
           "cell_key", "expand", "git_revision", "is_done", "load_config", "load_sweep", "load_table",
           "package_version", "run_cell", "run_sweep", "table", "write_table"]
