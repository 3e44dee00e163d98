"""The suite's results as one tidy pandas table: one row per run x cell x metric.

``load(results_dir)`` reads every run the results folder keeps (``store.py``): each
run's archived asv results, and what asv's result files hold that no such copy does (a
plain ``asv run``), with the outcome records that add what asv does not keep: skip
reasons, failure messages, framework versions and the conditions of the run.  The benchmark names and
parameters come from the suite's benchmark files (``suite/grid.py``).

Columns (``COLUMNS``): the run (machine, commit, date, run_id, run_state: whether it
ran to its end, ``manifest.RUN_STATES``; env_name, the framework versions), the cell
(workload, model, size, backend, mode, execution, device, dtype, precision, K,
optimizer: categoricals whose categories are the suite's vocabulary, ``CATEGORIES``),
the metric (``METRICS``: time, error, first_call, peak_memory, approximation_error),
value and unit, asv's spread (q_25, q_75 and the 99% interval ci_99_a, ci_99_b) and the
number of samples, ``unstable`` (a time whose spread is too wide for its median,
``UNSTABLE_SPREAD``), ``interference`` (the share of the cell's cores the rest of the
machine used while it was timed, over ``interference_seconds``), the 1-minute
``load_average`` it ran under with the ``usable_cpus``, and ``contended`` (above
``CONTENDED_SHARE``, over at least ``CONTENDED_MIN_SECONDS``; for a run from before that
measurement, a load average above the usable cores plus ``LOAD_MARGIN``),
``implausible`` (what contradicts the time within its run, ``plausibility.py``), the
status (``STATUSES``) with its reason (a peak memory is ``not_measured`` where the
backend's allocator hides it from the resident set, ``HIDDEN_BEFORE_ASKED``), the
verification ``margin`` (the largest error / tolerance over the cell's output blocks: at
most 1 when verified), and the conditions
(threads, cpu, and for GPU cells ``gpu.FIELDS``: the GPU, its memory and driver, the
CUDA and cuDNN the framework was built with), and the code that ran (the hash of the
``bench_lib`` the cell's process imported; the files that differed from the commit
when the run allowed uncommitted changes).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench_lib.core import gpu, manifest, outcome, workloads
from bench_lib.core import interference as interference_rule
from bench_lib.core.cells import BACKENDS, DEVICES, DISTRIBUTIONS, DTYPES, EXECUTIONS, PRECISIONS
from bench_lib.core.models import CASES, FORM_OPERATIONS, MODELS
from bench_lib.reporting import plausibility, store
from bench_lib.suite import grid

# asv benchmark method -> (metric, unit)
METRICS = {
    "time_": ("time", "seconds"),
    "track_error": ("error", "relative error"),
    "track_first_call": ("first_call", "seconds"),
    "track_peak_memory": ("peak_memory", "bytes"),
    "track_device_memory": ("device_memory", "bytes"),
    "track_approximation_error": ("approximation_error", "relative error"),
}
# The table's statuses are the outcomes' (``outcome.STATUSES``), with a verified cell
# shown as "ok" (it has a number), and one status of the table's own, "not_measured":
# the cell ran but this metric has no value there (peak memory off the CPU).  A skipped
# cell has the support table's reason; invalid (a wrong answer, never timed), failed,
# crashed, timeout and oom have what stopped the cell (see reconcile.py).
SHOWN_AS = {"verified": "ok"}  # an outcome's status -> the table's, where they differ
OK, NOT_MEASURED = SHOWN_AS["verified"], "not_measured"
COMPLETE = manifest.RUN_STATES[0]  # a run that ran to its end
# A cell's host memory that the resident set cannot show is not measured, with the
# backend's reason (``host_memory_hidden`` in its conditions).  TensorFlow's CPU cells
# recorded before the suite asked had their numbers read anyway, all with oneDNN's
# allocator on (TensorFlow's default on the CPUs that ran them): not shown either.
HIDDEN_BEFORE_ASKED = {
    ("tensorflow", "cpu"): (
        "not measured: recorded before the suite checked TensorFlow's oneDNN allocator, which keeps memory "
        "resident between calls, so the number read is a lower bound (docs/methodology.md#peak-memory)"
    ),
}
STATUSES = (*(SHOWN_AS.get(status, status) for status in outcome.STATUSES), NOT_MEASURED)
CATEGORIES = {
    "workload": workloads.WORKLOADS,
    "model": MODELS,
    "size": tuple(dict.fromkeys(str(size) for sizes in CASES.values() for size in sizes)),
    "backend": BACKENDS,
    "mode": tuple(dict.fromkeys(mode for modes in workloads.MODES.values() for mode in modes)),
    "execution": EXECUTIONS,
    "device": DEVICES,
    "dtype": DTYPES,
    "precision": PRECISIONS,
    "optimizer": tuple(
        dict.fromkeys(
            value
            for spec in workloads.REGISTRY.values()
            if "optimizer" in spec.parameters
            for value in spec.parameters["optimizer"].values
        )
    ),
    "metric": tuple(metric for metric, _ in METRICS.values()),
    "status": STATUSES,
    "run_state": manifest.RUN_STATES,
}
VERSIONS = tuple(name for names in DISTRIBUTIONS.values() for name in names)  # the frameworks' versions
# The conditions of a cell's run that the table keeps: from ``conditions.record()``, for
# GPU cells ``gpu.FIELDS``, and the form of each operation a framework has in more than
# one (the attention: fused or explicit).
FORMS = tuple(f"{operation}_form" for operation in FORM_OPERATIONS)
CONDITIONS = ("threads", "cpu", *gpu.FIELDS, *FORMS)
# The columns that name a cell.
CELL = ["workload", "model", "size", "backend", "mode", "execution", "device", "dtype", "precision", "K", "optimizer"]
COLUMNS = (
    "machine", "commit", "date", "run_id", "run_state", "env_name", *VERSIONS, *CELL,
    "metric", "value", "unit", "q_25", "q_75", "ci_99_a", "ci_99_b", "samples", "unstable", "interference",
    "interference_seconds", "load_average", "usable_cpus", "contended", "implausible", "status", "reason", "margin",
    *CONDITIONS, "bench_lib_hash", "uncommitted",
)
# A verified time whose interquartile range exceeds this fraction of its median is
# ``unstable``: its samples fall apart (into clusters, say), and the median alone means
# little (see docs/methodology.md).
UNSTABLE_SPREAD = 0.5
# A verified time measured while the rest of the machine used more than this share of
# the cell's cores, over long enough a span, is ``contended`` (core/interference.py).
CONTENDED_SHARE, CONTENDED_MIN_SECONDS = interference_rule.CONTENDED_SHARE, interference_rule.CONTENDED_MIN_SECONDS
LOAD_MARGIN = interference_rule.LOAD_MARGIN
# Cell parameters added to the suite after results were recorded, with the value the
# older results stand for (their asv grids lack the axis; their records, the field).
ADDED_PARAMETERS = {"precision": "strict"}


def _benchmarks(benchmark_dir) -> dict:
    """asv benchmark name -> (workload, model, param_names, metric, unit)."""
    found = {}
    for benchmark in grid.benchmarks(benchmark_dir):
        method = benchmark.name.rsplit(".", 1)[1]
        metric = next(value for prefix, value in METRICS.items() if method.startswith(prefix))
        names, _ = grid.suite_params(benchmark.workload, benchmark.model)
        found[benchmark.name] = (benchmark.workload, benchmark.model, names, *metric)
    return found


def _requirement_versions(result) -> dict:
    """The framework versions asv installed in the run's environment (a virtualenv of
    asv.matrix.conf.json); none for the existing environment of ``make bench``."""
    named = {
        installed: name
        for names in DISTRIBUTIONS.values() for name, installed_as in names.items() for installed in installed_as
    }
    return {named[name]: version for name, version in (result.params or {}).items() if name in named and version}


def _cell_key(cell: dict) -> tuple:
    keywords = tuple(tuple(pair) for pair in cell.get("keywords") or ())
    return (
        cell["workload"], cell["model"], str(cell["size"]), cell["backend"], cell["mode"], cell["execution"],
        cell["device"], cell["dtype"], cell.get("precision", ADDED_PARAMETERS["precision"]), keywords,
    )


def _started(result, benchmarks: dict | None = None, cases: set | None = None) -> int:
    """When the run began, in ms (asv's ``date`` is the commit's, the same for every run
    of a commit): the earliest start of the benchmarks of the run's own cases
    (``cases``: (workload, model) pairs) where they are known.  asv merges each run into
    the commit's file, so a run of part of a preset carries the starts of the parts
    before it too."""
    started = [
        t for key, t in result.started_at.items()
        if t and (not cases or key in benchmarks and benchmarks[key][:2] in cases)
    ]
    if not started and cases:
        return store.first_start(result)
    return min(started) if started else result.date


def load(
    results_dir="results", benchmark_dir="benchmarks", machine: str | None = None, commit: str | None = None,
    move_damaged: bool = False,
):
    """Every kept run of ``results_dir`` as one tidy DataFrame (see the module docstring);
    ``machine`` and ``commit`` (a prefix) narrow it.  Cells a run did not select are not
    rows; a run without outcome records (a plain ``asv run``) gives its numbers only, as
    asv keeps no way to tell a skip from a cell it did not select, and its framework
    versions from the requirements of asv's environment.  A result file asv cannot read
    is an error naming it (``DamagedResultFile``), never left out in silence; with
    ``move_damaged`` it is moved to ``results/damaged/`` and the rest loads."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no results folder {results_dir}")
    benchmarks = _benchmarks(benchmark_dir)
    rows = _Rows()
    for kept in store.runs(results_dir, move_damaged):
        result = kept.result
        if machine and kept.machine != machine or commit and not result.commit_hash.startswith(commit):
            continue
        read = store.read_outcomes(kept.outcomes, results_dir, move_damaged)
        records = list({_cell_key(record["cell"]): record for record in read}.values())
        cases = {(record["cell"]["workload"], record["cell"]["model"]) for record in records}
        # a run's date is its own start: its manifest's, else its first benchmark's
        started = (pd.Timestamp(kept.started) if kept.started
                   else pd.Timestamp(_started(result, benchmarks, cases), unit="ms", tz="UTC"))
        run = (kept.machine, result.commit_hash, kept.run_id, kept.state, result.env_name, started)
        rows.add_run(result, run, benchmarks, records)
    return rows.frame()


