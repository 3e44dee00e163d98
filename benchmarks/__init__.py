"""The asv suites: one module per workload, each a few lines over suite/harness.py."""

from bench_lib.suite import harness

harness.preload_framework()  # only where a run names a framework (BENCH_PRELOAD)
