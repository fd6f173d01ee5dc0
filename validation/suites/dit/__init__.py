"""The DiT suite: P2's findings on the shipped DiTs (findings.py runs it), with the depth finding (depth/) and the causal test (causal.py)."""
