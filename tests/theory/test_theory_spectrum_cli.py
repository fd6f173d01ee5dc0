"""theory.spectrum, the `syncgap theory` CLI and the generated docs/theory.md."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from syncgap.theory import base, docs, spectrum
from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_covariance_spectrum_vs_numpy_and_npy_path(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 2, 3)) * np.array([3.0, 1.0, 0.5])
    ref = np.sort(np.linalg.eigvalsh(np.cov(x.reshape(500, -1).T)))[::-1]
    np.testing.assert_allclose(spectrum.covariance_spectrum(x), ref, rtol=1e-10)
    p = tmp_path / "x.npy"
    np.save(p, x[:4])                                   # n < D: Gram-matrix path
    ref4 = np.sort(np.clip(np.linalg.eigvalsh(np.cov(x[:4].reshape(4, -1).T)), 0, None))[::-1]
    np.testing.assert_allclose(spectrum.covariance_spectrum(str(p)), ref4, atol=1e-10)


def test_spectrum_errors(tmp_path):
    with pytest.raises(InputError, match="n=1 samples"):
        spectrum.covariance_spectrum(np.ones((1, 4)))
    bad = np.ones((5, 3))
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        spectrum.covariance_spectrum(bad)
    with pytest.raises(InputError, match=".npy"):
        spectrum.covariance_spectrum(str(tmp_path / "x.txt"))
    with pytest.raises(InputError, match="dataset"):
        spectrum.builtin_samples("mnist")


def test_builtin_spectra_and_predicted_times():
    lam = spectrum.builtin_spectrum("fhgm")
    emp = spectrum.covariance_spectrum(spectrum.builtin_samples("fhgm", 4000))
    np.testing.assert_allclose(emp[:4], lam[:4], rtol=0.1)
    r0 = spectrum.predicted_times(lam, 0.0, top=4)
    np.testing.assert_allclose(r0["t_S"][:, 0], base.speciation_time(lam[:4]))
    np.testing.assert_allclose(r0["gap"], 0, atol=1e-12)
    r = spectrum.predicted_times(lam, 0.4, c=0.1, top=4)
    assert np.all(r["gap"][:3] > 0)


def test_digits_spectrum():
    pytest.importorskip("sklearn")
    x = spectrum.builtin_samples("digits")
    ev = spectrum.covariance_spectrum(x)
    assert ev.size == 64 and ev.sum() == pytest.approx(np.var(x, axis=0, ddof=1).sum())


def test_cli_tables_and_json(capsys):
    assert main(["theory", "gap", "--g", "0,0.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    assert rows[0]["gap"] == pytest.approx(0.0, abs=1e-12) and rows[1]["gap"] > 0
    assert main(["theory", "gated", "--g", "0", "--amplitudes", "20,4", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "1.609" in out and "\\rho" in out


@pytest.mark.parametrize("argv,word", [(["theory", "gap", "--g", "1.5"], "g=1.5"),
                                       (["theory", "speciation", "--Lambda", "0"], "Lambda=0"),
                                       (["theory", "gated", "--g", "-1"], "g=-1"),
                                       (["theory", "collapse", "--n", "1"], "n=1"),
                                       (["theory", "spectrum", "--samples", "missing.npy"], "missing.npy")])
def test_cli_bad_input_exit_2_one_line(argv, word, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err and "Traceback" not in err


def test_cli_help_documents_every_quantity():
    out = subprocess.run([sys.executable, "-m", "syncgap.validation.cli.main", "theory", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for q in ("modes", "speciation", "collapse", "gap", "bounds", "gated", "spectrum", "cloning", "formulas", "demo"):
        assert q in out


def test_docs_theory_md_is_up_to_date():
    path = ROOT / "docs" / "theory.md"
    assert path.read_text() == docs.render(), "docs/theory.md is stale: run `python -m syncgap.theory.docs`"


def test_every_formula_has_docs_fields():
    for name, mod in docs.available_modules():
        for f in mod.formulas():
            assert f.name and f.assumptions and f.section.startswith("§") and f.latex()
