"""The float64 reference against finite differences of the loss."""

import numpy as np
import pytest

from bench_lib import inputs
from bench_lib.core import reference, workloads
from bench_lib.core.reference import networks
from bench_lib.core.models import CASES, block_slices, spec


def directional(fn, point, direction, step=1e-4):
    """Fourth-order central difference of a scalar fn along direction."""
    at = lambda t: fn(point + t * direction)  # noqa: E731
    return (-at(2 * step) + 8 * at(step) - 8 * at(-step) + at(-2 * step)) / (12 * step)


def loss_at(model, size, arrays):
    return lambda p: reference.loss(spec(model, size), {**arrays, "params": p})


EVERY_MODEL = [("mlp", "S"), ("rosenbrock", 1000), ("logreg", 1000), ("cnn", "XS"), ("transformer", "XS")]


@pytest.mark.parametrize("model,size", EVERY_MODEL)
def test_gradient_matches_finite_differences_of_the_loss(model, size):
    arrays = inputs("grad", model, size)
    grad = reference.gradient(spec(model, size), arrays)
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = rng.standard_normal(grad.shape)
        u /= np.linalg.norm(u)
        fd = directional(loss_at(model, size, arrays), arrays["params"], u)
        assert grad @ u == pytest.approx(fd, rel=1e-7, abs=1e-10)


def test_mlp_gradient_blocks_follow_the_flattening_order():
    """A direction confined to one parameter block catches a block in the wrong place."""
    arrays = inputs("grad", "mlp", "S")
    grad = reference.gradient(spec("mlp", "S"), arrays)
    start = 0
    for shape in CASES["mlp"]["S"].param_shapes:
        size = int(np.prod(shape))
        u = np.zeros_like(grad)
        u[start : start + size] = np.random.default_rng(start).standard_normal(size)
        fd = directional(loss_at("mlp", "S", arrays), arrays["params"], u)
        assert grad @ u == pytest.approx(fd, rel=1e-7, abs=1e-11), shape
        start += size
    assert start == grad.size


@pytest.mark.parametrize("model,size", EVERY_MODEL)
def test_hvp_matches_the_second_directional_derivative_of_the_loss(model, size):
    arrays = inputs("hvp", model, size)
    v = arrays["v"]
    (hv,) = reference.hvp(spec(model, size), arrays)
    f = loss_at(model, size, arrays)
    h = 1e-3 / np.linalg.norm(v)
    p = arrays["params"]
    second = (-f(p + 2 * h * v) + 16 * f(p + h * v) - 30 * f(p) + 16 * f(p - h * v) - f(p - 2 * h * v)) / (12 * h * h)
    assert v @ hv == pytest.approx(second, rel=1e-5)


def test_mlp_hvp_columns_match_finite_differences_of_the_gradient():
    """H e_i for a few coordinates, against a plain central difference."""
    arrays = inputs("hvp", "mlp", "S")
    p = arrays["params"]
    grad = lambda q: reference.gradient(spec("mlp", "S"), {**arrays, "params": q})  # noqa: E731
    for i in (0, 4096 + 3, p.size - 1):
        e = np.zeros_like(p)
        e[i] = 1.0
        (column,) = reference.hvp(spec("mlp", "S"), {**arrays, "v": e})
        step = 1e-5
        fd = (grad(p + step * e) - grad(p - step * e)) / (2 * step)
        np.testing.assert_allclose(column, fd, rtol=1e-5, atol=1e-9)


def test_rosenbrock_closed_forms_match_a_dense_finite_difference_hessian():
    x = np.random.default_rng(3).uniform(-1.5, 1.5, 6)
    g = reference._rosenbrock_grad
    step = 1e-6
    dense = np.stack([(g(x + step * e) - g(x - step * e)) / (2 * step) for e in np.eye(x.size)], axis=1)
    v = np.random.default_rng(4).standard_normal(x.size)
    np.testing.assert_allclose(reference._rosenbrock_hvp(x, v), dense @ v, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dense, dense.T, atol=1e-4)


