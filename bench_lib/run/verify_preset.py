"""``python -m bench_lib verify``: cells checked against the float64 reference, one line
each, with the counts at the end."""

from __future__ import annotations

import time

from bench_lib.verification.prepare import prepare, verified_outcome
from bench_lib.core.outcome import Outcome
from bench_lib.backends.support import skip_reason


def verify_one(cell) -> Outcome:
    reason = skip_reason(cell)
    if reason:
        return Outcome(cell, "skipped", reason=reason, prepared_in="verify")
    try:
        prepared = prepare(**cell.as_dict())
    except Exception as error:  # a failure is reported as one, with what went wrong
        return Outcome(cell, "failed", message=f"{type(error).__name__}: {error}", prepared_in="verify")
    return verified_outcome(prepared, "verify")


def verify_cells(cells) -> int:
    """Print one line per cell and the counts; return 1 if any supported cell failed."""
    counts = {"verified": 0, "skipped": 0, "failed": 0}
    started = time.perf_counter()
    cells = list(cells)
    for index, cell in enumerate(cells, 1):
        outcome = verify_one(cell)
        counts[outcome.status] += 1
        prefix = f"[{index}/{len(cells)}] {outcome.status:8s} {cell.label:58s}"
        if outcome.status == "verified":
            worst = max(outcome.errors, key=lambda key: outcome.errors[key] / outcome.tolerances[key])
            print(
                f"{prefix} error {outcome.errors[worst]:.2e} <= {outcome.tolerances[worst]:.1e} "
                f"({worst}; margin {outcome.margin:.2f})",
                flush=True,
            )
        else:
            print(f"{prefix} {outcome.reason or outcome.message}", flush=True)
    print(
        f"{counts['verified']} verified, {counts['skipped']} skipped, {counts['failed']} failed "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return 1 if counts["failed"] else 0
