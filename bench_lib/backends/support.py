"""The support table: which cells a framework cannot run, and why.

One table drives the asv skips, ``verify``, the reports and the tests.  A rule matches a
cell when every field it names has one of the listed values; the first match wins.  A
cell no rule matches is supported, and must then pass verification: a failure there is
a failure, never turned into a skip.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bench_lib import backends
from bench_lib.backends.known_failures import KnownFailure, finding_for
from bench_lib.core.cells import Cell


class CellUnsupported(NotImplementedError):
    """A cell this framework or machine cannot run; the message is the reason.

    A NotImplementedError, so that asv records the cell as skipped."""


@dataclass(frozen=True)
class Rule:
    match: dict
    reason: str
    # A framework bug rather than a missing feature: the releases it was seen in, and
    # how its failure reads (backends/known_failures.py attempts such cells again).
    known: KnownFailure | None = None

    def matches(self, cell: Cell) -> bool:
        return all(getattr(cell, field) in values for field, values in self.match.items())


RULES = (
    # The precision axis first: these cells would time the strict ones again.
    Rule(
        {"precision": ("tf32",), "device": ("cpu",)},
        "tf32 is a float32 matmul format of NVIDIA GPUs' tensor cores: on the CPU every framework computes "
        "in full float32, so a tf32 cell would time the strict cell again",
    ),
    Rule(
        {"precision": ("tf32",), "dtype": ("float64",)},
        "tf32 changes float32 matmuls only: a float64 cell at tf32 would time the strict cell again",
    ),
    Rule(
        # Holds for tensorflow 2.21 on the CPU, for every model (re-check on an upgrade);
        # fwd_rev and rev_rev keep every input as a run-time parameter.
        {"backend": ("tensorflow",), "mode": ("rev_fwd",), "execution": ("compiled",)},
        "tf.function(jit_compile=True) of a GradientTape around a ForwardAccumulator: TensorFlow 2.21's XLA "
        "bridge turns inputs into compile-time constants wherever the loss broadcasts (x @ W + b, 1 - x): "
        "the mlp's module keeps 7 of its 14 inputs as parameters (1 of 14 with tensor arguments), "
        "Rosenbrock's 1 of 2, logistic regression's 3 of 6, the ConvNet's 7 of 14, the Transformer block's 16 of 32, "
        "and it recompiles for every new input value, so a timed call would return "
        "constants; prepare() rejects such a module. An explicit tf.broadcast_to of the biases avoids it "
        "for the mlp, but is not the loss users write",
        known=KnownFailure(
            "tf-xla-folds-rev-fwd-inputs", "tensorflow", ("2.21.0",), r"folded into compile-time constants",
        ),
    ),
    Rule(
        {"backend": ("jax",), "execution": ("graph",)},
        "JAX has no graph execution apart from jax.jit (see the compiled cells)",
    ),
    Rule(
        {"backend": ("torch",), "execution": ("graph",)},
        "PyTorch has no graph execution apart from torch.compile (see the compiled cells)",
    ),
    Rule(
        # Holds for torch 2.10.0 to 2.13.0 on the CPU; fixed in 2.14.1 (the release history's
        # findings); float32, Rosenbrock, the ConvNet and the Transformer block compile and pass.
        {"backend": ("torch",), "mode": ("rev_fwd",), "execution": ("compiled",), "model": ("mlp", "logreg"),
         "dtype": ("float64",)},
        "torch.compile (inductor, torch 2.10 to 2.13): the compiled grad-of-jvp kernel for a dense layer's loss (the mlp, "
        "logistic regression) in float64 crashes the process with a segmentation fault (it reads an "
        "aten._efficientzerotensor, pytorch/pytorch#197067); the torch.func.vjp form crashes the same way",
        known=KnownFailure(
            "torch-inductor-float64-jvp-segfault", "torch", ("2.10.0", "2.11.0", "2.12.1", "2.13.0"),
            r"exit status -11|segmentation fault|SIGSEGV", "pytorch/pytorch#197067",
        ),
    ),
    Rule(
        # Holds for jax 0.10.2 on the CPU (re-check on an upgrade; tests/test_models.py
        # shows the miscompilation, tests/test_hessian.py the cell failing with the rule
        # lifted).  Eager cells write LayerNorm out, op by op, and pass.
        {"workload": ("hessian",), "backend": ("jax",), "mode": ("jacrev_jacrev",), "execution": ("compiled",),
         "model": ("transformer",), "device": ("cpu",), "dtype": ("float32",)},
        "jax.jit (JAX 0.10.2, XLA on the CPU) miscompiles reverse over reverse vmapped over 64 or more cotangents "
        "in float32 where a value is scaled by a mean over its last axis, as LayerNorm does: the Transformer "
        "block's jacrev(jacrev) Hessian comes out 74% off the float64 reference, with jax.nn.standardize or "
        "LayerNorm written out (float64, eager execution, and 16 cotangents at a time are right)",
        known=KnownFailure(
            "jax-xla-wide-vmap-layernorm-float32", "jax", ("0.10.2",), r"error exceeds the float32 tolerance",
        ),
    ),
    Rule(
        {"workload": ("hessian",), "backend": ("tensorflow",), "mode": ("jacrev_jacrev",)},
        "TensorFlow's Hessian is reverse over reverse already: the outer tape's jacobian (vectorised by pfor) "
        "of the inner tape's gradient is the 'native' cell ('jacobian_while' without pfor), so a "
        "jacrev_jacrev cell would time the same program again",
    ),
    Rule(
        # Holds for tensorflow 2.21.0 on the CPU (tests/test_models.py shows it on one
        # padded convolution); rev_rev (the native cell) needs Slice's gradient only once.
        {"workload": ("hessian",), "backend": ("tensorflow",), "mode": ("vmap_hvp",), "execution": ("compiled",),
         "model": ("cnn",)},
        "tf.function(jit_compile=True) of tf.vectorized_map over forward-over-reverse HVPs of the ConvNet: pfor "
        "needs its images padded by tf.pad (it loses conv2d's explicit paddings), the gradient of tf.pad is a "
        "Slice, and in an XLA context TensorFlow 2.21 differentiates a Slice into XlaDynamicUpdateSlice, an op "
        "with no gradient of its own, which the ForwardAccumulator needs: tracing stops with 'gradient registry "
        "has no entry for: XlaDynamicUpdateSlice' (graph execution and the rev_rev native cell run)",
        known=KnownFailure(
            "tf-xla-slice-gradient-not-differentiable", "tensorflow", ("2.21.0",),
            r"no entry for: XlaDynamicUpdateSlice|No gradient defined for operation.*XlaDynamicUpdateSlice",
        ),
    ),
    Rule(
        # Holds for torch 2.10.0 to 2.15.0 (the release history's findings): dynamo stops
        # at the function autograd.functional passes on.
        {"workload": ("hessian",), "backend": ("torch",), "mode": ("autograd_vectorize", "autograd_loop"),
         "execution": ("compiled",)},
        "torch.compile(fullgraph=True) cannot trace torch.autograd.functional.hessian (torch 2.10 to 2.15: "
        "'Unsupported: Failed to convert args/kwargs to proxy' for the nested function it differentiates); "
        "the torch.func strategies compile whole",
        known=KnownFailure(
            "torch-compile-autograd-functional-hessian", "torch",
            ("2.10.0", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0"),
            r"Failed to convert args/kwargs to proxy",
        ),
    ),
)


def _missing_mode(cell: Cell) -> str | None:
    """A mode that is another framework's own function (the workload describes it) and
    that this backend does not implement.  Any other mode without a builder stays an
    error when the cell is built: a forgotten builder is never turned into a skip."""
    what = cell.spec.mode_descriptions.get(cell.mode)
    if what is None or (cell.workload, cell.mode) in backends.load(cell.backend).BUILDERS:
        return None
    return f"{cell.mode!r} is {what}, which {cell.backend} does not have"


def omitted_outputs(cell: Cell) -> dict[str, str]:
    """The outputs the cell's mode cannot give, each with the reason (the cell runs and
    is verified on the others)."""
    return dict(cell.spec.omitted_outputs.get(cell.mode, {}))


def static_reason(cell: Cell) -> str | None:
    """Why the framework cannot do this cell on any machine, from the table alone (and,
    for a known failure, what attempting it again found: see ``known_failure_reason``)."""
    for rule in RULES:
        if rule.matches(cell):
            if rule.known is None:
                return rule.reason
            reason = known_failure_reason(rule, cell)
            if reason:
                return reason
            # attempted, fixed or changed: an ordinary cell as far as this rule goes
    return _missing_mode(cell)


_attempting = False  # inside lifted_known_failures()


def known_failure_reason(rule: Rule, cell: Cell) -> str | None:
    """The rule's reason with the releases it was seen in; None while the cell is being
    attempted again, and where a finding for the installed release (or an older one that
    fixed it) says it verified (fixed) or failed otherwise (changed)."""
    if _attempting:
        return None
    finding = finding_for(rule.known, cell)
    if finding is not None and finding.result != "still failing":
        return None
    checked = f"; attempted again: still failing in {finding.framework} {finding.version}" if finding else ""
    return f"{rule.reason} [{rule.known.describe()}{checked}]"


def known_failure_of(cell: Cell) -> KnownFailure | None:
    """The known failure that decides the cell: the first rule it matches, if that rule
    is a framework bug."""
    rule = next((rule for rule in RULES if rule.matches(cell)), None)
    return rule.known if rule else None


@contextlib.contextmanager
def lifted_known_failures():
    """Within the block, rules that are known failures do not apply: the cells they
    skip are built and verified (``verify --known-failures`` attempts them so)."""
    global _attempting
    before, _attempting = _attempting, True
    try:
        yield
    finally:
        _attempting = before


def skip_reason(cell: Cell) -> str | None:
    """Why this cell cannot run here: the table, then a missing framework, then the
    machine (no GPU).  The last check imports the framework."""
    reason = static_reason(cell) or backends.not_installed_reason(cell.backend)
    if reason:
        return reason
    return backends.load(cell.backend).unavailable(cell)


def require_supported(cell: Cell) -> None:
    reason = skip_reason(cell)
    if reason:
        raise CellUnsupported(reason)
