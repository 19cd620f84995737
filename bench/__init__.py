"""Benchmarks: ``./dev.sh bench [NAME]`` runs bench/bench_NAME.py (all of them by default)."""
