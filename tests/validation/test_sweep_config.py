"""Sweep configs: expansion to cells, cell hashing, and fuzzed malformed configs -> InputError naming the field."""
import contextlib
import copy
import hashlib
import io
import itertools
import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main
from syncgap.validation.sweep import cell_key, expand, load_sweep
from syncgap.validation.sweep.config import TOP_FIELDS

VALID = {"name": "fuzz", "kind": "mc.cloning",
         "base": {"d": 8, "n_samples": 50, "T": 4.0, "dt": 0.1},
         "grid": {"t_clone": [0.5, 1.0, 2.0], "seed": [0, 1]}}
# SYNCGAP_FUZZ_EXAMPLES=2000 fuzzes harder (default 60 per test keeps the suite fast)
FUZZ = settings(max_examples=int(os.environ.get("SYNCGAP_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_grid_expands_to_the_cartesian_product_in_grid_order():
    sweep = expand(VALID)
    assert len(sweep.cells) == 6 and sweep.kinds == ("mc.cloning",)
    got = [(c.params["t_clone"], c.params["seed"]) for c in sweep.cells]
    assert got == list(itertools.product([0.5, 1.0, 2.0], [0, 1]))
    for c in sweep.cells:
        assert c.kind == "mc.cloning" and {k: c.params[k] for k in VALID["base"]} == VALID["base"]
    assert len({c.key for c in sweep.cells}) == 6


def test_cell_key_is_sha256_of_canonical_json_and_ignores_key_order_and_int_float():
    cell = expand(VALID).cells[0]
    canonical = json.dumps({"T": 4, "d": 8, "dt": 0.1, "kind": "mc.cloning", "n_samples": 50, "noise_std": 1,
                            "seed": 0, "t_clone": 0.5}, sort_keys=True, separators=(",", ":"))
    assert cell.key == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    shuffled = dict(reversed(list(cell.config.items())))
    assert cell_key(shuffled) == cell.key
    assert cell_key({**cell.config, "T": 4}) == cell.key            # 4 and 4.0 are one cell
    assert cell_key({**cell.config, "kind": "debug.sleep"}) != cell.key
    assert cell_key({**cell.config, "t_clone": 0.5000001}) != cell.key


def test_grid_blocks_concatenate_deduplicate_and_may_grid_the_kind():
    cfg = {"grid": [{"kind": ["debug.sleep"], "seconds": [0, 0.0, 1], "seed": [3]},
                    {"kind": ["theory.routing"], "g": [0.0, 0.5]},
                    {"kind": ["debug.sleep"], "seconds": [1], "seed": [3]}]}
    sweep = expand(cfg)
    routing_defaults = {"eta": 0.0, "gap0_steps": 40.0}     # defaults are written into the cell
    assert [(c.kind, c.params) for c in sweep.cells] == [
        ("debug.sleep", {"seconds": 0, "seed": 3}), ("debug.sleep", {"seconds": 1, "seed": 3}),
        ("theory.routing", {"g": 0.0, **routing_defaults}), ("theory.routing", {"g": 0.5, **routing_defaults})]
    assert list(sweep.cells[2].params) == ["g", "eta", "gap0_steps"]   # signature order
    assert sweep.kinds == ("debug.sleep", "theory.routing")
    assert expand({"kind": "debug.sleep", "base": {"seconds": 0}}).cells[0].params == {"seconds": 0, "seed": 0}


def test_example_configs_load():
    root = Path(__file__).resolve().parents[2] / "validation" / "sweep" / "examples"
    assert len(load_sweep(root / "cloning.yaml").cells) == 32
    assert len(load_sweep(root / "routing.json").cells) == 24


# ---------------------------------------------------------------- malformed configs

def _set(path):
    def apply(cfg, value):
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
        return cfg
    return apply


def _delete(path):
    def apply(cfg, _):
        node = cfg
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]
        return cfg
    return apply


idents = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
not_list = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none(),
                     st.dictionaries(idents, st.integers(), max_size=2), st.just([]))
nonfinite = st.sampled_from([math.nan, math.inf, -math.inf])
bad_kinds = st.one_of(st.text(max_size=12).filter(lambda s: s not in ("mc.cloning", "theory.routing",
                                                                      "debug.sleep") and ":" not in s),
                      st.integers(), st.none(), st.just(["mc.cloning"]))
bad_keys = st.one_of(st.from_regex(r"[0-9\-][a-z0-9\-]{0,5}", fullmatch=True), st.just(""), st.just("_x"))

# (strategy for the value, how to apply it, a field name the message must contain)
MUTATIONS = [
    (idents.filter(lambda k: k not in TOP_FIELDS), lambda c, k: {**c, k: 1}, None),  # field = the key
    (not_list, _set(["grid", "t_clone"]), "grid.t_clone"),
    (nonfinite, _set(["base", "T"]), "base.T"),
    (nonfinite, _set(["grid", "seed"]), "grid.seed"),
    (bad_kinds, _set(["kind"]), "kind"),
    (st.integers(max_value=0), _set(["base", "d"]), "d"),
    (st.text(max_size=4), _set(["grid", "t_clone"]), "grid.t_clone"),
    (st.lists(st.text(max_size=3), min_size=1, max_size=3), _set(["grid", "t_clone"]), "t_clone"),
    (st.lists(st.floats(min_value=-10, max_value=0), min_size=1, max_size=3), _set(["grid", "t_clone"]), "t_clone"),
    (st.floats(min_value=0.01, max_value=0.5), _set(["base", "T"]), "t_clone"),   # t_clone must be < T
    (st.lists(st.integers(), min_size=1, max_size=2), _set(["grid", "colour"]), "grid.colour"),
    (st.just(None), _delete(["base", "d"]), "d"),
    (st.text(max_size=6).filter(lambda s: not s or not all(ch.isalnum() or ch in "_.-" for ch in s)
                                or not s.isascii()), _set(["name"]), "name"),
    (st.one_of(st.integers(), st.text(max_size=3), st.floats(allow_nan=False)), _set(["grid"]), "grid"),
    (st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), _set(["base"]), "base"),
    (bad_keys, lambda c, k: {**c, "base": {**c["base"], k: 1}}, "base"),
    (st.sampled_from([[0.5], [1.0, 2.0]]), _set(["base", "t_clone"]), "t_clone"),  # in base and grid
]


