"""syncgap.dit_bridge: coupled Diffusion Transformers (diffusers) and their measurements (SCIENCE.md §5-6)."""
