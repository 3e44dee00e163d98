"""A run's manifest: what one ``bench`` run was and what it wrote.

``results/manifests/<commit8>-<run id>.manifest`` (JSON; not ``.json``, which asv's
result loader would take for a result file) names the run, its machine, commit,
preset, workloads and asv environments, when it started and ended, its final status,
and for each environment the archived asv result and the outcome file.  Readers take a
run's identity from here, never from file names.  The run rewrites it after every
workload, so a killed run leaves a manifest of what it finished (status ``running``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_lib.core import files

MANIFESTS = "manifests"
SUFFIX = ".manifest"
STATUSES = ("running", "ok", "failed", "interrupted")


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
