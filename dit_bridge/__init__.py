"""syncgap.dit_bridge: coupled Diffusion Transformers (diffusers) and their measurements (docs/science.md §5-6)."""
