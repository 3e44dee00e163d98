"""The Markdown summary of runs (cells by status with the reasons, rates above the
machine's peak, each backend's best time) and the README's headline table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench_lib.core import files
from bench_lib.core.names import neutral
from bench_lib.reporting import releases, tidy
from bench_lib.reporting.units import duration
from bench_lib.reporting.views import achieved_flops, best_per_backend, largest_cases


def status_counts(table: pd.DataFrame) -> pd.DataFrame:
    cells = tidy.as_objects(table[table.metric == "time"])
    return cells.groupby(["run_id", "status"]).size().rename("cells").reset_index()


def summary_markdown(table: pd.DataFrame, peaks: dict | None = None) -> str:
    """Cells by status (with the skip reasons), any rate above the machine's peak, and
    each backend's best time per workload."""
    lines = ["# Results summary", ""]
    counts = status_counts(table)
    for run_id, group in counts.groupby("run_id"):
        run = table[table.run_id == run_id].iloc[0]
        lines.append(f"Run `{_md(run_id)}`: commit {_md(run.commit[:8])} on {_md(run.machine)}, "
                     f"{run.date:%Y-%m-%d %H:%M} UTC; "
                     + ", ".join(f"{row.cells} {row.status}" for row in group.itertuples()))
    lines += run_notes(table)
    unstable = tidy.as_objects(table[table.unstable])
    reasons = tidy.as_objects(table[(table.metric == "time") & ~table.status.isin([tidy.OK, tidy.NOT_MEASURED])])
    if len(reasons):
        lines += ["", "| status | cells | reason |", "| --- | --- | --- |"]
        for (status, reason), group in reasons.groupby(["status", "reason"]):
            lines.append(f"| {status} | {len(group)} | {_md(reason)} |")
    contended = tidy.as_objects(table[table.contended])
    implausible = tidy.as_objects(table[table.implausible.notna()])
    lines += _listed(unstable, "is", "are", f"unstable (interquartile range above {tidy.UNSTABLE_SPREAD:.0%} of the "
                     "median: the samples fall apart)",
                     lambda row: f"{duration(row.value)} [{duration(row.q_25)}, {duration(row.q_75)}]")
    lines += _listed(contended, "was", "were", "contended (measured while the rest of the machine used more than "
                     f"{tidy.CONTENDED_SHARE:.0%} of the cell's cores; in a run from before that was measured, under "
                     f"a load average above the usable cores plus {tidy.LOAD_MARGIN:g})", _busy)
    lines += _listed(implausible, "is", "are", "implausible (contradicted by another time of the run)",
                     lambda row: f"{duration(row.value)}, {_md(row.implausible)}")
    if len(unstable) or len(contended) or len(implausible):
        lines += ["", "None of these is a best time, in the table below or the README's headline."]
    rates = achieved_flops(table, peaks)
    flagged = rates[rates.above_peak]
    if len(flagged):
        lines += ["", f"{len(flagged)} times imply more FLOP/s than the machine's measured peak: measurement errors, "
                  "not records:", ""]
        lines += [f"- {row.workload} {row.model} {row.size} {row.backend} {row.mode} {row.execution} {row.dtype}: "
                  f"{row.flops_per_second / 1e9:.1f} GFLOP/s > {row.peak / 1e9:.1f}" for row in flagged.itertuples()]
    if len(table):
        lines += ["", "Best time per backend, workload and case (asv's median [quartiles], mode, execution; "
                  "the fastest in bold; modes that compute every output exactly):", "", headline(table)]
    return "\n".join(lines) + "\n"


# How a run that did not run to its end (``run_state``) is described wherever its
# numbers are shown; a part is one asv run (a workload of a backend; a whole workload
# before runs were split by backend)
INCOMPLETE = {
    "running": "is still running: the cells it has finished so far",
    "interrupted": "was interrupted (SIGTERM, SIGINT or SIGHUP): only the parts it finished",
    "stopped": "stopped on an error: only the parts it finished",
    "killed": "was killed (its manifest never says how it ended): only the parts it finished",
    "missing outcomes": "has lost outcome files: its cells have no statuses or reasons",
}


