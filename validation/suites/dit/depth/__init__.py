"""P2's third finding, where the gap appears across the layers: measured, analysed and checked per layer (finding.py)."""
