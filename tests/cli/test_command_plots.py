"""`--plot FILE` on ou cloning, ou gap, dit measure, dit gains: the figure is drawn from the command's own JSON."""
from __future__ import annotations

import json

import pytest
from syncgap.validation.cli.main import main

from syncgap.validation.cli.output import NOT_MEASURABLE
from syncgap.validation.cli.redraw import redraw

OU = ["--samples", "60", "--steps", "60", "--boot", "10", "--quiet"]
DIT = ["--model", "tiny", "--steps", "4", "--pairs", "2", "--n-boot", "10", "--quiet"]
PLOTTED = {
    "ou_cloning": ["ou", "cloning", "--d", "16", "--branches", "5", *OU],
    "ou_gap": ["ou", "gap", "--d", "3", "--g", "0.5,10", *OU],
    "ou_gap_layer_a": ["ou", "gap", "--layer", "A", "--d", "4", "--g", "0,0.5", *OU],
    "ou_gap_throughout": ["ou", "gap", "--d", "3", "--g", "0,1", "--window", "throughout", "--scheme", "ode", *OU],
    "dit_measure_I": ["dit", "measure", "--g", "0,1", "--t-int", "0,1,2,3,4", *DIT],
    "dit_measure_II": ["dit", "measure", "--protocol", "II", "--g", "0.5", *DIT],
    "dit_measure_throughout": ["dit", "measure", "--window", "throughout", "--g", "0,1", *DIT],
    "dit_gains": ["dit", "gains", "--model", "tiny", "--step", "2", "--num-steps", "4", "--modes", "4",
                  "--samples", "1", "--quiet"],
    "dit_gate": ["dit", "gate", "--model", "fhgm", "--g", "1,5", "--pairs", "3", "--steps", "4", "--n-boot", "10",
                 "--quiet"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PLOTTED))
def test_plot_is_drawn_from_the_json_beside_it(name, tmp_path, capsys):
    png = tmp_path / f"{name}.png"
    assert main(PLOTTED[name] + ["--json", "--plot", str(png)]) in (0, NOT_MEASURABLE)   # tiny runs: exit 3 possible
    cap = capsys.readouterr()
    assert f"figure: {png}" in cap.err
    data = png.with_suffix(".json")
    assert json.loads(data.read_text()) == json.loads(cap.out)       # the very document --json prints
    assert png.stat().st_size > 5000
    again = tmp_path / "again.png"
    redraw(data, again)                                                 # from the file alone
    assert again.read_bytes() == png.read_bytes()


@pytest.mark.parametrize("plot, words", [("figure.pdf", "ending in .png"), ("no/such/folder/f.png", "does not exist")])
def test_bad_plot_path_exits_2_before_any_work(plot, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["ou", "cloning", "--plot", plot]) == 2             # default sizes: would take minutes if it ran
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_redraw_refuses_a_document_without_a_figure(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"schema": "syncgap.theory.gap/1", "meta": {}, "records": []}))
    with pytest.raises(ValueError, match="no figure for schema"):
        redraw(path, tmp_path / "t.png")
