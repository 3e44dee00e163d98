"""The hand-written yardsticks (bench_lib.tools.handwritten) against the float64 reference.

Every backend x (grad/rev, hvp/rev_rev, fwd_rev, rev_fwd) x execution it has, at mlp S,
in float32 and float64.  Each built cell is also called on other inputs (``rerun``)
without building again, and must answer for them.  That alone does not catch an input
that XLA takes as a compile-time constant (TensorFlow then recompiles for every new value
and still answers correctly), so the TensorFlow compiled programs are also checked to take
every input as an HLO parameter.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import bench_lib
from bench_lib.tools import handwritten
from bench_lib.core import workloads
from bench_lib.verification.verify import elementwise_error as relative_error

TOLERANCE = {"float32": 1e-4, "float64": 1e-8}
FRAMEWORK = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
EXECUTIONS = {"tensorflow": ("eager", "graph", "compiled"), "jax": ("eager", "compiled"), "torch": ("eager", "compiled")}
CASES = (("grad", "rev"), ("hvp", "rev_rev"), ("hvp", "fwd_rev"), ("hvp", "rev_fwd"))
DTYPES = ("float32", "float64")
TORCH_SEGFAULT = (
    "torch 2.13's inductor kernel crashes the process (segmentation fault on a ZeroTensor "
    "in the CPU kernel) for compiled rev_fwd in float64, pytorch/pytorch#197067"
)


def expected_outputs(workload: str, arrays: dict) -> dict:
    """The float64 reference outputs, keyed as the cells key them."""
    spec = workloads.get(workload)
    case = spec.check_size("mlp", spec.smallest["mlp"])
    return {key: want.value for key, want in spec.reference(case, arrays).items()}


@functools.lru_cache(maxsize=None)
def case(workload: str, seed: int):
    arrays = bench_lib.inputs(workload, "mlp", workloads.get(workload).smallest["mlp"], seed=seed)
    return arrays, expected_outputs(workload, arrays)


def assert_matches(outputs: dict, expected: dict, dtype: str) -> None:
    assert set(outputs) == set(expected)
    for key, want in expected.items():
        got = outputs[key]
        assert isinstance(got, np.ndarray), key
        assert got.dtype == np.dtype(dtype), (key, got.dtype)
        assert got.shape == np.shape(want), (key, got.shape)
        assert relative_error(got, want) <= TOLERANCE[dtype], (key, relative_error(got, want))


def cells():
    for backend, executions in EXECUTIONS.items():
        for execution in executions:
            hessians = [("hessian", mode) for mode in handwritten.HESSIAN_MODES[backend]]
            for workload, mode in CASES + tuple(hessians):
                for dtype in DTYPES:
                    marks = []
                    if backend == "torch" and execution == "compiled":
                        marks.append(pytest.mark.slow)
                        if mode == "rev_fwd" and dtype == "float64":
                            marks.append(pytest.mark.skip(reason=TORCH_SEGFAULT))
                        if mode == "autograd_vectorize":
                            marks.append(pytest.mark.skip(reason="dynamo cannot trace autograd.functional"))
                    elif workload == "hessian":  # seconds each, eager ones too
                        marks.append(pytest.mark.slow)
                    if dtype == "float64":
                        # the float32 yardstick's code with another dtype argument (83 s in
                        # all on 2 cores); the suite's own float64 cells are verified by
                        # test_cells, test_hessian and test_unrolled: `make test` leaves them out
                        marks += [pytest.mark.slow, pytest.mark.heavy]
                    yield pytest.param(
                        backend, workload, mode, execution, dtype,
                        marks=marks, id=f"{backend}-{workload}-{mode}-{execution}-{dtype}",
                    )


def build(backend, workload, mode, execution, arrays, dtype, **options):
    pytest.importorskip(FRAMEWORK[backend])
    return handwritten.load(backend).build(workload, mode, execution, arrays, dtype, **options)


@pytest.mark.parametrize("backend, workload, mode, execution, dtype", list(cells()))
def test_handwritten_matches_the_reference(backend, workload, mode, execution, dtype):
    arrays, expected = case(workload, 0)
    cell = build(backend, workload, mode, execution, arrays, dtype)
    first = cell.to_numpy(cell.run())
    assert_matches(first, expected, dtype)
    # The same built function, not built again, on other inputs answers for those.
    other_arrays, other_expected = case(workload, 1)
    other = cell.to_numpy(cell.rerun(other_arrays))
    assert_matches(other, other_expected, dtype)
    assert all(not np.allclose(other[key], first[key]) for key in expected)
    assert_matches(cell.to_numpy(cell.run()), expected, dtype)  # run() still has its own inputs


COMPILED_CELLS = [
    pytest.param("tensorflow", id="tensorflow"),
    pytest.param("jax", id="jax"),
    pytest.param("torch", id="torch", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("backend", COMPILED_CELLS)
def test_compiled_cells_built_twice_each_match_their_inputs(backend):
    outputs = []
    for seed in (0, 1):
        arrays, expected = case("hvp", seed)
        cell = build(backend, "hvp", "fwd_rev", "compiled", arrays, "float32")
        outputs.append(cell.to_numpy(cell.run()))
        assert_matches(outputs[-1], expected, "float32")
    assert not np.allclose(outputs[0]["hvp"], outputs[1]["hvp"])


def test_torch_compiled_rev_fwd_float64_is_not_implemented_rather_than_a_crash():
    arrays, _ = case("hvp", 0)
    with pytest.raises(NotImplementedError, match="pytorch/pytorch#197067"):
        handwritten.load("torch").build("hvp", "rev_fwd", "compiled", arrays, "float64")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_an_execution_the_framework_lacks_is_not_implemented(backend):
    arrays, _ = case("grad", 0)
    with pytest.raises(NotImplementedError, match=f"{backend} has no graph execution"):
        handwritten.load(backend).build("grad", "rev", "graph", arrays, "float32")


def test_bad_arguments_name_what_is_wrong():
    arrays, _ = case("hvp", 0)
    with pytest.raises(ValueError, match="unknown backend 'mxnet'"):
        handwritten.load("mxnet")
    with pytest.raises(ValueError, match="unknown mode 'rev' for workload 'hvp'"):
        handwritten.load("jax").build("hvp", "rev", "eager", arrays, "float32")
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        handwritten.load("jax").build("hvp", "fwd_rev", "eager", arrays, "float16")


@pytest.mark.parametrize("size", ["S", "M"])
def test_the_parameter_shapes_follow_from_the_inputs(size):
    arrays = bench_lib.inputs("hvp", "mlp", size)
    shapes = handwritten.mlp_shapes(arrays)
    n_in, n_out = arrays["x"].shape[1], arrays["y"].shape[1]
    h = shapes[1][0]
    assert shapes == ((n_in, h), (h,), (h, h), (h,), (h, n_out), (n_out,))
    pieces = handwritten.split(arrays["params"], shapes)
    assert [p.shape for p in pieces] == list(shapes)
    np.testing.assert_array_equal(handwritten.flat(pieces), arrays["params"])


@pytest.mark.parametrize("workload, mode", CASES)
@pytest.mark.parametrize("execution", EXECUTIONS["tensorflow"])
def test_tensorflow_the_other_parameter_kind_is_correct_too(workload, mode, execution):
    """build() uses watched tensors or tf.Variables, whichever measured faster for the
    execution; the other kind is correct too.  With variables, rerun() assigns fresh
    values and the call computes with them, then run() has its own values back."""
    tf_module = handwritten.load("tensorflow")
    pytest.importorskip("tensorflow")
    other_kind = {"tensors": "variables", "variables": "tensors"}[tf_module.PARAMS_AS[execution]]
    arrays, expected = case(workload, 0)
    cell = build("tensorflow", workload, mode, execution, arrays, "float32", params_as=other_kind)
    assert_matches(cell.to_numpy(cell.run()), expected, "float32")
    other_arrays, other_expected = case(workload, 1)
    assert_matches(cell.to_numpy(cell.rerun(other_arrays)), other_expected, "float32")
    assert_matches(cell.to_numpy(cell.run()), expected, "float32")


@pytest.mark.parametrize("params_as", ["tensors", "variables"])
@pytest.mark.parametrize("workload, mode", CASES)
def test_tensorflow_xla_takes_every_input_as_a_parameter(workload, mode, params_as):
    """No input of the compiled function is folded into a compile-time constant (which
    TensorFlow's XLA bridge does to every input of rev_fwd when the bias broadcasts
    implicitly): the HLO entry has one parameter per input tensor and variable."""
    tf = pytest.importorskip("tensorflow")
    from bench_lib.tools.handwritten.tensorflow import _function

    arrays, _ = case(workload, 0)
    fn, args, _host, variables = _function(workload, mode, "compiled", arrays, "float32", params_as)
    hlo = tf.function(fn, jit_compile=True).experimental_get_compiler_ir(*args)(stage="hlo")
    entry = hlo[hlo.index("\nENTRY ") :]
    inputs = len(tf.nest.flatten(args)) + len(variables or ())
    assert inputs == (8 if workload == "grad" else 14)
    assert entry.count(" parameter(") == inputs


def test_the_device_is_checked_and_the_unrolled_programs_stay_on_the_cpu():
    arrays = bench_lib.inputs("hvp", "mlp", "S")
    with pytest.raises(ValueError, match="unknown device 'tpu'; expected 'cpu' or 'gpu'"):
        handwritten.build("jax", "hvp", "fwd_rev", "compiled", arrays, "float32", "tpu")
    unrolled = bench_lib.inputs("unrolled", "mlp", "S")
    with pytest.raises(NotImplementedError, match="run on the CPU only"):
        handwritten.build("jax", "unrolled", "reverse", "compiled", unrolled, "float32", "gpu", K=1, optimizer="sgd")
    assert handwritten.covers("torch", "hvp", "fwd_rev", "gpu")
    assert not handwritten.covers("torch", "unrolled", "reverse", "gpu")


def test_the_idiom_check_of_the_gpu_preset_takes_no_cell_without_a_gpu():
    from bench_lib.tools import idiom

    cells = list(idiom.cells_to_compare("gpu", workloads=("hvp",)))
    assert cells == [] or all(cell.device == "gpu" for cell in cells)


def architecture_cells():
    """The ConvNet and the Transformer block, grad and every HVP, at XS in float32: the
    ConvNet's eager fwd_rev HVP in `make test`; the rest (tracing and compiling, seconds
    each) with `pytest -m heavy`, and at S in `idiom`, which checks each against the
    suite's cell before timing it."""
    for backend, executions in EXECUTIONS.items():
        for execution in executions:
            for model in handwritten.ARCHITECTURES:
                for workload, mode in CASES:
                    quick = (model, execution, mode) == ("cnn", "eager", "fwd_rev")
                    marks = [pytest.mark.slow] if quick else [pytest.mark.slow, pytest.mark.heavy]
                    yield pytest.param(
                        backend, model, workload, mode, execution, marks=marks,
                        id=f"{backend}-{model}-{workload}-{mode}-{execution}",
                    )