class _Rows:
    """The table's columns, gathered run by run and made a DataFrame once.  A cell's own
    columns come from its outcome record, one per cell and shared by its metrics; a plain
    asv run has none, and each number with a value stands for a cell of its own."""

    def __init__(self):
        self.cells: list[tuple] = []
        self.measured = {"cell": [], "metric": [], "unit": [], "value": [], "stats": []}
        self.grids: dict = {}  # most runs keep the same parameter grids

    def add_run(self, result, run: tuple, benchmarks: dict, records: list):
        versions = _requirement_versions(result)
        first = len(self.cells)
        self.cells += [(*run, *_record_columns(record, versions)) for record in records]
        by_case: dict[tuple, list] = {}
        for index, record in enumerate(records, start=first):
            cell = record["cell"]
            by_case.setdefault((cell["workload"], cell["model"]), []).append(
                (index, {**ADDED_PARAMETERS, **cell, **dict(cell.get("keywords") or ())}))
        matched: dict = {}  # (case, grid, names) -> [(grid index, cell index)]: a suite's metrics share them
        for key in result.get_all_result_keys():
            if key not in benchmarks:
                continue  # a benchmark the suite no longer has
            workload, model, names, metric, unit = benchmarks[key]
            params = result.get_result_params(key)
            names = _names_of(names, params)
            if names is None:
                continue  # a grid of another shape than any version of the suite had
            stored = self.grids.get(repr(params)) or self.grids.setdefault(repr(params), grid.Grid.from_stored(params))
            values = result.get_result_value(key, params)
            if records:
                match = (workload, model, id(stored), tuple(names))
                if match not in matched:
                    found = (
                        (stored.index([cell.get(name) for name in names]), index)
                        for index, cell in by_case.get((workload, model), ())
                    )
                    matched[match] = sorted(pair for pair in found if pair[0] is not None)
                pairs = matched[match]
            else:
                pairs = []
                for index, value in enumerate(values):
                    if value is not None and not math.isnan(value):
                        cell = {**ADDED_PARAMETERS, **dict(zip(names, stored.values(index), strict=True))}
                        self.cells.append((*run, *_plain_columns(workload, model, cell, versions)))
                        pairs.append((index, len(self.cells) - 1))
            stats = result.get_result_stats(key, params)
            for index, cell in pairs:
                self.measured["cell"].append(cell)
                self.measured["value"].append(values[index])
                self.measured["stats"].append(stats[index] or {})
            self.measured["metric"] += [metric] * len(pairs)
            self.measured["unit"] += [unit] * len(pairs)

    def frame(self) -> pd.DataFrame:
        measured = dict(self.measured)
        stats = measured.pop("stats")
        frame = pd.DataFrame(self.cells, columns=_CELL_COLUMNS).iloc[measured.pop("cell")].reset_index(drop=True)
        frame = frame.assign(
            **measured, **{column: [stat.get(field) for stat in stats] for column, field in _STATS.items()})
        frame["value"] = frame["value"].astype(float)
        return _typed(_not_measured(frame))


