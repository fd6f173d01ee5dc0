"""The installed version of syncgap, one definition for the four subpackages and the CLI."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "syncgap"
UNKNOWN = "0+unknown"


def package_version() -> str:
    """The version of the installed `syncgap` distribution.

    Not installed (the folders used straight from a checkout): the version line of the
    checkout's pyproject.toml, else "0+unknown".
    """
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        if pyproject.is_file():
            found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), flags=re.M)
            if found:
                return found.group(1)
        return UNKNOWN
