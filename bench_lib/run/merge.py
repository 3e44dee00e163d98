"""``python -m bench_lib merge SOURCE... --into FOLDER``: the runs kept in several results
folders (the shards of one preset, each run on its own machine by ``bench --shard``)
gathered into one, as if they had been run one after the other there.

Each source run is copied whole: its manifest, its archived asv result
(``history/<machine>/``), its cells' outcomes, its log, and the machine's asv file and
measured peak where the target has none.  asv's file of each commit and environment
that gained a run is then rebuilt from every archived run of it
(``store.restore_from_history``), so asv's dashboard and ``compare`` see the merged
runs.  The release history's known-failure findings and ledger come along.  Nothing is copied when a cell would be
there twice (two shards that overlap, or a folder merged twice): the error names them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench_lib.backends import known_failures
from bench_lib.core import files, manifest
from bench_lib.core.cells import Cell
from bench_lib.reporting import store
from bench_lib.run import history


def merge(sources: list[Path], into: Path) -> int:
    into = Path(into)
    runs = []
    for source in map(Path, sources):
        if not (source / manifest.MANIFESTS).is_dir():
            raise ValueError(f"{source}: not a results folder (no {manifest.MANIFESTS}/ with run manifests)")
        if source.resolve() == into.resolve():
            raise ValueError(f"{source}: the folder merged into cannot be one of the sources")
        runs += [(source, run) for run in manifest.manifests(source) if run.status != "running"]
    kept = {run.run_id for run in manifest.manifests(into)} if (into / manifest.MANIFESTS).is_dir() else set()
    _refuse_a_cell_twice(runs, into)
    copied = []
    for source, run in runs:
        if run.run_id in kept:
            continue
        for environment in run.environments:
            for relative in (environment.result, environment.outcomes):
                _copy(source / relative, into / relative)
        for extra in (f"logs/{run.commit[:8]}-{run.run_id}.log", f"peaks/{run.machine}.peak",
                      f"{run.machine}/machine.json", "benchmarks.json"):
            if not (into / extra).exists() and (source / extra).exists():
                _copy(source / extra, into / extra)
        run.write(into)
        copied.append(run)
    # asv's file of each commit and environment that gained a run (the others stay as they are)
    for path in dict.fromkeys(into / run.machine / f"{run.commit[:8]}-{environment.name}.json"
                              for run in copied for environment in run.environments):
        store.restore_from_history(path, into)
    for source in map(Path, sources):
        _gather_release_records(source, into)
    print(f"merged {len(copied)} runs from {len(sources)} folders into {into} ({len(runs) - len(copied)} already "
          "there)")
    return 0


def _refuse_a_cell_twice(runs, into: Path) -> None:
    """Every cell once per machine, commit and environment, over the sources and what
    the target already holds (a cell timed again within one run counts once)."""
    seen: dict[tuple, str] = {}
    twice = []
    existing = [(into, run) for run in manifest.manifests(into)] if (into / manifest.MANIFESTS).is_dir() else []
    there = {run.run_id for _, run in existing}
    for folder, run in existing + [(source, run) for source, run in runs if run.run_id not in there]:
        for environment in run.environments:
            labels = {Cell(**record["cell"]).label for record in store.read_outcomes(folder / environment.outcomes)}
            for label in labels:
                key = (run.machine, run.commit, environment.name, label)
                if key in seen and seen[key] != run.run_id:
                    twice.append(f"{label} ({seen[key]} and {run.run_id})")
                seen.setdefault(key, run.run_id)
    if twice:
        raise ValueError(f"{len(twice)} cells would be there twice for one machine, commit and environment, e.g. "
                         f"{'; '.join(twice[:3])}: shards of one preset never overlap; nothing was merged")


def _gather_release_records(source: Path, into: Path) -> None:
    """What ``make history`` keeps beside the runs: the known-failure findings (a cell
    found again replaces its finding of that release) and the releases' ledger (lines
    not there yet)."""
    findings = known_failures.read(source / known_failures.FOLDER) if (source / known_failures.FOLDER).is_dir() else []
    if findings:
        known_failures.write(into / known_failures.FOLDER, findings)
    ledger = source / history.LEDGER
    if ledger.exists():
        there = (into / history.LEDGER).read_text().splitlines() if (into / history.LEDGER).exists() else []
        new = [line for line in ledger.read_text().splitlines() if line.strip() and line not in there]
        if new:
            files.write_text(into / history.LEDGER, "".join(f"{line}\n" for line in [*there, *new]))


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(source, partial)
    partial.replace(target)  # whole or not at all
