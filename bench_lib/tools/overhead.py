"""``python -m bench_lib overhead``: the harness's share of asv's numbers.

For every timed cell of a preset whose median in the last asv run is at least
``--min-ms``, a worker process (one per backend, so that only one framework is loaded)
sets the cell up through asv's own runner (``asv_runner``'s ``do_setup`` and ``do_run``,
exactly what an asv benchmark process does) and alternates asv's timing with a tight
loop over the same prepared callable.  The in-process ratio is the harness's share;
the asv run's median, taken in another process, is printed beside it for comparison.
Run it on a quiet machine after the asv run whose results it reads.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from asv.config import Config

from bench_lib.core import presets
from bench_lib.suite import grid
from bench_lib.suite.harness import TimeSuite
from bench_lib.backends.support import static_reason
from bench_lib.tools.timing import batch_mean, calls_per_batch
from bench_lib.tools.workers import WorkerFailed, stream


def latest_results_file(results_dir: Path, commit: str) -> Path:
    files = list(results_dir.glob(f"*/{commit[:8]}-*.json"))
    if not files:
        raise SystemExit(f"no asv results for commit {commit[:8]} under {results_dir}; run `make bench` first")
    return max(files, key=lambda p: p.stat().st_mtime)


def timing_benchmark(cell, benchmarks: list) -> tuple[str, int]:
    """asv's name of the cell's timing benchmark and the cell's parameter index in it."""
    benchmark = next(b for b in benchmarks if b.covers(cell) and ".time_" in b.name)
    return benchmark.name, benchmark.index(cell)


def asv_run_median(results: dict, name: str, index: int) -> tuple[float, float, float] | None:
    """asv's median of one cell in a results file with its interquartile range (q25, q75);
    None for a failed (null) or skipped (NaN) cell."""
    entry = results["results"].get(name)
    if entry is None:
        return None
    columns = results["result_columns"]

    def column(key):
        values = entry[columns.index(key)] if key in columns else None
        return values[index] if values else None

    value = column("result")
    if value is None or value != value:
        return None
    return value, column("stats_q_25") or value, column("stats_q_75") or value


def tight_loop_median(call, seconds: float = 1.0, batches: int = 5) -> float:
    """Median over batches of the mean time per call of back-to-back calls, with the
    garbage collector off during a batch as asv (through timeit) has it."""
    calls = calls_per_batch(call, seconds / batches)
    return statistics.median(batch_mean(call, calls) for _ in range(batches))


class _NothingSuite:
    """The timing attributes and setup of every TimeSuite, around a callable that does
    nothing: what asv reports for it is the harness's cost per timed call."""

    warmup_time, repeat, rounds = TimeSuite.warmup_time, TimeSuite.repeat, TimeSuite.rounds

    def setup(self):
        self.prepared = lambda: None

    def time_nothing(self):
        self.prepared()


def harness_floor() -> float:
    """asv_runner's median for _NothingSuite, in seconds per call."""
    from asv_runner.benchmarks.time import TimeBenchmark

    suite = _NothingSuite()
    benchmark = TimeBenchmark("overhead.nothing", suite.time_nothing, [suite.time_nothing, suite])
    benchmark.do_setup()
    return statistics.median(benchmark.do_run()["samples"])


def measure_in_process(benchmark_dir: str, name: str, index: int, rounds: int) -> dict:
    """asv's timing (through asv_runner) and a tight loop, alternated in this process."""
    from asv_runner.discovery import get_benchmark_from_name

    benchmark = get_benchmark_from_name(benchmark_dir, f"{name}-{index}")
    benchmark.set_cache(None)
    if benchmark.do_setup():
        return {"skipped": True}
    call = benchmark.func.__self__.prepared.call
    # asv's own code path with a shorter window than a real run (1 s, not 2 s, of
    # samples; 0.2 s more warm-up, the cell being warm already), so that the default
    # preset is measured within 5 minutes; the per-call cost it shows is the same.
    benchmark.repeat, benchmark.warmup_time = (5, 1000, 1.0), 0.2
    asv_medians, loop_medians = [], []
    for _ in range(rounds):
        asv_medians.append(statistics.median(benchmark.do_run()["samples"]))
        loop_medians.append(tight_loop_median(call, seconds=0.5))
    benchmark.do_teardown()
    return {"asv": statistics.median(asv_medians), "loop": statistics.median(loop_medians)}


# Above this the harness's microseconds per call are lost in the call, and rounds of
# calls that take seconds (Hessians by loops of HVPs) would take minutes.
MAX_MS = 1000.0


def compare(preset: str, config: str, commit: str, min_ms: float, rounds: int = 2) -> int:
    settings = Config.load(config)
    benchmark_dir = str(Path(settings.benchmark_dir).resolve())
    path = latest_results_file(Path(settings.results_dir), commit)
    try:
        results = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not a readable asv result file ({error})") from error
    names = grid.benchmarks(benchmark_dir)
    work: dict[str, list] = {}
    for cell in presets.get(preset).cells():
        if static_reason(cell):
            continue
        name, index = timing_benchmark(cell, names)
        measured = asv_run_median(results, name, index)
        if measured is not None and min_ms <= measured[0] * 1e3 <= MAX_MS:
            work.setdefault(cell.backend, []).append((cell.label, name, index, measured))

    total = sum(len(items) for items in work.values())
    if total == 0:  # a deviation over no cell would read as a perfect score
        raise ValueError(
            f"no cell of preset {preset!r} took {min_ms:g} ms to {MAX_MS:g} ms in the asv run of commit {commit[:8]}: "
            "nothing to measure (lower --min-ms, or run the preset at this commit first)"
        )
    print(
        f"{total} cells of {min_ms:g} ms to {MAX_MS:g} ms in the asv run; one process per backend, {rounds} rounds each"
    )
    print(
        f"{'cell':62s} {'asv run (q25-q75)':>25s} {'asv here':>9s} {'loop':>9s} {'here/loop':>9s} {'run/loop':>9s}  (ms)"
    )
    worst, done = 0.0, 0
    for backend, items in work.items():
        request = {"benchmark_dir": benchmark_dir, "rounds": rounds, "items": items}
        try:
            for row in stream("bench_lib.tools.overhead", request):
                done += 1
                label = f"[{done}/{total}] {row['label']}"
                if row.get("skipped"):
                    print(f"{label:62s} skipped", flush=True)
                    continue
                ratio = row["asv"] / row["loop"]
                worst = max(worst, abs(ratio - 1))
                run, q25, q75 = row["run"]
                spread = f"{run * 1e3:.3f} ({q25 * 1e3:.3f}-{q75 * 1e3:.3f})"
                print(
                    f"{label:62s} {spread:>25s} {row['asv'] * 1e3:9.3f} "
                    f"{row['loop'] * 1e3:9.3f} {ratio:9.3f} {run / row['loop']:9.3f}",
                    flush=True,
                )
        except WorkerFailed as error:
            print(f"{backend}: {error}")
            return 1
    print(f"largest deviation of asv's timing from the tight loop in the same process: {worst:.1%}")
    floor = harness_floor()
    print(f"asv's median for a callable that does nothing: {floor * 1e6:.2f} us, {floor / (min_ms / 1e3):.3%} of {min_ms:g} ms")
    return 0


def _worker() -> None:
    request = json.loads(sys.stdin.read())
    for label, name, index, run_median in request["items"]:
        row = measure_in_process(request["benchmark_dir"], name, index, request["rounds"])
        print(json.dumps({"label": label, "run": run_median, **row}), flush=True)


if __name__ == "__main__":
    _worker()
