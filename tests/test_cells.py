"""Every backend x mode x execution x dtype cell, at the smallest sizes, against the
reference; the checks prepare() makes before a cell is timed."""

import re

import numpy as np
import pytest

import bench_lib
from bench_lib import backends
from bench_lib.core import presets
from bench_lib.backends import support
from bench_lib.verification import verify
from bench_lib.backends.base import Program
from bench_lib.verification.verify import VerificationError

# Hessians have their own test (test_hessian.py): calls of whole seconds there.
CPU_CELLS = presets.smallest(workloads=("grad", "hvp"), devices=("cpu",)).cells()


# The architectures' cells that make test runs: per backend and model the eager fwd_rev
# HVP in float32 (their eager float64 gradients are tests/test_models.py's), and for
# logistic regression the compiled fwd_rev too.  Their
# other cells (each a second to half a minute of tracing and compiling here, about 150
# in all) are repeats of these code paths in another execution or dtype: `pytest -m
# heavy` runs them, and a run verifies every cell it times.
ARCHITECTURES = ("logreg", "cnn", "transformer")


def sampled(cell) -> bool:
    if cell.model not in ARCHITECTURES:
        return True
    if cell.dtype != "float32":
        return False
    if cell.model == "logreg" and cell.execution == "compiled":
        return cell.mode == "fwd_rev"
    return cell.execution == "eager" and cell.mode == "fwd_rev"


def quick_if_eager_float32(cell):
    # Tracing and compiling take seconds per cell here: the quick subset keeps the
    # eager float32 cells of the mlp and Rosenbrock, the rest are marked slow.
    slow = cell.execution != "eager" or cell.dtype != "float32" or cell.model in ARCHITECTURES
    marks = [pytest.mark.slow] if slow else []
    if not sampled(cell):
        marks = [pytest.mark.slow, pytest.mark.heavy]
    return pytest.param(cell, marks=marks, id=cell.label)


@pytest.mark.parametrize("cell", [quick_if_eager_float32(c) for c in CPU_CELLS])
def test_cell_matches_the_reference(cell):
    reason = support.skip_reason(cell)
    if reason:
        with pytest.raises(NotImplementedError, match="^" + re.escape(reason)):
            bench_lib.prepare(**cell.as_dict())
        pytest.skip(reason)
    prepared = bench_lib.prepare(**cell.as_dict())
    assert prepared.verdict.passed and prepared.verdict.margin <= 1.0
    assert set(prepared.verdict.errors) == set(cell.spec.outputs)
    conditions = prepared.conditions
    assert conditions["threads"] >= 1 and conditions["precision"] == "strict"

    # compute() is the public one-shot path: flat outputs in the cell's dtype that agree
    # with the reference too.
    outputs = bench_lib.compute(**cell.as_dict())
    n = cell.case.n_params
    for key, kind in cell.spec.outputs.items():
        assert outputs[key].dtype == np.dtype(cell.dtype)
        assert outputs[key].shape == ((n,) if kind == "parameters" else ())
    assert verify.verdict_for(cell, outputs).passed


@pytest.mark.parametrize("backend", bench_lib.BACKENDS)
def test_frameworks_report_the_conditions_the_suite_set(backend, monkeypatch):
    """Thread counts and matmul precision are read back from the framework."""
    if backends.not_installed_reason(backend):
        pytest.skip(backends.not_installed_reason(backend))
    prepared = bench_lib.prepare("grad", backend, "rev", "eager", "rosenbrock", 1000)
    conditions = prepared.conditions
    threads = conditions["threads"]
    if backend == "tensorflow":
        assert conditions["tf_intra_op_threads"] == threads and conditions["tf_tensor_float_32"] is False
    elif backend == "torch":
        assert conditions["torch_threads"] == threads and conditions["torch_float32_matmul_precision"] == "highest"
    else:
        assert conditions["jax_cpu_threads"] == threads and conditions["jax_matmul_precision"] == "highest"


def test_every_supported_cell_has_a_builder():
    """Each backend maps (workload, mode) to a builder in one table; a supported cell
    without one would fail, never fall through to another computation."""
    for cell in presets.get("full").cells():
        if support.static_reason(cell) is None:
            assert (cell.workload, cell.mode) in backends.load(cell.backend).BUILDERS, cell.label
    assert bench_lib.modes("hvp", "torch") == ("rev_rev", "fwd_rev", "rev_fwd")
    assert bench_lib.modes("grad", "jax") == ("rev",)


def test_an_unmapped_mode_is_an_error_not_another_computation(monkeypatch):
    from bench_lib.backends import jax as backend

    monkeypatch.delitem(backend.BUILDERS, ("hvp", "rev_fwd"))
    with pytest.raises(LookupError, match="jax has no builder for workload 'hvp', mode 'rev_fwd'"):
        bench_lib.compute("hvp", "jax", "rev_fwd", "eager", "mlp", "S")


@pytest.mark.parametrize("backend", bench_lib.BACKENDS)
def test_gpu_cells_skip_with_a_reason_on_a_machine_without_one(backend):
    cell = bench_lib.Cell("hvp", backend, "fwd_rev", "eager", "mlp", "S", device="gpu")
    reason = support.skip_reason(cell)
    if reason is None:
        pytest.skip(f"{backend} sees a GPU here; the GPU cells run instead")
    assert "gpu" in reason.lower() or "cuda" in reason.lower()
    with pytest.raises(NotImplementedError):
        bench_lib.prepare(**cell.as_dict())


