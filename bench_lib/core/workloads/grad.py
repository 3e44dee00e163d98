"""``grad``: the loss and its gradient, the baseline every higher-order cost is read against.

Outputs: ``loss`` = f(p), a 0-d array; ``grad`` = the gradient of f at p, flat in the
flattening order of the parameters.  One mode, reverse (``rev``).  The reference is
exact: hand-written backprop for the mlp, closed forms for Rosenbrock and logistic
regression, HIPS autograd for the ConvNet and the Transformer block.
"""

import numpy as np

from bench_lib.core import reference
from bench_lib.core.workloads import Expected, Workload


def _reference(case, arrays):
    return {
        "loss": Expected(np.asarray(reference.loss(case, arrays))),
        "grad": Expected(reference.gradient(case, arrays)),
    }


WORKLOAD = Workload(
    name="grad",
    description="loss and gradient (the baseline)",
    modes=("rev",),
    # The Hessian's sizes too (XXS, XS, 100, 4000...), so that a Hessian has a cost in gradients
    sizes={
        "mlp": ("XXS", "XS", "S", "M", "L"),
        "rosenbrock": (100, 10**3, 4000, 10**5, 10**6),
        "logreg": (100, 1000, 4000, 10**5),
        "cnn": ("XS", "S", "M", "L"),
        "transformer": ("XS", "S", "M", "L"),
    },
    smallest={"mlp": "S", "rosenbrock": 10**3, "logreg": 1000, "cnn": "XS", "transformer": "XS"},
    gpu_sizes={"mlp": ("L",), "cnn": ("L",), "transformer": ("L",)},
    outputs={"loss": "value", "grad": "parameters"},
    reference=_reference,
)