def test_rosenbrock_minimum_has_zero_gradient():
    x = np.ones(10)
    assert reference._rosenbrock_loss(x) == 0.0
    np.testing.assert_array_equal(reference._rosenbrock_grad(x), np.zeros(10))


def test_expected_keys_per_workload():
    for name, workload in workloads.REGISTRY.items():
        for model, size in workload.smallest.items():
            if (name, model) == ("hessian", "cnn"):
                continue  # 16 s of autograd; the block's dense Hessian takes the same path
            keywords = dict(workload.keywords({}))  # the defaults (K = 10, sgd for unrolled)
            expected = workload.reference(spec(model, size), inputs(name, model, size), **keywords)
            assert set(expected) == set(workload.outputs), name


@pytest.mark.parametrize("model,size", [
    ("mlp", "XXS"), ("mlp", "XS"), ("transformer", "XS"),
    # autograd's 1,562 HVPs of the ConvNet take 16 s
    pytest.param("cnn", "XS", marks=[pytest.mark.slow, pytest.mark.heavy]),
])
def test_dense_hessian_matches_finite_differences_of_the_gradient(model, size):
    """The mlp's hand-written forward-over-reverse and autograd's batched reverse over
    reverse against central differences of the gradient: along a random direction and
    the first and last columns."""
    case, arrays = spec(model, size), inputs("hessian", model, size)
    hessian = reference.hessian(case, arrays)
    assert hessian.shape == (case.n_params, case.n_params)
    np.testing.assert_allclose(hessian, hessian.T, rtol=0, atol=1e-14 * np.abs(hessian).max())
    rng = np.random.default_rng(2)
    gradient = lambda p: reference.gradient(case, {**arrays, "params": p})  # noqa: E731
    for direction in [rng.standard_normal(case.n_params), np.eye(case.n_params)[0], np.eye(case.n_params)[-1]]:
        fd = reference.directional_derivative(gradient, arrays["params"], direction)
        assert np.linalg.norm(hessian @ direction - fd) <= 1e-9 * np.linalg.norm(fd)


@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_batched_network_hvps_are_the_one_direction_hvps(model):
    """Two full batches of parameter copies and a partial one: each row is the HVP of
    its own direction, as computed alone."""
    case, arrays = spec(model, "XS"), inputs("hvp", model, "XS")
    directions = np.random.default_rng(3).standard_normal((2 * networks.COPIES + 3, case.n_params))
    batched = reference.exact_hvps(case, arrays, directions)
    for row in (0, networks.COPIES, len(directions) - 1):
        alone = reference.exact_hvps(case, arrays, directions[row][None, :])[0]
        np.testing.assert_allclose(batched[row], alone, rtol=0, atol=1e-13 * np.abs(alone).max())


def test_rosenbrock_dense_hessian_is_the_closed_form_hvp_matrix():
    case, arrays = spec("rosenbrock", 100), inputs("hessian", "rosenbrock", 100)
    hessian = reference.hessian(case, arrays)
    basis = np.eye(100)
    columns = np.stack([reference._rosenbrock_hvp(arrays["params"], e) for e in basis], axis=1)
    np.testing.assert_array_equal(hessian, columns)
    assert np.count_nonzero(hessian) == 100 + 2 * 99  # tridiagonal


def test_an_asymmetric_reference_hessian_is_refused(monkeypatch):
    monkeypatch.setattr(reference, "hessian", lambda case, arrays: np.triu(np.ones((100, 100))))
    with pytest.raises(AssertionError, match="not symmetric"):
        workloads.get("hessian").reference(spec("rosenbrock", 100), inputs("hessian", "rosenbrock", 100))


