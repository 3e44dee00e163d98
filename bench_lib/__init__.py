"""Verified higher-order automatic differentiation benchmarks for TensorFlow, JAX and PyTorch."""

from .api import PreparedCell, compute, prepare
from .backends import modes
from .cells import BACKENDS, DEVICES, DTYPES, EXECUTIONS, MODELS, MODES, WORKLOADS, Cell
from .outcome import Outcome
from .support import CellUnsupported, skip_reason
from .verify import VerificationError
from .workloads import inputs

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
