"""``python -m bench_lib verify``: every supported cell at the smallest sizes, checked
against the float64 reference, on the CPU."""

from __future__ import annotations

from .api import prepare
from .presets import Selection
from .support import skip_reason
from .workloads import SMALLEST


def smallest_cells(backends, models, dtypes):
    """Every CPU cell of the given backends, models and dtypes at the smallest sizes."""
    selection = Selection(
        models=tuple(models), sizes=tuple(SMALLEST.values()), backends=tuple(backends),
        devices=("cpu",), dtypes=tuple(dtypes),
    )
    return list(selection.cells())


def verify_cells(backends, models, dtypes) -> int:
    """Print one line per cell; return 1 if any supported cell failed, else 0."""
    failed = 0
    for cell in smallest_cells(backends, models, dtypes):
        reason = skip_reason(cell)
        if reason:
            print(f"skip  {cell.label:58s} {reason}", flush=True)
            continue
        try:
            prepared = prepare(**cell.as_dict())
        except Exception as error:  # a failure is reported as one, with what went wrong
            failed += 1
            print(f"FAIL  {cell.label:58s} {type(error).__name__}: {error}", flush=True)
            continue
        verdict = prepared.verdict
        print(f"pass  {cell.label:58s} error {verdict.error:.2e} <= {verdict.tolerance:g}", flush=True)
    print(f"{failed} failed" if failed else "all supported cells match the reference")
    return 1 if failed else 0