def releases_markdown(table: pd.DataFrame, shown_changes: int = 12) -> str:
    """The release matrix's section of summary.md: per machine and backend, each history
    cell's time per release (a status where it has none), then the largest regressions
    and the largest improvements between consecutive releases beyond the noise.  Empty without release runs."""
    trend = releases.trend(table)
    if trend.empty:
        return ""
    parts = ["\n## Framework releases\n\nThe history preset in one environment per release (`make history`); "
             "asv's median per release.\n"]
    for (machine, backend), group in trend.groupby(["machine", "backend"], sort=False):
        versions = list(dict.fromkeys(group.release))
        parts.append(f"\n{_md(backend)} on {_md(machine)}:\n\n| cell | " + " | ".join(versions) + " |\n|---|"
                     + "---|" * len(versions) + "\n")
        for cell, rows in group.groupby("cell", sort=False):
            by_release = {r.release: (duration(r.value) if r.status == "ok" else r.status) for r in rows.itertuples()}
            parts.append(f"| {_md(cell)} | " + " | ".join(by_release.get(v, "") for v in versions) + " |\n")
    changed = releases.changes(trend)
    for verdict, largest_first in (("regression", False), ("improvement", True)):
        rows = changed[changed.verdict == verdict].sort_values("ratio", ascending=largest_first, kind="stable")
        if rows.empty:
            continue
        shown = f"the {shown_changes} largest of {len(rows)}" if len(rows) > shown_changes else f"all {len(rows)}"
        parts.append(f"\n{verdict.capitalize()}s between consecutive releases (beyond 1.1x, interquartile ranges "
                     f"apart; {shown}):\n\n| backend | cell | from | to | new / old |\n|---|---|---|---|---|\n")
        for r in rows.head(shown_changes).itertuples():
            parts.append(f"| {r.backend} | {_md(r.cell)} | {r.old} | {r.new} | {r.ratio:.2f}x |\n")
    return "".join(parts)


def run_notes(table: pd.DataFrame) -> list[str]:
    """A line for each run of ``table`` whose numbers need a word before they are read:
    one that did not run to its end, one that ran uncommitted code."""
    runs = table.groupby("run_id", observed=True).agg(
        state=("run_state", "first"), changed=("uncommitted", "first"), commit=("commit", "first"))
    notes = []
    for run_id, run in runs.iterrows():
        if run.state in INCOMPLETE:
            notes.append(f"Run `{_md(run_id)}` is incomplete: it {INCOMPLETE[run.state]}.")
        if pd.notna(run.changed):
            notes.append(f"Run `{_md(run_id)}` ran uncommitted changes to {_md(run.changed)}: its results are not "
                         f"commit {_md(run.commit[:8])}'s.")
    return notes