def _not_measured(frame: pd.DataFrame) -> pd.DataFrame:
    """A verified cell's metric without a number is ``not_measured`` (peak memory off
    the CPU); a peak memory that the backend's allocator hides is too, with the reason,
    whether the cell read no number or (before the suite asked) a lower bound."""
    hidden = frame.status.eq(OK) & frame.metric.eq("peak_memory") & frame.host_memory_hidden.notna()
    frame.loc[hidden, "value"] = math.nan
    frame.loc[hidden, "reason"] = frame.loc[hidden, "host_memory_hidden"]
    frame.loc[frame.status.eq(OK) & frame.value.isna(), "status"] = NOT_MEASURED
    return frame


def _names_of(names: list, params) -> list | None:
    """The parameter names of a result's grid: the suite's, less the parameters added
    after the result was recorded when its grid lacks them."""
    if len(params) == len(names):
        return names
    older = [name for name in names if name not in ADDED_PARAMETERS]
    return older if len(params) == len(older) else None


# tidy column -> field of asv's statistics of a number
_STATS = {"q_25": "q_25", "q_75": "q_75", "ci_99_a": "ci_99_a", "ci_99_b": "ci_99_b", "samples": "repeat"}
# the columns an outcome record gives, shared by its cell's metrics
_CELL_COLUMNS = ["machine", "commit", "run_id", "run_state", "env_name", "date", *VERSIONS, *CELL, "status", "reason",
                 *CONDITIONS, "bench_lib_hash", "uncommitted", "interference", "interference_seconds", "load_average",
                 "usable_cpus", "margin", "host_memory_hidden"]


