"""The models written once in each framework's own layers: the same function in every
backend, their native layouts converted at the boundary only, and the framework
behaviours that decide which form of an operation a cell runs."""

import numpy as np
import pytest

import bench_lib
from bench_lib import backends
from bench_lib.core import reference
from bench_lib.core.models import (
    CASES, CHANNELS_FIRST, CHANNELS_LAST, MODELS, block_slices, canonical_flat, canonical_matrix, native_blocks,
    native_data, spec,
)

NEW_MODELS = {"logreg": 1000, "cnn": "XS", "transformer": "XS"}


def installed(backend):
    reason = backends.not_installed_reason(backend)
    if reason:
        pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.parametrize("backend", bench_lib.BACKENDS)
@pytest.mark.parametrize("model", NEW_MODELS)
def test_float64_losses_of_every_backend_agree_with_the_reference_to_rounding(model, backend):
    """The loss written once over each framework's own operations is the reference's
    function: in float64 the two agree to rounding, and so do the gradients."""
    installed(backend)
    size = NEW_MODELS[model]
    arrays = bench_lib.inputs("grad", model, size)
    outputs = bench_lib.compute("grad", backend, "rev", "eager", model, size, dtype="float64")
    case = spec(model, size)
    expected = reference.loss(case, arrays)
    assert abs(float(outputs["loss"]) - expected) <= 1e-13 * abs(expected)
    gradient = reference.gradient(case, arrays)
    assert np.linalg.norm(outputs["grad"] - gradient) <= 1e-11 * np.linalg.norm(gradient)


def test_every_case_has_its_blocks_and_a_docstring_with_the_math():
    for model in MODELS:
        for size, case in CASES[model].items():
            assert len(case.block_names) == len(case.param_shapes), (model, size)
            assert block_slices(case)[-1].stop == case.n_params
        assert "f(p)" in type(case).__doc__ or "f(x)" in type(case).__doc__, model


def test_channels_first_blocks_and_images_are_transposes_converted_back_exactly():
    case = spec("cnn", "XS")
    flat = np.random.default_rng(0).standard_normal(case.n_params)
    first = native_blocks(case, flat, CHANNELS_FIRST)
    assert first[0].shape == (case.c1, case.channels, 3, 3)  # OIHW
    assert first[2].shape == (case.c2, case.c1, 3, 3)
    assert all(block.flags.c_contiguous for block in first)
    np.testing.assert_array_equal(canonical_flat(case, first, CHANNELS_FIRST), flat)
    np.testing.assert_array_equal(canonical_flat(case, native_blocks(case, flat, CHANNELS_LAST)), flat)
    data = case.draw_data(np.random.default_rng(1))
    nchw = native_data(case, "x", data["x"], CHANNELS_FIRST)
    assert nchw.shape == (case.batch, case.channels, case.image, case.image)
    np.testing.assert_array_equal(nchw[:, 1], data["x"][..., 1])
    np.testing.assert_array_equal(native_data(case, "y", data["y"], CHANNELS_FIRST), data["y"])


def test_a_matrix_in_native_order_is_put_back_in_the_flattening_order():
    """H_native[i, j] = H[order[i], order[j]]; canonical_matrix inverts it."""
    case = spec("cnn", "XS")
    n = case.n_params
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((n, n))
    order = np.concatenate([b.ravel() for b in native_blocks(case, np.arange(n, dtype=float), CHANNELS_FIRST)])
    native = matrix[np.ix_(order.astype(int), order.astype(int))]
    np.testing.assert_array_equal(canonical_matrix(case, native, CHANNELS_FIRST), matrix)
    assert canonical_matrix(case, matrix, CHANNELS_LAST) is matrix


def test_every_backend_spells_every_operation_and_names_its_forms():
    from bench_lib.core.models.ops import ArrayOps

    fields = [name for name in ArrayOps.__dataclass_fields__ if name not in ("layout", "forms")]
    cell = bench_lib.Cell("hvp", "jax", "fwd_rev", "eager", "transformer", "XS")
    for backend in bench_lib.BACKENDS:
        if backends.not_installed_reason(backend):
            continue
        module = backends.load(backend)
        ops = __import__(f"bench_lib.backends.ops.{backend}", fromlist=["array_ops"]).array_ops(module.framework(), cell)
        assert all(getattr(ops, name) is not None for name in fields), backend
        assert set(ops.forms) >= {"attention", "layer_norm"}, backend


