"""``python -m bench_lib compare OLD NEW``: two runs cell by cell, with a verdict each.

Each side names a run: a run id, a commit (prefix: its latest run) or a machine (its
latest run), looked up in ``--results``; or a results folder: each cell's latest time
there, so that a preset run in parts (the committed reference) compares whole.  A
commit, machine or folder stands for the suite's own environment; a run of the release
matrix (``make history``) is named by its run id, as two releases are compared:
``compare <run of one release> <run of the next> --across-environments``.
"Latest" is by the runs' own starts, among the runs that ran to their end
(``run_state`` ``complete``), else among all.  Per cell,
the median times, their ratio new / old and a verdict (``VERDICTS``):

- ``faster`` / ``slower``: the ratio is beyond ``--factor`` (or its inverse) and the two
  runs' interquartile ranges do not overlap (a difference within the recorded noise is
  ``unchanged``);
- ``new`` / ``missing``: the cell is in one run only;
- ``newly failing`` / ``fixed``: verified on one side, failed on the other (failed,
  invalid, crashed, timeout or oom);
- ``contended``: verified on both sides, but either time is ``contended`` (measured
  while the rest of the machine was busy, ``tidy.CONTENDED_SHARE``) or ``implausible``
  (contradicted by another time of its run, ``plausibility.py``): neither faster nor
  slower;
- ``unstable``: verified on both sides, but either time is ``unstable`` (its spread is
  too wide for its median, ``tidy.UNSTABLE_SPREAD``): neither faster nor slower;
- ``not comparable``: the cell's framework version, CPU, thread count, GPU, GPU driver
  or CUDA/cuDNN build differ between the runs, or one of those a cell always records
  (its framework's versions, the CPU, the thread count; a GPU cell's GPU and driver) is
  unknown on either side (a plain ``asv run`` records none of them), unless
  ``--across-environments`` (to compare one commit under two framework versions, say: a
  view asv cannot give).  The matmul precision is part of the cell: a strict and a tf32
  cell are two cells.

The cells that changed come first (regressions: ``slower`` and ``newly failing``; then
improvements; then the undecided), then the counts: cells in one run only are counted,
not listed.  Two runs without a cell in common are an error naming what each holds.

A side that ran uncommitted code (``bench --allow-uncommitted``: its times are not its
commit's), or that did not run to its end (its ``run_state``: still running, killed,
interrupted), is named in a note above the counts.

The exit status is 1 when any cell is ``slower`` or ``newly failing``, so it can gate CI.
``--html PATH`` also writes the comparison as a page (``interactive/comparison.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench_lib.core import files
from bench_lib.reporting import releases, tidy
from bench_lib.reporting.summary import run_notes
from bench_lib.core.cells import DISTRIBUTIONS
from bench_lib.core.outcome import FAULTS

VERDICTS = ("faster", "slower", "unchanged", "contended", "unstable", "new", "missing", "newly failing", "fixed",
            "not comparable")
CELL = tidy.CELL
# What makes two measurements of a cell comparable: the same framework versions and
# conditions.  The GPU's model names it; its memory is not compared.
ENVIRONMENT = [*tidy.VERSIONS, *(name for name in tidy.CONDITIONS if name != "gpu_memory_bytes")]


def resolve(side: str, results_dir, benchmark_dir="benchmarks") -> pd.DataFrame:
    """The time rows of the run ``side`` names (see the module docstring)."""
    if Path(side).is_dir():
        table = releases.split(tidy.load(side, benchmark_dir))[0]
        return _latest(table, f"results folder {side}", by_cell=True)
    table = tidy.load(results_dir, benchmark_dir)
    for column, exact in (("run_id", True), ("commit", False), ("machine", True)):
        # a commit or a machine: its runs in the suite's own environment, not the release matrix's
        rows = table if column == "run_id" else releases.split(table)[0]
        values = rows[column].astype(str)
        chosen = rows[values == side] if exact else rows[values.str.startswith(side)]
        if len(chosen):
            return _latest(chosen, f"{column} {side!r}")
    raise ValueError(
        f"{side!r} names no run, commit, machine or results folder in {results_dir}; runs: "
        f"{sorted(set(table.run_id))}, commits: {sorted({c[:8] for c in table.commit})}, machines: {sorted(set(table.machine))}"
    )


def _latest(table: pd.DataFrame, what: str, by_cell: bool = False) -> pd.DataFrame:
    """The time rows of the latest run, or with ``by_cell`` each cell's latest."""
    if table.empty:
        raise ValueError(f"no results for {what}")
    complete = table[table.run_state == tidy.COMPLETE]
    chosen = complete if len(complete) else table
    times = chosen[chosen.metric == "time"]
    latest = tidy.latest_measurements(times, by=()) if by_cell else tidy.latest_runs(times, by=())
    return tidy.as_objects(latest)


