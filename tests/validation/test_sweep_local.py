"""Sweeps without Dask: atomic records, resume, failures, interruption, provenance, the built-in kinds, the CLI."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from syncgap.validation.cli.main import main
from syncgap.validation import store
from syncgap.validation.sweep import cell_files, expand, load_table, provenance, run_sweep
from syncgap.validation.sweep.cells import cloning_cell, routing_cell

ROOT = Path(__file__).resolve().parents[2]


def flaky_cell(x, marker):
    """Fails for x == 1 until `marker` exists (a transient error, fixed before the rerun)."""
    if x == 1 and not os.path.exists(marker):
        raise RuntimeError("transient failure")
    return {"x2": x * x, "arr": np.arange(3) * x, "nan": math.nan}


def _records(out):
    return {p.stem: p.read_bytes() for p in (Path(out) / "cells").glob("*.json")}


def test_atomic_write_replaces_whole_file_or_leaves_the_old_one(tmp_path, monkeypatch):
    p = tmp_path / "a.json"
    store.atomic_write_json(p, {"v": 1})
    assert json.loads(p.read_text()) == {"v": 1}

    def crash(src, dst):
        raise OSError("disk gone")
    monkeypatch.setattr(os, "replace", crash)   # validation.store writes with os.replace
    with pytest.raises(OSError):
        store.atomic_write_json(p, {"v": 2})
    assert json.loads(p.read_text()) == {"v": 1}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]   # the temporary was removed


def test_resume_skips_finished_cells_ignores_temporaries_and_redoes_broken_files(tmp_path):
    sweep = expand({"kind": "debug.sleep", "grid": {"seconds": [0], "seed": list(range(6))}})
    out = tmp_path / "out"
    s1 = run_sweep(sweep, out, workers=1)
    assert (s1.total, s1.skipped, s1.done, s1.failed, s1.runner) == (6, 0, 6, [], "sequential")
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    a, b, c = (cell.key for cell in sweep.cells[:3])
    (out / "cells" / f"{a}.json").unlink()
    (out / "cells" / f".{a}.json.x1y2.tmp").write_text('{"key": "')               # a killed writer's temp file
    full = (out / "cells" / f"{b}.json").read_text()
    (out / "cells" / f"{b}.json").write_text(full[: len(full) // 2])                 # a truncated record
    rec = json.loads((out / "cells" / f"{c}.json").read_text())
    rec["config"]["seed"] = 99                                                       # a record of another cell
    (out / "cells" / f"{c}.json").write_text(json.dumps(rec))
    assert [cell_files.is_done(out, k) for k in (a, b, c)] == [False, False, False]
    time.sleep(0.01)
    s2 = run_sweep(sweep, out, workers=1)
    assert (s2.skipped, s2.done, s2.failed) == (3, 3, [])
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert sorted(after) == sorted(f"{cell.key}.json" for cell in sweep.cells)
    for cell in sweep.cells[3:]:
        assert after[f"{cell.key}.json"] == before[f"{cell.key}.json"]              # untouched
    rows = load_table(out)
    assert [r["seed"] for r in rows] == list(range(6))
    assert all(r["draw"] == float(np.random.default_rng(r["seed"]).standard_normal()) for r in rows)
    assert (out / "results.csv").read_text().splitlines()[0].startswith("key,kind,")


def test_failed_cell_is_reported_not_written_and_the_rerun_completes(tmp_path):
    marker = tmp_path / "fixed"
    sweep = expand({"kind": "test_sweep_local:flaky_cell", "base": {"marker": str(marker)},
                    "grid": {"x": [0, 1, 2]}}, allow_code=True)
    events = []
    s1 = run_sweep(sweep, tmp_path / "o", workers=1, progress=events.append)
    assert not s1.complete and s1.done == 2 and len(s1.failed) == 1
    assert s1.failed[0]["config"]["x"] == 1 and "RuntimeError: transient failure" in s1.failed[0]["error"]
    assert [e["event"] for e in events] == ["start", "done", "failed", "done"]
    assert len(_records(tmp_path / "o")) == 2
    marker.touch()
    s2 = run_sweep(sweep, tmp_path / "o", workers=1)
    assert s2.complete and (s2.skipped, s2.done) == (2, 1)
    rows = load_table(tmp_path / "o")
    assert [r["x2"] for r in rows] == [0, 1, 4] and rows[2]["arr"] == [0, 2, 4] and rows[2]["nan"] is None


def test_process_pool_gives_bitwise_the_same_records_as_in_process(tmp_path):
    sweep = expand({"kind": "mc.cloning", "base": {"d": 6, "n_samples": 100, "T": 3.0, "dt": 0.1},
                    "grid": {"t_clone": [0.3, 2.0], "seed": [0, 7]}})
    s1 = run_sweep(sweep, tmp_path / "seq", workers=1)
    s2 = run_sweep(sweep, tmp_path / "pool", workers=2)
    assert s1.complete and s2.complete and s2.runner == "process-pool"
    r1, r2 = (_records(tmp_path / d) for d in ("seq", "pool"))
    assert r1.keys() == r2.keys() and len(r1) == 4
    for k in r1:
        a, b = json.loads(r1[k]), json.loads(r2[k])
        assert json.dumps(a["result"], sort_keys=True) == json.dumps(b["result"], sort_keys=True)
        assert a["config"] == b["config"] and a["provenance"]["pid"] != b["provenance"]["pid"]


@pytest.mark.slow
def test_interrupted_driver_loses_no_finished_cell(tmp_path):
    cfg = tmp_path / "slow.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 0.4}, "grid": {"seed": list(range(10))}}))
    out = tmp_path / "o"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "syncgap.validation.cli.main", "sweep", str(cfg), "--out", str(out),
                             "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list((out / "cells").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _records(out)
    assert 3 <= len(kept) < 10
    rc = main(["sweep", str(cfg), "--out", str(out), "--workers", "2", "--json"])
    assert rc == 0
    final = _records(out)
    assert len(final) == 10 and all(final[k] == v for k, v in kept.items())   # finished cells unchanged
    assert sorted(r["seed"] for r in load_table(out)) == list(range(10))


def test_provenance_version_and_git_revision(monkeypatch, tmp_path):
    from importlib import metadata
    assert provenance.package_version() == metadata.version("syncgap")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert provenance.git_revision() == head.stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout
        assert provenance.git_dirty() == bool(status.strip())
    caches = (provenance.package_version, provenance.git_revision, provenance.git_dirty)
    for c in caches:
        c.cache_clear()
    try:
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "syncgap"\nversion = "9.8.7"\n')
        monkeypatch.setattr(provenance, "_PKG_ROOT", tmp_path)       # outside any git checkout

        def missing(name):
            raise metadata.PackageNotFoundError(name)
        monkeypatch.setattr(metadata, "version", missing)
        assert provenance.package_version() == "9.8.7"
        assert provenance.git_revision() is None and provenance.git_dirty() is None
    finally:
        for c in caches:
            c.cache_clear()


def test_cloning_cell_agrees_with_speciation_picture():
    # cloning long after speciation (small t) -> clones agree; long before (t >> t_S) -> coin flips
    late = cloning_cell(d=16, t_clone=0.1, seed=3, n_samples=400, T=5.0, dt=0.05)
    early = cloning_cell(d=16, t_clone=4.5, seed=3, n_samples=400, T=5.0, dt=0.05)
    assert late["t_speciation"] == pytest.approx(0.5 * math.log(17.0))
    assert late["agreement"] > 0.97
    assert abs(early["agreement"] - 0.5) < 4 * 0.5 / math.sqrt(400)
    assert early["agreement_se"] == pytest.approx(math.sqrt(early["agreement"] * (1 - early["agreement"]) / 400))
    assert abs(early["class_balance"] - 0.5) < 4 * 0.5 / math.sqrt(800)
    assert cloning_cell(d=16, t_clone=1.0, seed=5, n_samples=50, T=3.0, dt=0.1) == \
        cloning_cell(d=16, t_clone=1.0, seed=5, n_samples=50, T=3.0, dt=0.1)


def test_costliest_cells_start_first_and_the_cost_counts_the_work(tmp_path, monkeypatch):
    # cloning_cost ∝ path-updates: one path for T - t_clone, two after; compare with the steps the cell ran
    from dataclasses import replace

    from syncgap.validation.sweep import kinds
    from syncgap.validation.sweep.cells import cloning_cost
    for t in (0.5, 2.0):
        r = cloning_cell(d=4, t_clone=t, seed=0, n_samples=8, T=5.0, dt=0.05)
        work = r["steps_before_clone"] + 2 * r["steps_after_clone"]
        assert cloning_cost(4, t, 0, 8, 5.0, 0.05) == pytest.approx(8 * 4 * work, rel=1e-9)
    sweep = expand({"grid": [{"kind": ["mc.cloning"], "d": [2], "n_samples": [4], "T": [3.0], "dt": [0.5],
                              "t_clone": [0.5, 2.5, 1.5], "seed": [0]},
                             {"kind": ["debug.sleep"], "seconds": [0], "seed": [7]}]})
    order = [(c.kind, c.params.get("t_clone")) for c in kinds.longest_first(sweep.cells)]
    costed = [t for k, t in order if k == "mc.cloning"]
    assert costed == sorted(costed, reverse=True)
    assert [k for k, _ in order] == [c.kind for c in sweep.cells]   # other kinds keep their slots
    seen = []
    monkeypatch.setitem(kinds.KINDS, "mc.cloning", replace(kinds.KINDS["mc.cloning"],
                                                           function=lambda **p: seen.append(p["t_clone"]) or {"x": 1}))
    assert run_sweep(sweep, tmp_path / "s", workers=1).complete
    assert seen == [2.5, 1.5, 0.5]


def test_routing_cell_against_the_closed_form_and_root_finding():
    from scipy.optimize import brentq
    g, eta, gap0 = 0.4, 0.1, 30.0
    r = routing_cell(g=g, eta=eta, gap0_steps=gap0)
    rho = (1 - g) / (1 + g)
    assert r["rho"] == pytest.approx(rho) and r["gap_steps"] == pytest.approx(gap0 * (rho + eta) / (1 + eta))
    g_star = brentq(lambda x: gap0 * ((1 - x) / (1 + x) + eta) / (1 + eta) - 1.0, 0.0, 5.0)
    assert r["critical_coupling"] == pytest.approx(g_star, rel=1e-9)
    assert r["collapse_coupling"] == pytest.approx(brentq(lambda x: (1 - x) / (1 + x) + eta, 0.0, 5.0))


def test_cli_runs_lists_and_prints_json_summary(tmp_path, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("kind: debug.sleep\nbase: {seconds: 0}\ngrid:\n  seed: [1, 2, 3]\n")
    out = tmp_path / "o"
    assert main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--json"]) == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)["summary"]
    assert (summary["cells"], summary["done"], summary["failed"], summary["complete"]) == (3, 3, 0, True)
    assert "[3/3] done" in cap.err and "3 cells, 0 already done, 3 to run" in cap.err
    assert main(["sweep", str(cfg), "--out", str(out), "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["records"]
    assert [c["done"] for c in listed] == [True] * 3 and [c["seed"] for c in listed] == [1, 2, 3]
    assert main(["sweep", str(cfg), "--out", str(out)]) == 0
    assert "3 already done, 0 to run" in capsys.readouterr().err
    header = (out / "results.csv").read_text().splitlines()
    assert len(header) == 4 and "draw" in header[0] and "git_revision" in header[0]


def test_aggregate_and_figure_are_redrawn_from_the_saved_table(tmp_path, capsys):
    from syncgap.validation.sweep.figures import aggregate, line_figure
    rows = [{"g": 0.5, "seed": s, "y": v} for s, v in enumerate([1.0, 2.0, 4.0])] + [{"g": 1.0, "seed": 0, "y": 3.0}]
    agg = {r["g"]: r for r in aggregate(rows, ["g"], "y")}
    assert agg[0.5]["y"] == pytest.approx(np.mean([1, 2, 4]))
    assert agg[0.5]["y_sem"] == pytest.approx(np.std([1, 2, 4], ddof=1) / np.sqrt(3))
    assert agg[1.0]["n"] == 1 and agg[1.0]["y_sem"] is None
    with pytest.raises(Exception, match="column 'z' is not in the table"):
        aggregate(rows, ["z"], "y")
    line_figure(aggregate(rows, ["g"], "y"), "g", "y", yerr="y_sem", path=tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000

    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 0}, "grid": {"seed": [0, 1, 2]}}))
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "1", "--plot", "seed:draw",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["figure"].endswith("plot_draw_vs_seed.png")
    assert (tmp_path / "o" / "plot_draw_vs_seed.png").stat().st_size > 1000
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--plot", "colour:draw"]) == 2
    assert "--plot: 'colour' is not a parameter" in capsys.readouterr().err
