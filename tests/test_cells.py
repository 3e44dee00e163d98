"""Every backend x mode x execution x dtype cell, at the smallest sizes, against the reference."""

import re

import numpy as np
import pytest

import bench_lib
from bench_lib import reference, support
from bench_lib.verification_run import smallest_cells
from bench_lib.verify import TOLERANCE, VerificationError, relative_error

CPU_CELLS = list(smallest_cells(bench_lib.BACKENDS, bench_lib.MODELS, bench_lib.DTYPES))


@pytest.mark.parametrize("cell", CPU_CELLS, ids=lambda c: c.label)
def test_cell_matches_the_reference(cell):
    reason = support.skip_reason(cell)
    if reason:
        with pytest.raises(NotImplementedError, match="^" + re.escape(reason)):
            bench_lib.prepare(**cell.as_dict())
        pytest.skip(reason)
    prepared = bench_lib.prepare(**cell.as_dict())
    assert prepared.verdict.passed and prepared.verdict.error <= TOLERANCE[cell.dtype]
    assert prepared.first_call_seconds > 0
    assert prepared.conditions["threads"] >= 1 and prepared.conditions["precision"] == "strict"
    prepared()  # the timed callable runs again without retracing (prepare checks the count)

    # compute() is the public one-shot path and agrees with the reference too.
    outputs = bench_lib.compute(**cell.as_dict())
    expected = reference.expected(cell.workload, cell.model, cell.size, bench_lib.inputs(cell.workload, cell.model, cell.size))
    for key, want in expected.items():
        assert outputs[key].dtype == np.dtype(cell.dtype)
        assert relative_error(outputs[key], want) <= TOLERANCE[cell.dtype]


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
    real = reference.expected

    def off_by_one_percent(*args):
        return {key: value * 1.01 + 0.01 for key, value in real(*args).items()}

    monkeypatch.setattr(reference, "expected", off_by_one_percent)
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


def test_a_callable_that_retraces_after_warm_up_is_a_failure(monkeypatch):
    """prepare() compares the backend's trace count before and after warm-up."""
    from types import SimpleNamespace

    from bench_lib import backends
    from bench_lib.backends.base import Program

    traces = [0]

    def run():
        traces[0] += 1  # a callable that traces on every call
        return {"hvp": reference.hvp("mlp", "S", bench_lib.inputs("hvp", "mlp", "S")).astype(np.float32)}

    fake = SimpleNamespace(
        unavailable=lambda cell: None,
        versions=lambda: {},
        build=lambda cell, arrays: Program(
            run=run, wait=lambda out: None, to_numpy=lambda out: out, device_name="cpu", traces=lambda: traces[0]
        ),
    )
    monkeypatch.setattr(backends, "load", lambda name: fake)
    with pytest.raises(RuntimeError, match="retraced during warm-up"):
        bench_lib.prepare("hvp", "jax", "fwd_rev", "compiled", "mlp", "S")


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