def test_the_finite_difference_reference_carries_its_own_error_estimate():
    """Two steps, h and 2h: their distance bounds the reference's error, far below the
    float32 error model and above float64 rounding."""
    expected = workloads.get("hvp").reference(spec("mlp", "S"), inputs("hvp", "mlp", "S"))["hvp"]
    distance = np.linalg.norm(expected.value - expected.alternative) / np.linalg.norm(expected.value)
    assert 1e-15 < distance < 1e-9
    assert workloads.get("hvp").reference(spec("rosenbrock", 1000), inputs("hvp", "rosenbrock", 1000))["hvp"].alternative is None


class TestInputs:
    def test_float64_and_shapes(self):
        for model, size in workloads.get("hvp").smallest.items():
            arrays = inputs("hvp", model, size)
            n = spec(model, size).n_params
            assert arrays["params"].shape == (n,) and arrays["v"].shape == (n,)
            assert all(a.dtype == np.float64 for a in arrays.values())
        arrays = inputs("grad", "mlp", "S")
        assert arrays["x"].shape == (128, 64) and arrays["y"].shape == (128, 10)
        assert "v" not in arrays

    def test_seeded_and_shared_between_workloads(self):
        a, b = inputs("hvp", "mlp", "S", seed=0), inputs("hvp", "mlp", "S", seed=0)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        g = inputs("grad", "mlp", "S", seed=0)
        for key in ("params", "x", "y"):
            np.testing.assert_array_equal(g[key], a[key])
        assert not np.array_equal(inputs("hvp", "mlp", "S", seed=1)["params"], a["params"])

    @pytest.mark.parametrize(
        "args,message",
        [
            (("hessian_typo", "mlp", "S"), "unknown workload 'hessian_typo'"),
            (("grad", "resnet", "S"), "unknown model 'resnet'"),
            (("grad", "mlp", "XL"), "unknown size 'XL' for model 'mlp'"),
            (("grad", "rosenbrock", "S"), "unknown size 'S' for model 'rosenbrock'"),
        ],
    )
    def test_bad_input_names_what_is_wrong(self, args, message):
        with pytest.raises(ValueError, match=message):
            inputs(*args)


@pytest.mark.parametrize("model,size", [("logreg", 1000), ("cnn", "XS"), ("transformer", "XS")])
def test_exact_hvps_match_central_differences_of_the_gradient_block_by_block(model, size):
    """The closed form (logreg) and autograd's reverse over reverse (the networks)
    against differences of the gradient, along a direction confined to each block."""
    case, arrays = spec(model, size), inputs("hvp", model, size)
    gradient = lambda p: reference.gradient(case, {**arrays, "params": p})  # noqa: E731
    rng = np.random.default_rng(5)
    for block in block_slices(case):
        direction = np.zeros(case.n_params)
        direction[block] = rng.standard_normal(block.stop - block.start)
        exact = reference.exact_hvps(case, arrays, direction[None, :])[0]
        fd = reference.directional_derivative(gradient, arrays["params"], direction)
        assert np.linalg.norm(exact - fd) <= 1e-8 * np.linalg.norm(fd), block


def test_logreg_closed_form_hessian_is_autograds_and_symmetric():
    """The closed-form Hessian against HIPS autograd's HVPs of a loss written apart."""
    from autograd import hessian_tensor_product
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    case, arrays = spec("logreg", 100), inputs("hessian", "logreg", 100)
    x, y = arrays["x"], arrays["y"]

    def loss(p):
        w, b = p[:90].reshape(9, 10), p[90:]
        z = x @ w + b
        return -anp.sum(y * (z - logsumexp(z, axis=1, keepdims=True))) / len(x) + 0.5 * case.l2 * anp.sum(w**2)

    hessian = reference.hessian(case, arrays)
    columns = np.stack([hessian_tensor_product(loss)(arrays["params"], e) for e in np.eye(100)], axis=1)
    np.testing.assert_allclose(hessian, columns, rtol=0, atol=1e-14)
    np.testing.assert_allclose(hessian, hessian.T, rtol=0, atol=1e-15)
    assert reference.loss(case, arrays) == pytest.approx(float(loss(arrays["params"])), rel=1e-14)
