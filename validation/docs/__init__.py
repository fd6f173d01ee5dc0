"""Tooling that generates files under docs/ (notebook.py: docs/tutorial.ipynb from docs/tutorial.md)."""
