"""The asv suites: one module per workload, each a few lines over suite/harness.py."""

from bench_lib.core import provenance

# A plain `asv run` may import another checkout's bench_lib beside these suites: say so,
# and let every cell record it (core/provenance.py).  asv runs these suites against
# older commits too, whose bench_lib may not have the check.
if hasattr(provenance, "check_suites_checkout"):
    provenance.check_suites_checkout(__file__)
