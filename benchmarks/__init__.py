"""Benchmarks of genbalance; the harness itself lives in :mod:`genbalance.bench`."""
