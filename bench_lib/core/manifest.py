"""A run's manifest: what one ``bench`` run was and what it wrote.

``results/manifests/<commit8>-<run id>.manifest`` (JSON; not ``.json``, which asv's
result loader would take for a result file) names the run, its machine, commit,
preset, workloads and asv environments, when it started and ended, its final status,
and for each environment the archived asv result and the outcome file.  Readers take a
run's identity from here, never from file names.  The run rewrites it after every
workload (the archive listed before its outcomes are written), so a killed run leaves a
manifest of what it finished (status ``running``).  A run is complete only when its
manifest says it ended (``ENDED``) and every outcome file it names is there
(``state``); any other is shown as incomplete, with how it ended.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_lib.core import files

MANIFESTS = "manifests"
SUFFIX = ".manifest"
# running: not ended (or killed); ok / failed: every workload ran (failed: some cell
# gave no verified time); interrupted: SIGTERM, SIGINT or SIGHUP; stopped: an error
# (a full disk, a read-only folder) ended it early
STATUSES = ("running", "ok", "failed", "interrupted", "stopped")
ENDED = ("ok", "failed")
# How a kept run stands (the table's ``run_state``): complete; plain (an ``asv run`` of
# its own, without the suite's records); or incomplete: running (now), interrupted,
# stopped, killed (``running`` with no process holding the results folder), or
# missing outcomes (it ended, but an outcome file it names is not there).
RUN_STATES = ("complete", "plain", "running", "interrupted", "stopped", "killed", "missing outcomes")
LOCK = ".run.lock"  # results/.run.lock: "run <id>, pid <pid>, since <time>" while a run holds the folder


@dataclass(frozen=True)
class Environment:
    """One asv environment of a run: asv's name for it and, relative to the results
    folder, the run's copy of its asv result and its cells' outcomes."""

    name: str
    result: str
    outcomes: str


@dataclass
class Manifest:
    run_id: str
    machine: str | None
    commit: str
    preset: str
    workloads: list[str]
    cells: int
    started: str
    ended: str | None = None
    status: str = "running"
    exit_status: int | None = None
    environments: list[Environment] = field(default_factory=list)
    uncommitted: list[str] = field(default_factory=list)  # files that differed from the commit (--allow-uncommitted)
    shard: str | None = None  # "I/N" for a run of one part of the selected cells (bench --shard)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of {STATUSES}")
        self.environments = [e if isinstance(e, Environment) else Environment(**e) for e in self.environments]

    @property
    def file_name(self) -> str:
        return f"{self.commit[:8]}-{self.run_id}{SUFFIX}"

    def write(self, results_dir) -> Path:
        """Write it whole or not at all: a reader never sees half a manifest."""
        path = Path(results_dir) / MANIFESTS / self.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, path) -> "Manifest":
        return cls(**json.loads(Path(path).read_text()))


def manifests(results_dir) -> list[Manifest]:
    """Every manifest kept in ``results_dir``, oldest run first; an unreadable one is
    an error naming it."""
    found = []
    for path in sorted((Path(results_dir) / MANIFESTS).glob(f"*{SUFFIX}")):
        try:
            found.append(Manifest.read(path))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a readable run manifest ({type(error).__name__}: {error})") from error
    return sorted(found, key=lambda manifest: manifest.started)


def state(run: Manifest, results_dir) -> str:
    """How ``run`` stands (``RUN_STATES``)."""
    results_dir = Path(results_dir)
    if run.status == "running":
        return "running" if holder(results_dir) == run.run_id else "killed"
    if run.status not in ENDED:
        return run.status
    if not all((results_dir / environment.outcomes).is_file() for environment in run.environments):
        return "missing outcomes"
    return "complete"


def holder(results_dir) -> str | None:
    """The id of the run holding ``results_dir`` (its lock names it) while its process
    lives; a killed run's name stays in the lock file, its process does not."""
    try:
        text = (Path(results_dir) / LOCK).read_text()
    except OSError:
        return None
    parts = text.replace(",", " ").split()
    if len(parts) < 4 or parts[0] != "run" or parts[2] != "pid" or not parts[3].isdigit():
        return None
    try:
        os.kill(int(parts[3]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return parts[1]