@pytest.mark.slow
def test_a_cell_records_the_forms_it_ran():
    prepared = bench_lib.prepare("grad", "jax", "rev", "eager", "transformer", "XS", dtype="float64")
    assert prepared.conditions["attention_form"].startswith("explicit")
    prepared = bench_lib.prepare("grad", "jax", "rev", "eager", "transformer", "XS")
    assert prepared.conditions["attention_form"] == "jax.nn.dot_product_attention"
    assert "attention_form" not in bench_lib.prepare("grad", "jax", "rev", "eager", "cnn", "XS").conditions
    # the tidy table keeps every form a cell can record, as a column of its own
    from bench_lib.reporting import tidy

    recorded = {key for key in prepared.conditions if key.endswith("_form")}
    assert recorded == {"attention_form", "layer_norm_form"} and recorded <= set(tidy.FORMS) <= set(tidy.COLUMNS)


# The framework behaviours behind the forms.  Each fails when the framework changes, so
# that the form is reconsidered.


def _layer_norm_hvp(tf, moments):
    rng = np.random.default_rng(0)
    x, v = tf.constant(rng.standard_normal((3, 8))), tf.constant(rng.standard_normal((3, 8)))
    weights = tf.range(1.0, 9.0, dtype=tf.float64)

    def f(x):
        if moments:
            mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        else:
            mean = tf.reduce_mean(x, -1, keepdims=True)
            variance = tf.reduce_mean(tf.square(x - mean), -1, keepdims=True)
        return tf.reduce_sum(tf.sin(tf.nn.batch_normalization(x, mean, variance, None, None, 1e-5)) * weights)

    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
        gv = tf.reduce_sum(g * v)
    return g.numpy(), outer.gradient(gv, x).numpy(), (x.numpy(), v.numpy(), f)


def test_tensorflow_moments_give_right_gradients_and_wrong_second_derivatives():
    """Why TensorFlow's LayerNorm writes its statistics out: tf.nn.moments stops the
    mean's gradient inside the variance."""
    installed("tensorflow")
    tf = backends.load("tensorflow").framework()
    g_moments, hv_moments, _ = _layer_norm_hvp(tf, moments=True)
    g_explicit, hv_explicit, (x, v, f) = _layer_norm_hvp(tf, moments=False)
    np.testing.assert_allclose(g_moments, g_explicit, rtol=1e-12)
    gradient = lambda p: _tape_gradient(tf, f, p)  # noqa: E731
    (difference,) = reference.directional_derivatives(gradient, x, v)
    np.testing.assert_allclose(hv_explicit, difference, rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(hv_moments - difference) > 1e-2 * np.linalg.norm(difference)


def _tape_gradient(tf, f, point):
    x = tf.constant(point)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x).numpy()


def test_tensorflow_gelu_rounds_its_constant_to_float32():
    """Why TensorFlow's float64 cells write GELU out."""
    installed("tensorflow")
    from scipy.special import erf

    tf = backends.load("tensorflow").framework()
    x = np.linspace(-4.0, 4.0, 101)
    exact = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    error = np.abs(tf.nn.gelu(tf.constant(x), approximate=False).numpy() - exact).max()
    assert 1e-10 < error < 1e-6


def test_tensorflow_pfor_loses_conv2d_explicit_paddings_in_the_kernels_gradient():
    """Why TensorFlow's pfor-vectorised Hessians (native, vmap_hvp) pad the images
    first: pfor's converter of Conv2DBackpropFilter drops explicit_paddings."""
    installed("tensorflow")
    tf = backends.load("tensorflow").framework()
    from bench_lib.backends.ops.tensorflow import PADDING

    rng = np.random.default_rng(4)
    x, kernel = tf.constant(rng.standard_normal((2, 6, 6, 2))), tf.constant(rng.standard_normal((3, 3, 2, 3)))

    def hessian(conv, use_pfor):
        with tf.GradientTape(persistent=not use_pfor) as outer:
            outer.watch(kernel)
            with tf.GradientTape() as inner:
                inner.watch(kernel)
                y = tf.reduce_sum(tf.tanh(conv(x, kernel)))
            g = inner.gradient(y, kernel)
        return outer.jacobian(g, kernel, experimental_use_pfor=use_pfor).numpy()

    explicit = lambda x, k: tf.nn.conv2d(x, k, 2, PADDING)  # noqa: E731
    padded = lambda x, k: tf.nn.conv2d(tf.pad(x, PADDING), k, 2, "VALID")  # noqa: E731
    with pytest.raises(tf.errors.InvalidArgumentError, match="explicit_paddings"):
        hessian(explicit, use_pfor=True)
    np.testing.assert_allclose(hessian(padded, use_pfor=True), hessian(explicit, use_pfor=False), rtol=1e-12)


