"""The results folder, as the suite keeps it: asv's result files, the run's archived
copies (``history/<machine>/``, one per run and asv environment, so that a second run
at the same commit does not replace the first), the cells' outcome records
(``outcomes/``), and each run's manifest (``core/manifest.py``), which names a run's
copies and outcome files.  Result files are read with asv's own API (which checks their
format version), once per process while they are unchanged; a damaged one is an error
naming it, or is moved aside.  ``tidy.py`` makes the table of what this module reads.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from asv import results as asv_results

from bench_lib.core import files, manifest
from bench_lib.core.manifest import Environment

HISTORY = "history"  # results/history/<machine>/<commit>-<run>.asv-result: one file per run
OUTCOMES = "outcomes"
ARCHIVE_SUFFIX = ".asv-result"  # not ".json": asv's own loader must not read the archive twice


def archive_runs(results_dir, commit: str, run_id: str, since: float,
                 selected: dict[str, set[int]] | None = None) -> list[Environment]:
    """Keep a copy, under the run's id, of this run's part of each asv result file of
    ``commit`` written since ``since`` (a time.time()): asv names its file after the
    commit and the environment only, and merges every run of the commit into it, so the
    copy keeps the benchmarks that started since ``since`` (with those the run's
    earlier workloads kept), never another run's.  Where ``selected`` gives a
    benchmark's parameter combinations the run ran (``grid.indices``), the others'
    values, which asv kept from earlier runs, are left out (NaN: not run).  One
    ``Environment`` (for the run's manifest) per file: several when the run's asv
    configuration has several."""
    results_dir = Path(results_dir)
    sources = [path for path in sorted(results_dir.glob(f"*/{commit[:8]}-*.json")) if path.stat().st_mtime >= since]
    kept = []
    for source in sources:
        try:
            data = json.loads(source.read_text())
        except ValueError:  # asv could not write it whole: nothing of it to keep
            print(f"warning: {source} is not whole (asv could not write it): not archived", file=sys.stderr)
            continue
        env_name = data.get("env_name") or source.stem.split("-", 1)[1]
        name = f"{commit[:8]}-{run_id}" + ("" if len(sources) == 1 else f"--{env_name}")
        target = results_dir / HISTORY / source.parent.name / f"{name}{ARCHIVE_SUFFIX}"
        earlier = json.loads(target.read_text()) if target.is_file() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(target, json.dumps(_this_runs_part(data, since * 1000, earlier, selected or {})))
        kept.append(Environment(
            env_name, str(target.relative_to(results_dir)), str(Path(OUTCOMES) / f"{name}.jsonl")))
    return kept


def _this_runs_part(data: dict, since_ms: float, earlier: dict | None, selected: dict[str, set[int]]) -> dict:
    """asv's result file ``data`` with only the benchmarks that started at or after
    ``since_ms`` (and of those, the ``selected`` parameter combinations), and those of
    ``earlier`` (the run's archive so far) that it lacks."""
    column = data["result_columns"].index("started_at")
    results = {
        name: _only_combinations(row, selected.get(name)) for name, row in data["results"].items()
        if len(row) > column and row[column] is not None and row[column] >= since_ms
    }
    if earlier is not None:
        results = {**{name: row for name, row in earlier["results"].items() if name not in results}, **results}
    return {**data, "results": results}


def _only_combinations(row: list, kept: set[int] | None) -> list:
    """A benchmark's row of asv's file with the values of the combinations not in
    ``kept`` left out (NaN, asv's "not run"); all of them without ``kept``."""
    values = row[0]  # asv's first result column: one value per parameter combination
    if kept is None or not isinstance(values, list):
        return row
    return [[value if index in kept else float("nan") for index, value in enumerate(values)], *row[1:]]


def read_outcomes(path: Path | None, results_dir: Path | None = None, move_damaged: bool = False) -> list[dict]:
    """The outcome records of one run's outcome file (none for None), read as strictly
    as asv's files: a line cut short, or a record without its cell and status (a format
    this suite never wrote), is an error naming the file and the line; with
    ``move_damaged`` the file goes to ``results/damaged/outcomes/`` (said on stderr) and
    the run loads as a plain asv run, without statuses."""
    records = []
    if not (path and path.is_file()):
        return records
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not (isinstance(record, dict) and isinstance(record.get("cell"), dict) and "status" in record):
                raise ValueError("not an outcome record: it needs a cell and a status")
        except ValueError as error:
            problem = f"line {number}: {type(error).__name__}: {error}"
            results_dir = Path(results_dir) if results_dir is not None else path.parent.parent
            if not move_damaged:
                raise DamagedResultFile(
                    f"{path} is not a readable outcome file ({problem}); nothing was changed: repair or remove it, "
                    f"or pass --move-damaged to move it to {results_dir / DAMAGED / OUTCOMES}/ and go on"
                ) from None
            move_aside(path, results_dir / DAMAGED / OUTCOMES / f"{path.name}.damaged", "outcome", problem,
                       "; its run loads without the cells' statuses and reasons")
            return []
        records.append(record)
    return records


DAMAGED = "damaged"  # results/damaged/<machine>/<file>.damaged: files moved aside


def move_aside(path: Path, target: Path, kind: str, problem: str, then: str = "") -> None:
    """``--move-damaged``: a damaged file of the results folder goes to ``target`` (under
    ``results/damaged/``), said on stderr with the problem and what follows from it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    print(f"warning: moved the damaged {kind} file {path} to {target} ({problem}){then}", file=sys.stderr)


class DamagedResultFile(ValueError):
    """A result file asv cannot read (truncated, garbage, an unknown format version)."""


# path -> ((mtime, size), asv's Results): a run reads each result file once, however
# often it loads the folder (before asv, after each workload, for the report)
_read_cache: dict[Path, tuple] = {}


def _load_result(path: Path, results_dir: Path, move_damaged: bool, machine_name: str | None = None):
    """asv's reading of one result file.  A damaged one is an error naming it (asv
    itself logs a warning and leaves the commit out), or, with ``move_damaged``, is
    moved to ``results/damaged/`` (said on stderr) and None is returned."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _read_cache.get(path)
    if cached and cached[0] == version:
        return cached[1]
    try:
        result = asv_results.Results.load(str(path), machine_name=machine_name)
    except Exception as error:  # asv's UserError (format version), JSON errors, missing keys
        problem = f"{type(error).__name__}: {error}"
        if not move_damaged:
            raise DamagedResultFile(
                f"{path} is not a readable asv result file ({problem}); nothing was changed: repair or remove it, "
                f"or pass --move-damaged to move it to {Path(results_dir) / DAMAGED}/ and go on"
            ) from error
        move_aside(path, Path(results_dir) / DAMAGED / path.parent.name / f"{path.name}.damaged", "result", problem)
        if path.suffix == ".json" and restore_from_history(path, Path(results_dir)):
            return _load_result(path, results_dir, move_damaged, machine_name)
        return None
    _read_cache[path] = (version, result)
    return result


def restore_from_history(path: Path, results_dir: Path) -> list[Path]:
    """Rebuild asv's file of a commit and environment (``<machine>/<commit8>-<env>.json``)
    from the readable archived runs of that commit and environment (each holds its own
    run's benchmarks; a later run's replace an earlier's, as asv merges them), leaving
    out runs of uncommitted code, whose numbers asv's file never holds; say so.  The
    archives used (none: says where the runs are)."""
    commit, _, env_name = path.stem.partition("-")
    history = results_dir / HISTORY / path.parent.name
    uncommitted = {
        results_dir / environment.result
        for run in manifest.manifests(results_dir) if run.uncommitted for environment in run.environments
    }
    sources = []
    for archive in history.glob(f"{commit}-*{ARCHIVE_SUFFIX}"):
        try:
            data = json.loads(archive.read_text())
            if data.get("env_name") != env_name or archive in uncommitted:
                continue
            sources.append((first_start(asv_results.Results.load(str(archive))), archive, data))
        except Exception:  # a damaged archive is not a source
            continue
    merged, used = None, []
    for _, archive, data in sorted(sources, key=lambda source: source[0]):  # oldest run first
        merged = data if merged is None else {**data, "results": {**merged["results"], **data["results"]}}
        used.append(archive)
    if merged is None:
        print(f"no archived run of commit {commit} in environment {env_name} to rebuild {path} from; the runs this "
              f"results folder kept are in {history}/", file=sys.stderr)
        return []
    files.write_text(path, json.dumps(merged))
    print(f"rebuilt {path} from {len(used)} archived runs ({', '.join(p.name for p in used)}): asv's file holds the "
          f"commit's runs again; every run of the commit is kept in {history}/", file=sys.stderr)
    return used


def read_result(path: Path):
    """asv's Results of one result file (read once per process while it is unchanged)."""
    return _load_result(Path(path), Path(path).parent, move_damaged=False)


def check_readable(results_dir, move_damaged: bool = False) -> None:
    """Read every result file of ``results_dir`` once: a damaged one is an error naming
    it (or is moved aside), before anything writes there."""
    for run in runs(Path(results_dir), move_damaged):
        read_outcomes(run.outcomes, Path(results_dir), move_damaged)


@dataclass(frozen=True)
class KeptRun:
    """One run of one asv environment as the results folder keeps it: asv's Results of
    it, its machine and run id, its outcome file (None for a plain ``asv run``), how it
    stands (``manifest.RUN_STATES``) and when it started, as its manifest says (None
    without one)."""

    result: object
    machine: str
    run_id: str
    outcomes: Path | None
    state: str
    started: str | None = None


def _kept_runs(results_dir: Path) -> dict[Path, tuple[str, Path, str, str]]:
    """archived copy -> (run id, outcome file, state, start), as the runs' manifests name them."""
    return {
        results_dir / environment.result: (
            run.run_id, results_dir / environment.outcomes, manifest.state(run, results_dir), run.started)
        for run in manifest.manifests(results_dir) for environment in run.environments
    }


def _unlisted(path: Path, results_dir: Path) -> tuple[str, Path, str, None]:
    """The run id, outcome file and state of an archived copy that no manifest lists
    (kept before runs wrote manifests): ``<commit8>-<run id>.asv-result`` beside
    ``outcomes/<commit8>-<run id>.jsonl``, complete when that file is there."""
    commit, _, rest = path.name.partition("-")
    run_id = rest[: -len(ARCHIVE_SUFFIX)]
    outcomes = results_dir / OUTCOMES / f"{commit}-{run_id}.jsonl"
    return run_id, outcomes, "complete" if outcomes.is_file() else "missing outcomes", None


def runs(results_dir: Path, move_damaged: bool = False):
    """A ``KeptRun`` for every run kept: the archived copies, then what asv's files hold
    that no archived copy does (a plain ``asv run``, which writes no outcomes: another
    run's records at the same commit would describe other cells)."""
    kept = _kept_runs(results_dir)
    archived: dict[tuple, set] = {}  # (machine, commit, environment) -> {(benchmark, start)} the archives hold
    for path in sorted((results_dir / HISTORY).glob(f"*/*{ARCHIVE_SUFFIX}")):
        result = _load_result(path, results_dir, move_damaged)
        if result is None:
            continue
        run_id, outcomes, state, started = kept.get(path) or _unlisted(path, results_dir)
        archived.setdefault((path.parent.name, result.commit_hash, result.env_name), set()).update(_starts(result))
        yield KeptRun(result, path.parent.name, run_id, outcomes, state, started)
    for root, filename, machine_name in asv_results.iter_results_paths(str(results_dir)):
        result = _load_result(Path(root) / filename, results_dir, move_damaged, machine_name)
        if result is None:
            continue
        machine = result.params.get("machine")
        covered = archived.get((machine, result.commit_hash, result.env_name), set())
        plain = [key for key, started in _starts(result) if (key, started) not in covered]
        if plain:
            # the machine in the id: plain runs of two machines at one commit are two runs
            yield KeptRun(_only(result, plain), machine, f"{machine}-{result.commit_hash[:8]}-{result.env_name}",
                          None, "plain")


def _starts(result) -> list[tuple]:
    """(benchmark, when it started) for each benchmark of ``result``."""
    return [(key, result.started_at.get(key)) for key in result.get_all_result_keys()]


def _only(result, keys: list):
    """``result`` with the benchmarks ``keys`` only (a copy: results are cached)."""
    if len(keys) == len(result.get_all_result_keys()):
        return result
    part = copy.deepcopy(result)
    for key in set(part.get_all_result_keys()) - set(keys):
        part.remove_result(key)
    return part


def first_start(result) -> int:
    """When asv's earliest benchmark of ``result`` began, in ms (asv's ``date`` is the
    commit's, the same for every run of a commit)."""
    started = [t for t in result.started_at.values() if t]
    return min(started) if started else result.date