@pytest.mark.parametrize("backend, model, workload, mode, execution", list(architecture_cells()))
def test_handwritten_architectures_match_the_reference(backend, model, workload, mode, execution):
    pytest.importorskip(FRAMEWORK[backend])
    from bench_lib.core.models import spec

    arrays = bench_lib.inputs(workload, model, "XS")
    expected = {key: want.value for key, want in workloads.get(workload).reference(spec(model, "XS"), arrays).items()}
    try:
        cell = handwritten.build(backend, workload, mode, execution, arrays, "float32", model=model, case=spec(model, "XS"))
    except NotImplementedError as reason:
        assert (backend, mode, execution) == ("tensorflow", "rev_fwd", "compiled"), reason
        pytest.skip(str(reason))
    assert_matches(cell.to_numpy(cell.run()), expected, "float32")
    other = bench_lib.inputs(workload, model, "XS", seed=1)
    other_expected = workloads.get(workload).reference(spec(model, "XS"), other)
    assert_matches(cell.to_numpy(cell.rerun(other)), {k: v.value for k, v in other_expected.items()}, "float32")


def test_the_architectures_are_written_for_float32_grads_and_hvps():
    from bench_lib.core.models import spec

    arrays = bench_lib.inputs("grad", "cnn", "XS")
    with pytest.raises(NotImplementedError, match="written for grad and hvp in float32"):
        handwritten.load("jax").build("grad", "rev", "eager", arrays, "float64", model="cnn", case=spec("cnn", "XS"))
    assert handwritten.covers("jax", "hvp", "fwd_rev", model="transformer")
    assert not handwritten.covers("jax", "hessian", "native", model="cnn")
    assert not handwritten.covers("jax", "grad", "rev", model="logreg")
