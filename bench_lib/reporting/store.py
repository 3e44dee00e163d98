"""The results folder, as the suite keeps it: asv's result files, the run's archived
copies (``history/<machine>/``, one per run and asv environment, so that a second run
at the same commit does not replace the first), the cells' outcome records
(``outcomes/``), and each run's manifest (``core/manifest.py``), which names a run's
copies and outcome files.  Result files are read with asv's own API (which checks their
format version), once per process while they are unchanged; a damaged one is an error
naming it, or is moved aside.  ``tidy.py`` makes the table of what this module reads.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from asv import results as asv_results

from bench_lib.core import files, manifest
from bench_lib.core.manifest import Environment

HISTORY = "history"  # results/history/<machine>/<commit>-<run>.asv-result: one file per run
OUTCOMES = "outcomes"
ARCHIVE_SUFFIX = ".asv-result"  # not ".json": asv's own loader must not read the archive twice


def archive_runs(results_dir, commit: str, run_id: str, since: float) -> list[Environment]:
    """Keep a copy, under the run's id, of each asv result file of ``commit`` written
    since ``since`` (a time.time()): asv names its file after the commit and the
    environment only, so the next run at the same commit would replace it.  One
    ``Environment`` (for the run's manifest) per file: several when the run's asv
    configuration has several environments."""
    results_dir = Path(results_dir)
    sources = [path for path in sorted(results_dir.glob(f"*/{commit[:8]}-*.json")) if path.stat().st_mtime >= since]
    kept = []
    for source in sources:
        try:
            env_name = json.loads(source.read_text()).get("env_name") or source.stem.split("-", 1)[1]
        except ValueError:  # asv could not write it whole: nothing of it to keep
            print(f"warning: {source} is not whole (asv could not write it): not archived", file=sys.stderr)
            continue
        name = f"{commit[:8]}-{run_id}" + ("" if len(sources) == 1 else f"--{env_name}")
        target = results_dir / HISTORY / source.parent.name / f"{name}{ARCHIVE_SUFFIX}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with files.replacing(target) as partial:
            shutil.copyfile(source, partial)
        kept.append(Environment(
            env_name, str(target.relative_to(results_dir)), str(Path(OUTCOMES) / f"{name}.jsonl")))
    return kept


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


def restore_from_history(path: Path, results_dir: Path) -> Path | None:
    """Put back asv's file of a commit and environment (``<machine>/<commit8>-<env>.json``)
    from the newest readable archived copy of that commit and environment, which holds
    every run of it up to that one, and say so; None (and where the runs are) if none
    is kept."""
    commit, _, env_name = path.stem.partition("-")
    history = results_dir / HISTORY / path.parent.name
    for archive in sorted(history.glob(f"{commit}-*{ARCHIVE_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            if json.loads(archive.read_text()).get("env_name") != env_name:
                continue
            asv_results.Results.load(str(archive))
        except Exception:  # a damaged archive is not a source
            continue
        with files.replacing(path) as partial:
            shutil.copyfile(archive, partial)
        print(f"restored {path} from {archive}: asv's file holds the commit's runs up to that one again; every run "
              f"of the commit is kept in {history}/", file=sys.stderr)
        return archive
    print(f"no archived copy of commit {commit} in environment {env_name} to restore {path} from; the runs this "
          f"results folder kept are in {history}/", file=sys.stderr)
    return None


def read_result(path: Path):
    """asv's Results of one result file (read once per process while it is unchanged)."""
    return _load_result(Path(path), Path(path).parent, move_damaged=False)


def check_readable(results_dir, move_damaged: bool = False) -> None:
    """Read every result file of ``results_dir`` once: a damaged one is an error naming
    it (or is moved aside), before anything writes there."""
    for _, _, _, outcomes in runs(Path(results_dir), move_damaged):
        read_outcomes(outcomes, Path(results_dir), move_damaged)


def _kept_runs(results_dir: Path) -> dict[Path, tuple[str, Path]]:
    """archived copy -> (run id, outcome file), as the runs' manifests name them."""
    return {
        results_dir / environment.result: (run.run_id, results_dir / environment.outcomes)
        for run in manifest.manifests(results_dir) for environment in run.environments
    }


def _unlisted(path: Path, results_dir: Path) -> tuple[str, Path]:
    """The run id and outcome file of an archived copy that no manifest lists (kept
    before runs wrote manifests): ``<commit8>-<run id>.asv-result`` beside
    ``outcomes/<commit8>-<run id>.jsonl``."""
    commit, _, rest = path.name.partition("-")
    run_id = rest[: -len(ARCHIVE_SUFFIX)]
    return run_id, results_dir / OUTCOMES / f"{commit}-{run_id}.jsonl"


def runs(results_dir: Path, move_damaged: bool = False):
    """(result, machine, run_id, outcome file or None) for every run kept: the archived
    copies, then asv's files that no archived copy stands for (a plain ``asv run``,
    which writes no outcomes: another run's records at the same commit would describe
    other cells)."""
    kept = _kept_runs(results_dir)
    archived = set()
    for path in sorted((results_dir / HISTORY).glob(f"*/*{ARCHIVE_SUFFIX}")):
        result = _load_result(path, results_dir, move_damaged)
        if result is None:
            continue
        run_id, outcomes = kept.get(path) or _unlisted(path, results_dir)
        archived.add((path.parent.name, result.commit_hash, result.env_name, first_start(result)))
        yield result, path.parent.name, run_id, outcomes
    for root, filename, machine_name in asv_results.iter_results_paths(str(results_dir)):
        result = _load_result(Path(root) / filename, results_dir, move_damaged, machine_name)
        if result is None:
            continue
        machine = result.params.get("machine")
        if (machine, result.commit_hash, result.env_name, first_start(result)) not in archived:
            # the machine in the id: plain runs of two machines at one commit are two runs
            yield result, machine, f"{machine}-{result.commit_hash[:8]}-{result.env_name}", None


def first_start(result) -> int:
    """When asv's earliest benchmark of ``result`` began, in ms (asv's ``date`` is the
    commit's, the same for every run of a commit)."""
    started = [t for t in result.started_at.values() if t]
    return min(started) if started else result.date
