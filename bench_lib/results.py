"""The public entry to the results: ``bench_lib.results.load(results_dir)`` gives every
kept run as one tidy pandas table.  The table is built in ``reporting/tidy.py``."""

from bench_lib.reporting.tidy import latest_measurements, latest_runs, load

__all__ = ["latest_measurements", "latest_runs", "load"]
