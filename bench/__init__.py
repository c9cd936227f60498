"""Benchmarks (not timed tests): ``python -m bench [--quick]`` runs every one and prints one JSON line each."""