def test_tensorflow_cannot_differentiate_the_gradient_of_a_slice_under_xla():
    """Why TensorFlow's compiled vmap_hvp Hessian of the ConvNet is a known failure: in
    an XLA context the gradient of tf.pad's gradient (a Slice) is XlaDynamicUpdateSlice,
    which has no gradient, and forward over reverse through tf.pad differentiates it.
    Traced without XLA the same HVP runs; reverse over reverse compiles."""
    installed("tensorflow")
    tf = backends.load("tensorflow").framework()
    from bench_lib.backends.ops.tensorflow import PADDING
    from bench_lib.backends.tensorflow import hvp_fwd_rev, hvp_rev_rev

    rng = np.random.default_rng(5)
    kernel = tf.constant(rng.standard_normal((3, 3, 2, 3)))
    image, tangent = (tf.constant(rng.standard_normal((2, 6, 6, 2))) for _ in range(2))

    def loss(x):
        return tf.reduce_sum(tf.tanh(tf.nn.conv2d(tf.pad(x, PADDING), kernel, 2, "VALID")))

    expected = hvp_rev_rev(tf, loss)(image, tangent).numpy()
    # autograph re-raises the LookupError as a StagingError
    with pytest.raises(Exception, match="gradient registry has no entry for: XlaDynamicUpdateSlice"):
        tf.function(hvp_fwd_rev(tf, loss), jit_compile=True)(image, tangent)
    np.testing.assert_allclose(tf.function(hvp_fwd_rev(tf, loss))(image, tangent).numpy(), expected, rtol=1e-12)
    compiled_rev_rev = tf.function(hvp_rev_rev(tf, loss), jit_compile=True)(image, tangent).numpy()
    np.testing.assert_allclose(compiled_rev_rev, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_jax_dot_product_attention_is_a_float32_computation_in_float64():
    """Why JAX's float64 cells run the explicit attention."""
    installed("jax")
    jax = backends.load("jax").framework()
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 8, 2, 8)) for _ in range(3))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(8)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    exact = np.einsum("bhqk,bkhd->bqhd", weights / weights.sum(-1, keepdims=True), v)
    fused = np.asarray(jax.nn.dot_product_attention(q, k, v))
    assert fused.dtype == np.float64
    assert 1e-12 < np.abs(fused - exact).max() < 1e-5


def test_torch_fused_attention_has_no_second_order_or_forward_mode_derivative():
    """Why PyTorch's HVP cells run the explicit attention (its gradients run SDPA)."""
    installed("torch")
    torch = backends.load("torch").framework()
    sdpa = torch.nn.functional.scaled_dot_product_attention
    q = torch.randn(2, 2, 4, 8, requires_grad=True)
    (g,) = torch.autograd.grad(sdpa(q, q, q).sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="derivative for .*scaled_dot_product.* is not implemented"):
        torch.autograd.grad(g.sum(), q)
    with pytest.raises(NotImplementedError, match="forward AD"):
        torch.func.jvp(lambda t: sdpa(t, t, t), (q.detach(),), (q.detach(),))


def test_torch_layer_norms_reverse_over_forward_derivative_is_wrong():
    """Why PyTorch's rev_fwd cells write LayerNorm out: the gradient of layer_norm's
    JVP differs from its forward-over-reverse HVP, which matches the explicit form."""
    installed("torch")
    torch = backends.load("torch").framework()
    functional = torch.nn.functional
    generator = torch.Generator().manual_seed(0)
    x, v, w = (torch.randn(3, 8, dtype=torch.float64, generator=generator) for _ in range(3))

    def explicit(t):
        centred = t - t.mean(-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(-1, keepdim=True) + 1e-5)

    def hvps(norm):
        f = lambda t: (torch.sin(norm(t)) * w).sum()  # noqa: E731
        fwd_rev = torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
        rev_fwd = torch.func.grad(lambda t: torch.func.jvp(f, (t,), (v,))[1])(x)
        return fwd_rev, rev_fwd

    fwd_rev, rev_fwd = hvps(lambda t: functional.layer_norm(t, (8,), eps=1e-5))
    explicit_fwd_rev, explicit_rev_fwd = hvps(explicit)
    torch.testing.assert_close(fwd_rev, explicit_fwd_rev)
    torch.testing.assert_close(explicit_rev_fwd, explicit_fwd_rev)
    assert (rev_fwd - fwd_rev).abs().max() > 1e-3 * fwd_rev.abs().max()


