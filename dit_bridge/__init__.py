"""syncgap.dit_bridge: coupled Diffusion Transformers (diffusers) and their measurements (docs/science.md §5-6)."""

from syncgap.theory.version import package_version

__version__ = package_version()
