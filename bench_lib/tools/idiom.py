"""``python -m bench_lib idiom``: the suite's layer against hand-written code.

For every cell of a preset that the hand-written modules (``bench_lib/tools/handwritten``)
cover (the mlp's; the ConvNet's and the Transformer block's grad and HVPs in float32), one worker process per backend prepares the suite's cell (verified, warmed up)
and builds the hand-written version of the same computation on the same inputs, checks
the hand-written answer against the suite's, and times the two interleaved in that
process (median of the per-round ratios suite / hand-written, with their spread).
The suite's layer should cost nothing: the target is a ratio of at most 1.05 for every
cell of 1 ms or more.
"""

from __future__ import annotations

import json
import sys

from bench_lib.core import presets
from bench_lib.backends.support import skip_reason
from bench_lib.tools.workers import WorkerFailed, stream

TARGET = 1.05


def cells_to_compare(preset: str, workloads=None, models=None):
    from bench_lib.tools import handwritten

    for cell in presets.get(preset).cells():
        if (
            (workloads is None or cell.workload in workloads) and (models is None or cell.model in models)
            and handwritten.covers(cell.backend, cell.workload, cell.mode, cell.device, cell.model, cell.dtype)
            and not skip_reason(cell)
        ):
            yield cell


def _measure(cell, rounds: int) -> dict:
    from bench_lib.tools import handwritten
    from bench_lib.verification.prepare import prepare
    from bench_lib.tools.timing import interleaved
    from bench_lib.verification.verify import elementwise_error
    from bench_lib.core.workloads import inputs

    prepared = prepare(**cell.as_dict())
    arrays = inputs(cell.workload, cell.model, cell.size, cell.seed)
    hand = handwritten.build(
        cell.backend, cell.workload, cell.mode, cell.execution, arrays, cell.dtype, cell.device,
        model=cell.model, case=cell.case, **cell.options,
    )
    # The same computation on the same inputs, or the comparison means nothing.
    suite_outputs, hand_outputs = prepared.to_numpy(prepared.call()), hand.to_numpy(hand.run())
    disagreement = max(elementwise_error(hand_outputs[key], suite_outputs[key]) for key in suite_outputs)
    if disagreement > 1e-4:
        raise AssertionError(f"the hand-written version disagrees with the suite's cell by {disagreement:.2e}")
    comparison = interleaved(prepared.call, hand.run, rounds=rounds)
    return {
        "suite": comparison.a_seconds, "hand": comparison.b_seconds, "ratio": comparison.ratio,
        "ratio_min": comparison.ratio_min, "ratio_max": comparison.ratio_max,
    }


def _worker() -> None:
    request = json.loads(sys.stdin.read())
    from bench_lib.core.cells import Cell

    for data in request["cells"]:
        cell = Cell(**data)
        try:
            row = _measure(cell, request["rounds"])
        except Exception as error:  # reported, and the other cells still run
            row = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps({"label": cell.label, **row}), flush=True)


def compare(preset: str, rounds: int = 7, min_ms: float = 1.0, workloads=None, models=None) -> int:
    by_backend: dict[str, list] = {}
    for cell in cells_to_compare(preset, workloads, models):
        by_backend.setdefault(cell.backend, []).append(cell.as_dict())
    total = sum(len(cells) for cells in by_backend.values())
    print(f"{total} cells of preset {preset!r}; suite / hand-written, interleaved, median of {rounds} rounds")
    print(f"{'cell':58s} {'suite ms':>9s} {'hand ms':>9s} {'ratio':>6s} {'min':>6s} {'max':>6s}")
    over, failed = [], 0
    for backend, cells in by_backend.items():
        try:
            for row in stream("bench_lib.tools.idiom", {"cells": cells, "rounds": rounds}):
                if "error" in row:
                    failed += 1
                    print(f"{row['label']:58s} failed: {row['error']}", flush=True)
                    continue
                flag = ""
                if row["suite"] * 1e3 >= min_ms and row["ratio"] > TARGET:
                    over.append(row["label"])
                    flag = f"  > {TARGET}"
                print(
                    f"{row['label']:58s} {row['suite'] * 1e3:9.3f} {row['hand'] * 1e3:9.3f} {row['ratio']:6.3f} "
                    f"{row['ratio_min']:6.3f} {row['ratio_max']:6.3f}{flag}",
                    flush=True,
                )
        except WorkerFailed as error:
            print(f"{backend}: {error}")
            failed += 1
    print(f"cells of {min_ms:g} ms or more above {TARGET}: {len(over)}; failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    _worker()
