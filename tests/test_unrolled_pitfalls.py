"""The classic ways to get a hypergradient or meta-gradient wrong, each shown failing
where the suite's functional form gives the verified value.  In float64, on the
inputs of ``bench_lib.inputs("unrolled", "mlp", "S")``."""

import numpy as np
import pytest

import bench_lib
from bench_lib.core import reference, workloads
from bench_lib.verification import verify
from bench_lib.core.cells import Cell
from bench_lib.core.models import spec, split

pytestmark = pytest.mark.slow

CASE = spec("mlp", "S")
K = 10
WORKLOAD = workloads.get("unrolled")


@pytest.fixture(scope="module")
def arrays():
    return bench_lib.inputs("unrolled", "mlp", "S")


@pytest.fixture(scope="module")
def exact(arrays):
    return {key: e.value for key, e in WORKLOAD.reference(CASE, arrays, K=K, optimizer="sgd").items()}


def _verified_by_the_suite(backend: str) -> None:
    """The suite's functional form of the same computation passes verification."""
    cell = Cell("unrolled", backend, "reverse", "eager", "mlp", "S", dtype="float64", keywords={"K": K})
    assert verify.verdict_for(cell, bench_lib.compute(**cell.as_dict())).passed


def _tensorflow():
    from bench_lib.backends.tensorflow import framework

    return framework()


def _tf_loss(tf):
    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = tf.tanh(tf.tanh(x @ w1 + b1) @ w2 + b2)
        return 0.5 * tf.reduce_mean(tf.square(h @ w3 + b3 - y))

    return loss


def _tf_inputs(tf, arrays):
    params = [tf.Variable(np.ascontiguousarray(b)) for b in split(CASE, arrays["params"])]
    x, y, xv, yv = (tf.constant(arrays[name]) for name in ("x", "y", "xv", "yv"))
    return params, tf.constant(arrays["lr"]), x, y, xv, yv


def test_updating_variables_inside_the_outer_tape_cuts_the_hypergradient(arrays):
    """Pitfall 1: Variable.assign_sub (what a Keras optimizer's apply_gradients does) is
    not recorded as a function of lr; the outer tape sees no path from lr to the loss."""
    tf = _tensorflow()
    loss = _tf_loss(tf)
    params, lr, x, y, xv, yv = _tf_inputs(tf, arrays)
    with tf.GradientTape() as outer:
        outer.watch(lr)
        for _ in range(K):
            with tf.GradientTape() as inner:
                value = loss(params, x, y)
            for variable, g in zip(params, inner.gradient(value, params)):
                variable.assign_sub(lr * g)
        outer_value = loss(params, xv, yv)
    assert outer.gradient(outer_value, lr) is None
    _verified_by_the_suite("tensorflow")


def test_a_keras_optimizer_has_no_differentiable_learning_rate_and_gives_a_first_order_meta_gradient(arrays, exact):
    """Pitfall 1, with Keras: the learning rate cannot be a tensor at all, and
    apply_gradients updates the variables in place, so the outer tape's gradient with
    respect to them is the validation gradient at p_K: first-order MAML."""
    tf = _tensorflow()
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError, match="learning_rate"):
        keras.optimizers.SGD(learning_rate=tf.Variable(float(arrays["lr"]), dtype=tf.float64))
    loss = _tf_loss(tf)
    params, _, x, y, xv, yv = _tf_inputs(tf, arrays)
    optimizer = keras.optimizers.SGD(learning_rate=float(arrays["lr"]))
    with tf.GradientTape() as outer:
        for _ in range(K):
            with tf.GradientTape() as inner:
                value = loss(params, x, y)
            optimizer.apply_gradients(zip(inner.gradient(value, params), params))
        outer_value = loss(params, xv, yv)
    d_init = np.concatenate([g.numpy().ravel() for g in outer.gradient(outer_value, params)])

    first_order = WORKLOAD.approximations["first_order"](CASE, arrays, K=K, optimizer="sgd")["d_init"].value
    # Keras holds the learning rate in float32 (0.1 is off by 1.5e-9): close, not equal
    assert np.linalg.norm(d_init - first_order) <= 1e-6 * np.linalg.norm(first_order)
    assert np.linalg.norm(d_init - exact["d_init"]) > 0.1 * np.linalg.norm(exact["d_init"])


