"""Benchmarks of the deployed stack (`make bench`, scripts/bench_stack.py); never imported by
the product."""
