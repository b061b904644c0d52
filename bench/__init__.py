"""Benchmark of the returns system against a baseline workflow of the same shape (python -m bench)."""
