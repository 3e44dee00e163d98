"""The asv adapter: the base classes of the suites in benchmarks/ (``harness``), the
one mapping between cells and asv's parameter grids (``grid``), the outcome records
shared between asv's processes (``records``) and every pattern read in asv's console
output (``asv_output``).  Imports core, backends and verification."""
