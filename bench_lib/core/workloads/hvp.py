"""``hvp``: the Hessian-vector product H(p) v in three AD compositions.

Modes: ``rev_rev`` (reverse over reverse: the gradient of <grad f, v>), ``fwd_rev``
(forward over reverse: the JVP of grad f along v), ``rev_fwd`` (reverse over forward:
the gradient of the JVP of f along v).  Output: ``hvp``, flat in the flattening order
of the parameters.  Extra input: ``v``, shaped like the parameters, drawn after the data.

Reference: exact for Rosenbrock and logistic regression (closed forms) and for the
ConvNet and the Transformer block (HIPS autograd, reverse over reverse); for the mlp a
fourth-order central difference of the hand-written gradient along v, with a second
difference at twice the step as its error estimate.
"""

from bench_lib.core import reference
from bench_lib.core.workloads import Expected, Workload


def _reference(case, arrays):
    value, *alternative = reference.hvp(case, arrays, steps=(reference.FD_STEP, 2 * reference.FD_STEP))
    return {"hvp": Expected(value, alternative[0] if alternative else None)}


WORKLOAD = Workload(
    name="hvp",
    description="Hessian-vector product",
    modes=("rev_rev", "fwd_rev", "rev_fwd"),
    sizes={
        "mlp": ("S", "M", "L"),
        "rosenbrock": (10**3, 10**5, 10**6),
        "logreg": (1000, 10**5),
        "cnn": ("XS", "S", "M", "L"),
        "transformer": ("XS", "S", "M", "L"),
    },
    smallest={"mlp": "S", "rosenbrock": 10**3, "logreg": 1000, "cnn": "XS", "transformer": "XS"},
    gpu_sizes={"mlp": ("L",), "cnn": ("L",), "transformer": ("L",)},
    outputs={"hvp": "parameters"},
    reference=_reference,
    extra_inputs=("v",),
    shaped_like_params=("v",),
)
