"""A cell made ready to time: built by its backend, its outputs held against the
float64 reference under the error model, warmed up (``prepare``), with the per-run
reference cache.  Imports core and backends."""
