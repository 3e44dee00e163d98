"""The report: one self-contained HTML page (tables and embedded figures), the Markdown
summary, and the table itself as CSV and Parquet; ``python -m bench_lib report``."""

from __future__ import annotations

import contextlib
import html
from pathlib import Path

import pandas as pd

from bench_lib.core import files
from bench_lib.reporting import flops, tidy
from bench_lib.reporting.figures import figures
from bench_lib.reporting.summary import summary_markdown, update_readme
from bench_lib.reporting.views import achieved_flops, best_per_backend, ratios_to_grad, runs, side_by_side, slopes


def _table_html(frame: pd.DataFrame, title: str, limit: int = 200) -> str:
    shown = frame.head(limit)
    more = f"<p>{len(frame) - limit} more rows in the CSV.</p>" if len(frame) > limit else ""
    return f"<h2>{html.escape(title)}</h2>" + shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="") + more


def write(table: pd.DataFrame, out_dir, peaks: dict | None = None) -> dict[str, Path]:
    """Write report.html, summary.md, results.csv and results.parquet into ``out_dir``:
    the tables cover every run of ``table``, the figures each cell's latest measurement
    on each machine."""
    if table.empty:
        raise ValueError("no results to report")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file, not a folder for the report's files")
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("report.html", "summary.md", "results.csv", "results.parquet")}
    rates = achieved_flops(table, peaks)
    sections = [
        _table_html(runs(table), "Runs (cells by status; a run that did not run to its end says how it ended)"),
        *figures(tidy.latest_measurements(table)),
        _table_html(best_per_backend(table), "Best mode and execution per backend"),
        _table_html(side_by_side(table), "Backends side by side (time, and over the fastest)"),
        _table_html(ratios_to_grad(table).dropna(subset=["ratio_to_grad"]), "Cost in gradients"),
        _table_html(slopes(table).dropna(subset=["slope"]), "Slopes of time against n (Hessian) and K (unrolled)"),
        _table_html(rates.sort_values("flops_per_second", ascending=False),
                    "Achieved FLOP/s (every model but Rosenbrock; the count is in bench_lib/reporting/flops.py) against the "
                    "machine's measured peak"),
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Higher-order AD benchmarks: report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style></head><body>"
        "<h1>Higher-order AD benchmarks</h1>"
        "<p>asv's dashboard (per commit): <a href='../../html/index.html'>html/index.html</a>. "
        "The full table: <a href='results.csv'>results.csv</a>, <a href='results.parquet'>results.parquet</a>.</p>"
        + "".join(sections) + "</body></html>"
    )
    # Every file is made whole under a temporary name, and renamed over the old ones
    # only when all four are: a full disk leaves the previous report, never a mix or a
    # file cut short.
    with contextlib.ExitStack() as stack:
        partial = {name: stack.enter_context(files.replacing(path)) for name, path in paths.items()}
        table.to_csv(partial["results.csv"], index=False)
        table.to_parquet(partial["results.parquet"], index=False)
        partial["summary.md"].write_text(summary_markdown(table, peaks))
        partial["report.html"].write_text(page)
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
        update_readme(readme, table)  # first: a README without its block writes nothing
    paths = write(table, out_dir, flops.load_peaks(results_dir, move_damaged))
    for path in paths.values():
        print(path)
    if readme is not None:
        print(f"{readme}: headline table updated")
    return 0
