"""The asv suites: one module per workload, each a few lines over suite/harness.py."""