def test_a_misspelt_output_gradients_is_a_type_error_not_another_product():
    """Pitfall 2: GradientTape.gradient takes output_gradients (plural)."""
    tf = _tensorflow()
    p, v = tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(p)
        g = p * p
    with pytest.raises(TypeError, match="output_gradient"):
        tape.gradient(g, p, output_gradient=v)
    with tf.GradientTape() as tape:
        tape.watch(p)
        g = p * p
    np.testing.assert_array_equal(tape.gradient(g, p, output_gradients=v).numpy(), [6.0, 16.0])


def test_a_persistent_tape_over_a_reassigned_variable_gives_the_last_steps_derivative(arrays, exact):
    """Pitfall 3: each step reads the variable afresh, so the tape links the final loss
    to lr through the last update only: -<grad L_val(p_K), g_{K-1}>, not the unrolled
    derivative."""
    tf = _tensorflow()
    loss = _tf_loss(tf)
    params, lr, x, y, xv, yv = _tf_inputs(tf, arrays)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(lr)
        for _ in range(K):
            with tf.GradientTape() as inner:
                value = loss(params, x, y)
            updated = [variable - lr * g for variable, g in zip(params, inner.gradient(value, params))]
            outer_value = loss(updated, xv, yv)
            for variable, new in zip(params, updated):
                variable.assign(new)
    last_step = float(tape.gradient(outer_value, lr))

    trajectory, velocities = reference.unroll(CASE, arrays["params"], arrays["x"], arrays["y"], 0.1, K, 0.0)
    validation_gradient = reference.gradient(CASE, {"params": trajectory[-1], "x": arrays["xv"], "y": arrays["yv"]})
    assert last_step == pytest.approx(-validation_gradient @ velocities[-1], rel=1e-10)
    d_lr = float(exact["d_lr"])
    assert abs(last_step - d_lr) > 0.1 * abs(d_lr)


def test_torch_optim_steps_in_place_give_no_hypergradient_and_a_first_order_meta_gradient(arrays, exact):
    """Pitfall 4: torch.optim updates the parameters in place under no_grad.  The
    validation loss has no path to lr, and its gradient with respect to the (mutated)
    parameters is the gradient at p_K: first-order MAML, not the meta-gradient."""
    from bench_lib.backends.torch import framework

    torch = framework()
    params = [torch.tensor(np.ascontiguousarray(b), requires_grad=True) for b in split(CASE, arrays["params"])]
    lr = torch.tensor(float(arrays["lr"]), dtype=torch.float64, requires_grad=True)
    x, y, xv, yv = (torch.from_numpy(arrays[name]) for name in ("x", "y", "xv", "yv"))

    def loss(p, x, y):
        w1, b1, w2, b2, w3, b3 = p
        h = torch.tanh(torch.tanh(x @ w1 + b1) @ w2 + b2)
        return 0.5 * torch.mean(torch.square(h @ w3 + b3 - y))

    optimizer = torch.optim.SGD(params, lr=lr)
    for _ in range(K):
        optimizer.zero_grad()
        loss(params, x, y).backward()
        optimizer.step()
    value = loss(params, xv, yv)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad(value, lr, retain_graph=True)
    d_init = np.concatenate([g.numpy().ravel() for g in torch.autograd.grad(value, params)])

    first_order = WORKLOAD.approximations["first_order"](CASE, arrays, K=K, optimizer="sgd")["d_init"].value
    np.testing.assert_allclose(d_init, first_order, rtol=1e-9, atol=1e-14)
    assert np.linalg.norm(d_init - exact["d_init"]) > 0.1 * np.linalg.norm(exact["d_init"])
    _verified_by_the_suite("torch")
