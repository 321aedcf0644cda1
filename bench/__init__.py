"""Serving benchmarks and load tests: `make bench`, `make loadtest`.

Nothing in here is imported by the handler or by tests' timing assertions: these are
measurements written to reports/, not pass/fail checks.
"""