@st.composite
def mutated(draw):
    i = draw(st.integers(0, len(MUTATIONS) - 1))
    strat, apply, field = MUTATIONS[i]
    value = draw(strat)
    cfg = apply(copy.deepcopy(VALID), value)
    return cfg, field if field is not None else value


def _write(folder, cfg, fmt) -> Path:
    p = Path(folder) / f"cfg.{fmt}"
    if fmt == "json":
        p.write_text(json.dumps(cfg))      # NaN/inf become the NaN/Infinity tokens Python's json reads
    else:
        import yaml
        p.write_text(yaml.safe_dump(cfg))
    return p


@FUZZ
@given(mutated(), st.sampled_from(["json", "yaml"]))
def test_malformed_config_raises_input_error_naming_the_field(case, fmt):
    cfg, field = case
    with tempfile.TemporaryDirectory() as d:
        with pytest.raises(InputError) as exc:
            load_sweep(_write(d, cfg, fmt))
    assert field in str(exc.value), (field, str(exc.value))
    assert "\n" not in str(exc.value)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
       st.sampled_from(["json", "yaml", "cfg"]))
def test_arbitrary_file_content_gives_input_error_or_a_sweep(raw, suffix):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"c.{suffix}"
        p.write_bytes(raw)
        try:
            sweep = load_sweep(p)
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert all(c.kind for c in sweep.cells)


json_data = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                         lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3),
                         max_leaves=12)


@FUZZ
@given(st.one_of(json_data, st.dictionaries(st.sampled_from(TOP_FIELDS), json_data, max_size=6)))
def test_random_structures_give_input_error_or_a_sweep(cfg):
    try:
        expand(cfg)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_missing_kind_and_unknown_parameter_name_the_field():
    with pytest.raises(InputError, match=r"^kind: missing"):
        expand({"base": {"seconds": 1}})
    with pytest.raises(InputError, match=r"^base\.colour: 'colour' is not a parameter of kind 'debug.sleep'"):
        expand({"kind": "debug.sleep", "base": {"seconds": 0, "colour": 1}})
    with pytest.raises(InputError, match=r"kind 'nosuch.module:fn': cannot import"):
        expand({"kind": "nosuch.module:fn"}, allow_code=True)
    with pytest.raises(InputError, match=r"kind 'nosuch.module:fn' is not a registered kind.*--allow-code-kinds"):
        expand({"kind": "nosuch.module:fn"})


# ---------------------------------------------------------------- the command line

def _cli(argv):
    """(exit status, stdout, stderr) of one CLI call; argparse-level rejections exit via SystemExit."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=12, deadline=None)
@given(mutated())
def test_cli_exits_2_with_one_line_naming_the_field(case):
    cfg, field = case
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = _cli(["sweep", str(_write(d, cfg, "json")), "--out", str(Path(d) / "o")])
        assert not (Path(d) / "o").exists()      # nothing runs, nothing is written
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("syncgap sweep: error: ") and field in err


@pytest.mark.parametrize("argv, field", [
    (["sweep", "/nonexistent/cfg.yaml"], "CONFIG"),
    (["sweep", "{cfg}", "--workers", "0"], "--workers"),
    (["sweep", "{cfg}", "--workers", "two"], "--workers"),
    (["sweep", "{cfg}", "--scheduler", " "], "--scheduler"),
    (["sweep", "{cfg}", "--out", "{cfg}"], "--out"),
])
def test_cli_bad_arguments_exit_2_naming_the_argument(tmp_path, argv, field):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(VALID))
    rc, out, err = _cli([a.format(cfg=cfg) for a in argv])
    assert rc == 2 and out == "" and err.count("\n") == 1 and field in err


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["--workers", "--plot", "--scheduler"]), st.text(max_size=12))
def test_cli_fuzzed_argument_values_exit_2_naming_the_argument_or_run_nothing(flag, value):
    if flag == "--workers":
        with contextlib.suppress(ValueError):
            if int(value, 10) >= 1:
                return                              # a valid worker count would run the sweep
    parts = value.split(":")
    if flag == "--plot" and len(parts) in (2, 3) and all(parts) and \
            set(parts[:1] + parts[2:]) <= {"kind", "seconds", "seed"}:
        return                                      # X and GROUP are parameters: the sweep would run
    if flag == "--scheduler" and value.strip():
        value = " "                                  # a real address would try to connect
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.json"
        cfg.write_text(json.dumps({"kind": "debug.sleep", "base": {"seconds": 0}, "grid": {"seed": [0]}}))
        rc, out, err = _cli(["sweep", str(cfg), "--out", str(Path(d) / "o"), f"{flag}={value}"])
        assert not (Path(d) / "o").exists()
    assert rc == 2 and out == "" and err.count("\n") == 1 and flag in err
