"""The vocabulary and the math, free of any framework: cells, models, workloads and
their inputs, the float64 NumPy reference, outcomes, the conditions of a result,
presets and run manifests.  Imports nothing else of bench_lib; every other layer
imports it."""