def verdicts(old: pd.DataFrame, new: pd.DataFrame, factor: float = 1.1, across_environments: bool = False):
    """One row per cell of either run: old and new seconds, ratio and verdict."""
    if factor <= 1.0:
        raise ValueError(f"--factor must be above 1, got {factor}")
    keep = CELL + ["value", "q_25", "q_75", "unstable", "contended", "implausible", "status", "reason", *ENVIRONMENT]
    merged = old[keep].merge(new[keep], on=CELL, how="outer", suffixes=("_old", "_new"), indicator=True)
    merged["ratio"] = merged["value_new"] / merged["value_old"]
    merged["verdict"] = [_verdict(row, factor, across_environments) for row in merged.to_dict("records")]
    columns = CELL + ["value_old", "value_new", "ratio", "verdict", "status_old", "status_new"]
    return merged[columns].rename(columns={"value_old": "old_seconds", "value_new": "new_seconds"})


def _verdict(row: dict, factor: float, across_environments: bool) -> str:
    if row["_merge"] == "right_only":
        return "new"
    if row["_merge"] == "left_only":
        return "missing"
    old_ok, new_ok = row["status_old"] == tidy.OK, row["status_new"] == tidy.OK
    if row["status_old"] in FAULTS and new_ok:
        return "fixed"
    if old_ok and row["status_new"] in FAULTS:
        return "newly failing"
    if not (old_ok and new_ok):
        return "unchanged"  # skipped (or failed) on both sides
    if not across_environments and (
        any(pd.isna(row[f"{c}_old"]) or pd.isna(row[f"{c}_new"]) for c in recorded_conditions(row))
        or any(pd.notna(row[f"{c}_old"]) and pd.notna(row[f"{c}_new"]) and row[f"{c}_old"] != row[f"{c}_new"]
               for c in ENVIRONMENT)
    ):
        return "not comparable"  # unknown is not the same
    if any(_flagged(row[f"contended_{side}"]) or pd.notna(row[f"implausible_{side}"]) for side in ("old", "new")):
        return "contended"  # measured while the machine was busy, or contradicted within its run: decides nothing
    if any(_flagged(row[f"unstable_{side}"]) for side in ("old", "new")):
        return "unstable"  # a median that means little on either side decides nothing
    ratio = row["value_new"] / row["value_old"]
    overlap = row["q_25_new"] <= row["q_75_old"] and row["q_25_old"] <= row["q_75_new"]
    if ratio > factor and not overlap:
        return "slower"
    if ratio < 1.0 / factor and not overlap:
        return "faster"
    return "unchanged"


def _holds(side: pd.DataFrame) -> str:
    """What one side's runs hold, in a few words."""
    runs = sorted(set(side.run_id))
    return (f"{'run' if len(runs) == 1 else 'runs'} {', '.join(runs)}: {len(side)} cells of "
            f"{', '.join(sorted(set(side.workload)))} on {', '.join(sorted(set(side.machine)))} at commit "
            f"{', '.join(sorted({commit[:8] for commit in side.commit}))}")


def _flagged(value) -> bool:
    return pd.notna(value) and bool(value)


def recorded_conditions(cell: dict) -> list[str]:
    """The conditions every run of the suite records for this cell: its framework's
    versions, the CPU and the thread count, and on a GPU the GPU and its driver."""
    names = [*DISTRIBUTIONS[cell["backend"]], "cpu", "threads"]
    return names + (["gpu", "gpu_driver"] if cell["device"] == "gpu" else [])


# What is listed cell by cell, in this order; "new" and "missing" are only counted.
SECTIONS = (
    ("regressions", ("slower", "newly failing")),
    ("improvements", ("faster", "fixed")),
    ("undecided", ("contended", "unstable", "not comparable")),
)


def run(old: str, new: str, results_dir: str, factor: float, across_environments: bool, benchmark_dir="benchmarks",
        html_path: str | None = None) -> int:
    old_run, new_run = resolve(old, results_dir, benchmark_dir), resolve(new, results_dir, benchmark_dir)
    table = verdicts(old_run, new_run, factor, across_environments)
    if table.verdict.isin(["new", "missing"]).all():
        raise ValueError(f"{old!r} ({_holds(old_run)}) and {new!r} ({_holds(new_run)}) have no cell in common: "
                         "nothing to compare")
    listed = False
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
        for title, shown_verdicts in SECTIONS:
            shown = table[table.verdict.isin(shown_verdicts)]
            if len(shown):
                print(f"{title} ({len(shown)}):\n{shown.to_string(index=False)}\n")
                listed = True
    if not listed:
        print("every cell unchanged")
    notes = [f"note ({side}): {note.replace('`', '')}"
             for side, frame in (("old", old_run), ("new", new_run))
             for note in run_notes(frame)]  # a run of uncommitted code, a run that did not end
    for note in notes:
        print(note)
    counts = table.verdict.value_counts()
    counted = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    print(counted)
    if html_path is not None:
        from bench_lib.reporting.interactive import comparison

        text = comparison.page(table, SECTIONS, counted, f"{new} against {old}", notes)
        files.write_text(html_path, text)
        print(f"page: {html_path}")
    return 1 if counts.get("slower", 0) or counts.get("newly failing", 0) else 0
