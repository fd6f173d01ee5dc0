"""The OU suite: the theory's predictions against exact-score OU replicas (theory.py runs it)."""