def test_a_wrong_answer_is_a_failure_not_a_skip(monkeypatch):
    real = verify.verdict_for

    def off_by_a_thousandth(cell, outputs, seed=None):
        return real(cell, {key: value * 1.001 for key, value in outputs.items()}, seed)

    monkeypatch.setattr(verify, "verdict_for", off_by_a_thousandth)
    with pytest.raises(VerificationError, match="exceeds the float32 tolerance") as failure:
        bench_lib.prepare("hvp", "jax", "fwd_rev", "compiled", "mlp", "S")
    assert not isinstance(failure.value, NotImplementedError)


def test_bad_cell_arguments_name_what_is_wrong():
    with pytest.raises(ValueError, match="unknown backend 'mxnet'"):
        bench_lib.compute("hvp", "mxnet", "rev_rev", "eager", "mlp", "S")
    with pytest.raises(ValueError, match="unknown mode 'rev' for workload 'hvp'"):
        bench_lib.prepare("hvp", "jax", "rev", "eager", "mlp", "S")
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        bench_lib.prepare("grad", "jax", "rev", "eager", "mlp", "S", dtype="float16")
    with pytest.raises(ValueError, match="unknown workload 'hessian_typo'"):
        bench_lib.prepare("hessian_typo", "jax", "rev", "eager", "mlp", "S")


def fake_backend(monkeypatch, run, traces=None):
    """A backend whose program calls ``run(args)``, with the real reference's shapes."""
    from types import SimpleNamespace

    fake = SimpleNamespace(
        unavailable=lambda cell: None,
        framework=lambda: None,
        versions=lambda: {},
        reported_conditions=lambda: {},
        device_peak_memory=lambda cell, call: None,
        host_memory_hidden=lambda cell: None,
        build=lambda cell, arrays: Program(
            fn=run, args=(arrays,), place=lambda inputs: (inputs,), wait=lambda out: None,
            to_numpy=lambda out: out, device_name="cpu", traces=traces,
        ),
    )
    monkeypatch.setattr(backends, "load", lambda name: fake)


def correct_hvp(arrays):
    return {"hvp": verify.reference_outputs("hvp", "rosenbrock", 1000, seed_of(arrays))["hvp"].value.astype("float32")}


def seed_of(arrays):
    for seed in range(5):
        if np.array_equal(bench_lib.inputs("hvp", "rosenbrock", 1000, seed)["params"], arrays["params"]):
            return seed
    raise AssertionError("inputs of an unknown seed")


def test_a_callable_that_retraces_after_warm_up_is_a_failure(monkeypatch):
    """prepare() compares the backend's trace count before and after warm-up."""
    traces = [0]

    def run(arrays):
        traces[0] += 1  # a callable that traces on every call
        return correct_hvp(arrays)

    fake_backend(monkeypatch, run, traces=lambda: traces[0])
    with pytest.raises(RuntimeError, match="retraced during warm-up"):
        bench_lib.prepare("hvp", "jax", "fwd_rev", "compiled", "rosenbrock", 1000)


def test_a_compiled_callable_that_returns_constants_is_a_failure(monkeypatch):
    """Folded inputs: the first inputs' answer, whatever the inputs."""
    first = correct_hvp(bench_lib.inputs("hvp", "rosenbrock", 1000))
    fake_backend(monkeypatch, lambda arrays: first)
    with pytest.raises(VerificationError, match=r"on fresh inputs \(seed 1\)"):
        bench_lib.prepare("hvp", "jax", "fwd_rev", "compiled", "rosenbrock", 1000)
    # Eager cells compute op by op from their inputs and are not checked again.
    bench_lib.prepare("hvp", "jax", "fwd_rev", "eager", "rosenbrock", 1000)


def test_a_compiled_callable_that_recompiles_for_new_values_is_a_failure(monkeypatch):
    """Right answers, but the first call on every new value pays a compilation."""
    import time

    seen = set()

    def run(arrays):
        key = arrays["params"].tobytes()
        if key not in seen:
            seen.add(key)
            time.sleep(0.2)  # what a compilation costs
        return correct_hvp(arrays)

    fake_backend(monkeypatch, run)
    with pytest.raises(RuntimeError, match="recompiles for new values"):
        bench_lib.prepare("hvp", "jax", "fwd_rev", "compiled", "rosenbrock", 1000)


@pytest.mark.slow
def test_tensorflow_xla_folding_inputs_into_constants_is_caught(monkeypatch):
    """The real case: TensorFlow 2.21's XLA bridge keeps 1 of Rosenbrock's 2 inputs (the
    parameter variable; v is folded) as run-time parameters in a tape around a
    ForwardAccumulator.  The support table skips
    that cell; without the rule, prepare() fails it."""
    pytest.importorskip("tensorflow")
    cell = bench_lib.Cell("hvp", "tensorflow", "rev_fwd", "compiled", "rosenbrock", 1000)
    assert "compile-time constants" in support.static_reason(cell)
    monkeypatch.setattr(support, "static_reason", lambda cell: None)
    with pytest.raises(RuntimeError, match="1 run-time parameters for 2 input tensors"):
        bench_lib.prepare(**cell.as_dict())
    # fwd_rev keeps its inputs as parameters and passes the same checks
    bench_lib.prepare("hvp", "tensorflow", "fwd_rev", "compiled", "rosenbrock", 1000)


@pytest.mark.slow
def test_torch_graph_counter_moves_on_a_recompile():
    """The retrace check for torch.compile reads dynamo's graph counter: a new shape
    under dynamic=False recompiles, and the counter must show it."""
    torch = pytest.importorskip("torch")
    from bench_lib.backends.torch import _compile, _graph_count

    def scaled(x):
        return torch.tanh(x) * 3.0

    compiled = _compile(torch, scaled)
    compiled(torch.ones(3))
    before = _graph_count(torch)
    compiled(torch.ones(3))
    assert _graph_count(torch) == before
    compiled(torch.ones(5))
    assert _graph_count(torch) == before + 1
