"""Helpers of ``scripts/bench_gateway.py``: servers, load generators, reports."""