def _record_columns(record: dict, versions: dict) -> tuple:
    """The versions the cell's process reported, else those of asv's environment."""
    cell, conditions = record["cell"], record.get("conditions") or {}
    keywords = dict(cell.get("keywords") or ())
    status = SHOWN_AS.get(record["status"], record["status"])
    reason = None if status == OK else record.get("reason") or record.get("message")
    return (
        *(conditions.get(name, versions.get(name)) for name in VERSIONS),
        cell["workload"], cell["model"], str(cell["size"]), cell["backend"], cell["mode"], cell["execution"],
        cell["device"], cell["dtype"], cell.get("precision", ADDED_PARAMETERS["precision"]), keywords.get("K"),
        keywords.get("optimizer"), status, reason, *(conditions.get(name) for name in CONDITIONS),
        conditions.get("bench_lib_hash"), conditions.get("uncommitted"), conditions.get("interference"),
        conditions.get("interference_seconds"), conditions.get("load_average_1min"), conditions.get("usable_cpus"),
        record.get("margin"),
        conditions["host_memory_hidden"] if "host_memory_hidden" in conditions
        else HIDDEN_BEFORE_ASKED.get((cell["backend"], cell["device"])),
    )


def _plain_columns(workload: str, model: str, cell: dict, versions: dict) -> tuple:
    mode = cell.get("mode", workloads.get(workload).modes[0])
    return (
        *(versions.get(name) for name in VERSIONS),
        workload, model, str(cell["size"]), cell["backend"], mode, cell["execution"], cell["device"],
        cell["dtype"], cell["precision"], cell.get("K"), cell.get("optimizer"),
        OK, None, *(None for _ in CONDITIONS), None, None, None, None, None, None, None,
        HIDDEN_BEFORE_ASKED.get((cell["backend"], cell["device"])),
    )


