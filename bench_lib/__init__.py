"""Verified higher-order automatic differentiation benchmarks for TensorFlow, JAX and PyTorch."""

from bench_lib.verification.prepare import PreparedCell, compute, prepare
from bench_lib.backends import modes
from bench_lib.core.cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODELS, MODES, WORKLOADS, Cell
from bench_lib.core.outcome import Outcome
from bench_lib.backends.support import CellUnsupported, skip_reason
from bench_lib.verification.verify import VerificationError
from bench_lib.core.workloads import inputs

__all__ = [
    "BACKENDS",
    "DEVICES",
    "DTYPES",
    "EXECUTIONS",
    "MODELS",
    "MODES",
    "WORKLOADS",
    "Cell",
    "CellUnsupported",
    "Outcome",
    "PreparedCell",
    "VerificationError",
    "compute",
    "inputs",
    "modes",
    "prepare",
    "skip_reason",
]
