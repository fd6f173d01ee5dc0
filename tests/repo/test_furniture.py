"""Project furniture a researcher expects: license, citation, changelog, version, typing marker."""
from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("theory", "ou_models", "dit_bridge", "validation")


def test_version_flag_prints_the_installed_version():
    out = subprocess.run([sys.executable, "-m", "syncgap.validation.cli.main", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip() == f"syncgap {metadata.version('syncgap')}"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_subpackage_has_the_distribution_version(package):
    mod = __import__(f"syncgap.{package}", fromlist=["__version__"])
    assert mod.__version__ == metadata.version("syncgap")


def test_version_falls_back_to_pyproject_when_not_installed(monkeypatch):
    from syncgap.theory import version

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version.metadata, "version", not_installed)
    pyproject = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.M).group(1)
    assert version.package_version() == pyproject


def test_license_is_the_one_pyproject_declares():
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_citation_file_cites_the_suite_and_its_three_papers():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == metadata.version("syncgap")
    ids = {i["value"] for ref in cff["references"] for i in ref["identifiers"]}
    assert ids == {"arXiv:2602.04780", "arXiv:2603.20987", "arXiv:2402.18491"}


def test_changelog_has_an_entry_for_this_version():
    assert f"## [{metadata.version('syncgap')}]" in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.parametrize("package", PACKAGES)
def test_typed_marker_is_shipped(package):
    assert (ROOT / package / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()