def latest_runs(table: pd.DataFrame, by=("machine",)) -> pd.DataFrame:
    """The rows of the latest run (by start) of each ``by`` group; ``by=()``: of the
    latest run overall."""
    started = table.groupby([*by, "run_id"], observed=True)["date"].min().reset_index()
    latest = started.loc[started.groupby(list(by))["date"].idxmax()] if by else started.nlargest(1, "date")
    return table[table.run_id.isin(set(latest.run_id))]


def latest_measurements(table: pd.DataFrame, by=("machine",)) -> pd.DataFrame:
    """Each cell's and metric's row from the latest run (by start) that measured it, per
    ``by`` group: the current state, also when a preset ran in parts (``bench
    --workloads``) or a run measured only some cells again."""
    ordered = table.sort_values("date", kind="stable")
    return ordered.drop_duplicates(subset=[*by, *CELL, "metric"], keep="last").sort_index()


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with plain object columns instead of categoricals (groupby, pivots and
    merges would otherwise make a row for every unused category)."""
    return frame.assign(**{
        column: frame[column].astype(object)
        for column in frame.columns if isinstance(frame[column].dtype, pd.CategoricalDtype)
    })


def from_rows(rows) -> pd.DataFrame:
    """The table of rows given as dicts (tests build tables this way); a row without a
    parameter added later stands for its value in older results, as when loading."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["run_state"] = frame["run_state"].astype(object).fillna(COMPLETE)
    for name, value in ADDED_PARAMETERS.items():
        frame[name] = frame[name].astype(object).fillna(value)
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    spread = (frame["q_75"].astype(float) - frame["q_25"].astype(float)) / frame["value"].astype(float)
    timed = (frame["metric"] == "time") & (frame["status"] == OK)
    interference, window = frame["interference"].astype(float), frame["interference_seconds"].astype(float)
    load, cpus = frame["load_average"].astype(float), frame["usable_cpus"].astype(float)
    frame = frame.assign(unstable=timed & (spread > UNSTABLE_SPREAD), interference=interference,
                         margin=frame["margin"].astype(float),
                         interference_seconds=window, load_average=load,
                         contended=timed & interference_rule.contended_where(interference, window, load, cpus))
    frame["implausible"] = plausibility.contradictions(frame)
    frame = frame[list(COLUMNS)].copy()
    for column, categories in CATEGORIES.items():
        frame[column] = pd.Categorical(frame[column], categories=categories)
    for column in ("K", "samples", "threads", "gpu_memory_bytes", "usable_cpus"):
        frame[column] = frame[column].astype("Int64")
    frame["unstable"] = frame["unstable"].astype(bool)
    frame["contended"] = frame["contended"].astype(bool)
    return frame


__all__ = [
    "CATEGORIES", "CELL", "COLUMNS", "METRICS", "STATUSES", "as_objects", "from_rows", "latest_measurements",
    "latest_runs", "load",
]
