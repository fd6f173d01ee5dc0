"""`syncgap dit measure` in-process: JSON records, resumable run folders, exit status 2 on bad input."""
import json

import pytest
from syncgap.validation.cli.main import main

from syncgap.validation.cli.output import NOT_MEASURABLE

BASE = ["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--quiet"]


def test_protocol_one_json_and_resume(tmp_path, capsys):
    argv = BASE + ["--g", "0,2", "--protocol", "I", "--t-int", "0,1,2,3,4", "--n-boot", "10", "--json",
                   "--out", str(tmp_path)]
    assert main(argv) == NOT_MEASURABLE     # the random tiny model commits nothing in 4 steps: no gap (exit 3)
    rec = json.loads(capsys.readouterr().out)
    gaps = [r for r in rec["records"] if r["kind"] == "gap"]
    assert [r["g"] for r in gaps] == [0.0, 2.0]
    commitment = [r for r in rec["records"] if r["kind"] == "commitment" and r["g"] == 2.0]
    agreement = [r for r in rec["records"] if r["kind"] == "agreement" and r["g"] == 2.0]
    assert len(commitment) == 4 and sorted({r["t_int"] for r in agreement}) == [0, 1, 2, 3, 4]
    assert len(agreement) == 4 * 5                          # scales x t_int
    assert main(argv) == NOT_MEASURABLE  # resumes: nothing recomputed, nothing appended
    assert json.loads(capsys.readouterr().out)["records"] == rec["records"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_protocol_one_clone_table(capsys):
    assert main(BASE + ["--g", "0,1", "--window", "clone", "--t-int", "0,1,3,4", "--n-boot", "10"]) == NOT_MEASURABLE
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["g", "tau@1"] and "gap" in out and len(out.splitlines()) >= 3


def test_deprecated_clone_flag_maps_to_the_clone_window_at_g0(capsys):
    assert main(BASE + ["--g", "0.5", "--clone", "--t-int", "0,1,3,4", "--n-boot", "10", "--json"]) == NOT_MEASURABLE
    cap = capsys.readouterr()
    assert cap.err.count("--clone is deprecated") == 1 and "--window clone --g 0" in cap.err
    rec = json.loads(cap.out)
    assert [r["g"] for r in rec["records"] if r["kind"] == "gap"] == [0.0]


def test_protocol_two_table(capsys):
    assert main(BASE + ["--g", "0.5", "--protocol", "II", "--gate", "joint", "--layers", "1,2", "--cfg", "2"]) == 0
    out = capsys.readouterr().out
    assert "diff/(common+diff)" in out and len(out.splitlines()) == 4


@pytest.mark.parametrize("extra, message", [
    (["--g", "-0.5"], "g=-0.5 is outside"),
    (["--model", "/no/such/model"], "does not exist"),
    (["--class-label", "3,12"], "--class-label 12 is outside"),
    (["--device", "cuda"], None),  # no GPU on the test machines: a clear error; on a GPU machine it runs
])
def test_bad_input_exits_2(capsys, extra, message):
    import torch
    if extra[0] == "--device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(BASE + extra + ["--protocol", "II"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("syncgap dit: error:") and len(err.strip().splitlines()) == 1
    if message:
        assert message in err
