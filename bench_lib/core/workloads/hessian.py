"""``hessian``: the dense Hessian H(p), an (n, n) matrix whose rows and columns follow
the flattening order of the parameters, by every construction strategy the frameworks
offer.

Modes:
- ``native``: the framework's own Hessian (``jax.hessian``, forward over reverse;
  ``torch.func.hessian``, forward over reverse; TensorFlow's ``tape.jacobian`` of a
  tape's gradient, reverse over reverse vectorised by pfor);
- ``jacrev_jacrev``: the Jacobian of the gradient, both in reverse mode;
- ``vmap_hvp``: the forward-over-reverse HVP vectorised over the identity basis;
- ``loop_hvp``: a Python loop of n forward-over-reverse HVPs, one row each, every HVP
  run in the cell's execution (the loop itself stays in Python: what users write first);
- ``autograd_vectorize`` / ``autograd_loop``: PyTorch's
  ``torch.autograd.functional.hessian`` with ``vectorize=True`` / ``False``;
- ``jacobian_while``: TensorFlow's ``tape.jacobian(..., experimental_use_pfor=False)``,
  a ``tf.while_loop`` over the gradient's entries.

Reference: the closed forms of Rosenbrock's tridiagonal Hessian and of logistic
regression's (``reference/logreg.py``); for the mlp the exact HVPs of a hand-written
float64 forward-over-reverse with every unit vector; for the ConvNet and the block
autograd's HVPs with every unit vector, in batches (``reference/networks.py``).  All
are exact up to float64 rounding, and checked symmetric.
"""

import numpy as np

from bench_lib.core import reference
from bench_lib.core.workloads import Expected, Workload

# Relative asymmetry a float64 reference may show: rounding only.
SYMMETRY_TOLERANCE = 1e-12

LOOP_MODES = ("loop_hvp", "autograd_loop", "jacobian_while")


def _reference(case, arrays):
    hessian = reference.hessian(case, arrays)
    asymmetry = np.abs(hessian - hessian.T).max() / max(np.abs(hessian).max(), 1.0)
    if asymmetry > SYMMETRY_TOLERANCE:
        raise AssertionError(f"the reference Hessian of {case} is not symmetric: {asymmetry:.2e}")
    return {"hessian": Expected(hessian)}


WORKLOAD = Workload(
    name="hessian",
    description="dense Hessian",
    modes=("native", "jacrev_jacrev", "vmap_hvp", "loop_hvp", "autograd_vectorize", "autograd_loop", "jacobian_while"),
    sizes={
        "mlp": ("XXS", "XS", "S"), "rosenbrock": (100, 1000, 4000), "logreg": (100, 1000, 4000), "cnn": ("XS",),
        "transformer": ("XS",),
    },
    smallest={"mlp": "XXS", "rosenbrock": 100, "logreg": 100, "cnn": "XS", "transformer": "XS"},
    outputs={"hessian": "matrix"},
    reference=_reference,
    gpu_sizes={"mlp": ("S",)},
    mode_descriptions={
        "autograd_vectorize": "torch.autograd.functional.hessian(vectorize=True)",
        "autograd_loop": "torch.autograd.functional.hessian(vectorize=False)",
        "jacobian_while": "TensorFlow's GradientTape.jacobian(experimental_use_pfor=False)",
    },
)
