"""syncgap.validation: predicted against observed, reports and figures, and the command line."""

from syncgap.theory.version import package_version

__version__ = package_version()