def headline(table: pd.DataFrame, largest_only: bool = False) -> str:
    """A Markdown table, one row per workload and case (with ``largest_only``, only
    each machine's largest case of each workload and model: ``largest_cases``), one
    column per backend: its best median time with asv's interquartile range, and the
    mode and execution that gave it; the fastest backend's in bold."""
    best = best_per_backend(table)
    if largest_only:
        best = largest_cases(best)
    if best.empty:
        return "(no verified times)"
    best = best.sort_values(["workload", "model", "n", "dtype", "precision", "K", "optimizer"])
    backends = [b for b in tidy.CATEGORIES["backend"] if b in set(best.backend)]
    lines = ["| workload | case | " + " | ".join(backends) + " |", "| --- | --- |" + " --- |" * len(backends)]
    keys = ["machine", "workload", "model", "size", "device", "dtype", "precision", "K", "optimizer"]
    several_machines = best.machine.nunique() > 1
    for key, group in best.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, key))
        case = f"{row['model']} {row['size']}, {row['device']}, {row['dtype']}"
        if row["precision"] != "strict":
            case += f" ({row['precision']})"
        if several_machines:
            case = f"{_md(row['machine'])}: {case}"
        if pd.notna(row["K"]):
            case += f", K={row['K']}, {row['optimizer']}"
        fastest = group.seconds.min()
        cells = []
        for backend in backends:
            found = group[group.backend == backend]
            if found.empty:
                cells.append("")
                continue
            best_row = found.loc[found.seconds.idxmin()]
            time_text = duration(best_row.seconds)
            if best_row.seconds == fastest:
                time_text = f"**{time_text}**"
            cells.append(f"{time_text} [{duration(best_row.q_25)}, {duration(best_row.q_75)}] "
                         f"{best_row['mode']} {best_row.execution}"
                         + (" (uncommitted code)" if pd.notna(best_row.uncommitted) else ""))
        lines.append(f"| {row['workload']} | {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _listed(rows: pd.DataFrame, is_: str, are: str, what: str, describe) -> list[str]:
    """A paragraph naming each of ``rows`` (times flagged ``what``), ``describe``d."""
    if rows.empty:
        return []
    count = f"1 time {is_}" if len(rows) == 1 else f"{len(rows)} times {are}"
    return ["", f"{count} {what}:", "", *(f"- {_cell(row)}: {describe(row)}" for row in rows.itertuples())]


def _cell(row) -> str:
    return f"{row.workload} {row.model} {row.size} {row.backend} {row.mode} {row.execution} {row.dtype}" + (
        f" K={row.K}" if pd.notna(row.K) else "")


def _md(text) -> str:
    """Text from results in Markdown: markup as entities (Markdown renders inline HTML),
    and no ``|`` to split a table cell."""
    return neutral(text, quotes=False).replace("|", "/")


def _busy(row) -> str:
    if pd.notna(row.interference):
        return f"{duration(row.value)}, others used {row.interference:.0%}"
    return f"{duration(row.value)}, load average {row.load_average:.2f} on {row.usable_cpus} cores"


README_BEGIN = "<!-- headline table: generated by `make reference` (`python -m bench_lib report --results reference --readme README.md`); do not edit -->"
README_END = "<!-- end of headline table -->"


def update_readme(readme, table: pd.DataFrame) -> None:
    """Replace the README's headline block with the table generated from ``table``."""
    path = Path(readme)
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path} has no headline block: put {README_BEGIN!r} and {README_END!r} where it goes")
    before, rest = text.split(README_BEGIN, 1)
    _, after = rest.split(README_END, 1)
    files.write_text(path, f"{before}{README_BEGIN}\n{readme_headline(table)}\n{README_END}{after}")


def readme_headline(table: pd.DataFrame) -> str:
    """The README's headline: each cell's latest measurement on each machine, float32,
    each machine's largest case of each workload and model (the front door; the
    report's summary has every case); its first line names the runs it comes from
    (``headline_runs`` reads them back)."""
    latest = tidy.latest_measurements(table)
    latest = latest[latest.dtype == "float32"]
    where = ", ".join(sorted({f"{_md(r.machine)} at commit {_md(r.commit[:8])}" for r in latest.itertuples()}))
    runs = " ".join(sorted(set(latest.run_id.astype(str))))
    notes = "".join(f"{note}\n" for note in run_notes(latest))
    return (f"Best time per backend, float32, the largest case of each workload and model (every case: "
            f"[reference/report/summary.md](reference/report/summary.md)), {where} (runs: {runs}):\n\n{notes}"
            + ("\n" if notes else "") + headline(latest, largest_only=True))


def headline_runs(readme) -> list[str]:
    """The run ids the README's headline table was generated from."""
    text = Path(readme).read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0] if README_BEGIN in text else ""
    return block.split("(runs: ", 1)[1].split(")", 1)[0].split() if "(runs: " in block else []