def test_torch_func_hessian_through_layer_norm_is_wrong():
    """Why PyTorch's native and jacrev_jacrev Hessians write LayerNorm out: torch.func's
    jacrev vmaps layer_norm's backward, and the (gain, weight) block that follows is
    wrong; a vmap of forward-over-reverse HVPs and torch.autograd.functional.hessian
    agree with the explicit form."""
    installed("torch")
    torch = backends.load("torch").framework()
    functional = torch.nn.functional
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, dtype=torch.float64, generator=generator)
    p = torch.randn(8 + 64, dtype=torch.float64, generator=generator)

    def explicit(z, gain):
        centred = z - z.mean(-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(-1, keepdim=True) + 1e-5) * gain

    def fused(z, gain):
        return functional.layer_norm(z, (8,), gain, None, 1e-5)

    def loss(norm):
        return lambda p: torch.sin(norm(x @ p[8:].reshape(8, 8), p[:8])).sum()

    right = torch.func.hessian(loss(explicit))(p)
    for hessian in (torch.func.hessian, lambda f: torch.func.jacrev(torch.func.jacrev(f))):
        wrong = hessian(loss(fused))(p)
        assert (wrong[:8, 8:] - right[:8, 8:]).abs().max() > 1e-2 * right.abs().max()
    hvp = lambda v: torch.func.jvp(torch.func.grad(loss(fused)), (p,), (v,))[1]  # noqa: E731
    torch.testing.assert_close(torch.func.vmap(hvp)(torch.eye(72, dtype=torch.float64)), right)
    torch.testing.assert_close(torch.autograd.functional.hessian(loss(fused), p, vectorize=True), right)


def test_jax_compiles_a_wide_vmap_of_reverse_over_reverse_through_a_mean_square_wrongly_in_float32():
    """Why JAX's float32 jacrev_jacrev Hessians write LayerNorm out in eager execution
    and are skipped compiled: under jax.jit, reverse over reverse vmapped over 64 or more
    cotangents through z * mean(z^2) (what LayerNorm's derivatives hold) is wrong in
    float32 on the CPU, right op by op, in float64 and 16 cotangents at a time; and
    jax.nn.standardize is itself jitted."""
    installed("jax")
    jax = backends.load("jax").framework()
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((8, 8, 16)), jnp.float32)
    w = jnp.asarray(rng.standard_normal(256) * 0.3, jnp.float32)
    basis = jnp.eye(256, dtype=jnp.float32)[:64]

    def spread(norm):
        """64 rows of the Hessian: one vmap of 64 cotangents against 4 vmaps of 16."""
        gradient = jax.grad(lambda w: jnp.sum(jnp.sin(norm(x @ w.reshape(16, 16)))))
        _, vjp = jax.vjp(gradient, w)
        rows = jax.vmap(lambda e: vjp(e)[0])
        wide, narrow = rows(basis), jnp.concatenate([rows(basis[i : i + 16]) for i in range(0, 64, 16)])
        return float(jnp.abs(wide - narrow).max() / jnp.abs(narrow).max())

    def scaled(z):
        return z * jnp.mean(jnp.square(z), axis=-1, keepdims=True)

    def explicit(z):
        centred = z - jnp.mean(z, axis=-1, keepdims=True)
        return centred * jax.lax.rsqrt(jnp.mean(jnp.square(centred), axis=-1, keepdims=True) + 1e-5)

    assert spread(jax.jit(scaled)) > 1e-1
    assert spread(scaled) < 1e-5
    assert spread(lambda z: jax.nn.standardize(z, axis=-1, epsilon=1e-5)) > 1e-2
    assert spread(jax.jit(explicit)) > 1e-2
    assert spread(explicit) < 1e-5
