"""The report: one self-contained interactive HTML page (``interactive/``), the Markdown
summary with its PNG figures, and the table itself as CSV and Parquet; ``python -m
bench_lib report``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from bench_lib.core import files
from bench_lib.reporting import flops, interactive, releases, tidy
from bench_lib.reporting.figures import figures
from bench_lib.reporting.summary import releases_markdown, summary_markdown, update_readme


def write(table: pd.DataFrame, out_dir, peaks: dict | None = None, benchmark_dir="benchmarks") -> dict[str, Path]:
    """Write report.html (interactive), summary.md with its figures (figures/*.png),
    results.csv and results.parquet into ``out_dir``: the tables cover every run of
    ``table``, the figures each cell's latest measurement on each machine."""
    if table.empty:
        raise ValueError("no results to report")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file, not a folder for the report's files")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    own, _ = releases.split(table)  # the release matrix is the page's section of its own
    pictures = figures(tidy.latest_measurements(own))
    paths = {name: out / name for name in ("report.html", "summary.md", "results.csv", "results.parquet")}
    paths.update({f"figures/{p.name}.png": out / "figures" / f"{p.name}.png" for p in pictures})
    page = interactive.page(table, peaks, benchmark_dir)
    summary = summary_markdown(own, peaks) + releases_markdown(table) + "".join(
        f"\n![{p.title}](figures/{p.name}.png)\n" for p in pictures)
    # Every file is made whole under a temporary name, and renamed over the old ones
    # only when all are: a full disk leaves the previous report, never a mix or a file
    # cut short.
    with contextlib.ExitStack() as stack:
        partial = {name: stack.enter_context(files.replacing(path)) for name, path in paths.items()}
        table.to_csv(partial["results.csv"], index=False)
        table.to_parquet(partial["results.parquet"], index=False)
        partial["summary.md"].write_text(summary)
        partial["report.html"].write_text(page)
        for picture in pictures:
            partial[f"figures/{picture.name}.png"].write_bytes(picture.png)
    return paths


def run(results_dir: str, out_dir: str, machine: str | None, commit: str | None, benchmark_dir: str = "benchmarks",
        readme: str | None = None, move_damaged: bool = False) -> int:
    table = tidy.load(results_dir, benchmark_dir, machine=machine, commit=commit, move_damaged=move_damaged)
    if table.empty:
        what = ", ".join(f"{k} {v!r}" for k, v in (("machine", machine), ("commit", commit)) if v) or "any selection"
        known = tidy.load(results_dir, benchmark_dir)
        raise ValueError(
            f"no results in {results_dir} for {what}; machines: {sorted(set(known.machine))}, "
            f"commits: {sorted({c[:8] for c in known.commit})}"
        )
    if readme is not None:
        update_readme(readme, releases.split(table)[0])  # first: a README without its block writes nothing
    paths = write(table, out_dir, flops.load_peaks(results_dir, move_damaged), benchmark_dir)
    for path in paths.values():
        print(path)
    if readme is not None:
        print(f"{readme}: headline table updated")
    return 0
