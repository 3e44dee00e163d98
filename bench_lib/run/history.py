"""``make history`` (``python -m bench_lib history``): the ``history`` preset in one asv
virtualenv per framework release (``asv.history.conf.json``), one release after the
other, into the same results folder as every other run.

For each release: a configuration of that one environment is written beside the run
(asv then builds and runs only it); ``asv setup`` builds the environment once (kept in
``.asv/env``; the time it took is recorded); ``bench`` runs the preset's cells of that
framework in it; ``verify --known-failures`` then attempts, in that environment, the
known-failure cells of the framework at the smallest sizes, and if it found any cell of
the preset fixed or changed, ``bench`` runs those cells again so that the release's
results time them (fixed) or show their new failure (changed).  Each release's build
and run seconds and its known-failure counts go to ``<results>/releases.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asv import util as asv_util
from asv.config import Config
from asv.environment import get_environments

from bench_lib.backends import known_failures, support
from bench_lib.core import conditions, files, presets
from bench_lib.core.cells import DISTRIBUTIONS
from bench_lib.run import asv_config

CONFIG = "asv.history.conf.json"
PRESET = "history"
LEDGER = "releases.jsonl"  # in the results folder: one line per release run


@dataclass(frozen=True)
class Release:
    backend: str
    version: str
    entry: dict  # the configuration's include entry

    @property
    def label(self) -> str:
        return f"{self.backend}=={self.version}"


def releases(repo: Path, config: str = CONFIG) -> list[Release]:
    """The configuration's environments, each a release of one framework; an entry
    with none or several frameworks is a ValueError naming it."""
    settings = asv_util.load_json(str(repo / config), js_comments=True)
    found = []
    for entry in settings.get("include") or ():
        requirements = entry.get("req") or {}
        named = [(backend, requirements[name]) for backend, names in DISTRIBUTIONS.items()
                 for installed_as in names.values() for name in installed_as if name in requirements]
        backends = sorted({backend for backend, _ in named})
        if len(backends) != 1:
            raise ValueError(f"{config}: an environment must hold exactly one framework, this one holds "
                             f"{backends or 'none'}: {entry}")
        found.append(Release(backends[0], str(named[0][1]), entry))
    return found


def select(found: list[Release], only: tuple[str, ...]) -> list[Release]:
    """The releases ``only`` names (a backend, or backend==version); all without it."""
    if not only:
        return found
    chosen = [r for r in found if r.backend in only or r.label in only]
    unknown = [name for name in only if not any(r.backend == name or r.label == name for r in found)]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)}: not a release of {CONFIG} (it has "
                         f"{', '.join(r.label for r in found)})")
    return chosen


def one_environment_config(repo: Path, config: str, release: Release, folder: Path) -> Path:
    """A copy of the configuration with ``release``'s environment alone (its paths made
    absolute, the thread count in its variables), so that asv builds and runs that one."""
    settings = asv_config.absolute_settings(repo / config)
    # the thread count as bench's own copy names the environment (asv_config.derived_config),
    # so that `asv setup` builds the environment the run then uses
    settings["include"] = asv_config.with_threads([release.entry], conditions.threads())
    path = folder / f"history-{re.sub(r'[^A-Za-z0-9_.-]', '_', release.label)}.conf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))
    return path


def environment_python(config: Path) -> Path:
    """The Python of the configuration's one environment, where asv builds it."""
    settings = Config.load(str(config))
    [environment] = list(get_environments(settings, [], verbose=False))
    return Path(settings.env_dir) / environment.dir_name / "bin" / "python"


@dataclass
class Ledger:
    release: str
    environment_python: str
    build_seconds: float
    run_seconds: float
    exit_status: int
    known_failures: dict = field(default_factory=dict)  # result -> count
    rerun_cells: list = field(default_factory=list)
    ended: str = ""


def run(repo: Path, results: Path, only: tuple[str, ...] = (), config: str = CONFIG,
        bench_args: tuple[str, ...] = ()) -> int:
    """Every selected release in turn; the worst exit status."""
    chosen = select(releases(repo, config), only)
    cells = presets.get(PRESET).cells()
    worst = 0
    for release in chosen:
        status = _one_release(repo, results, config, release, cells, bench_args)
        worst = max(worst, status)
    return worst


def _one_release(repo, results, config, release, cells, bench_args) -> int:
    print(f"== {release.label}", flush=True)
    env_config = one_environment_config(repo, config, release, repo / ".asv" / "history")
    relative = str(env_config.relative_to(repo)) if env_config.is_relative_to(repo) else str(env_config)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--config", str(env_config)], cwd=repo,
                   check=False, capture_output=True)
    setup = subprocess.run([sys.executable, "-m", "asv", "setup", "--config", str(env_config)], cwd=repo, text=True,
                           capture_output=True)
    build_seconds = time.monotonic() - started
    python = environment_python(env_config)
    # asv setup's exit status is 1 even when it built the environment (asv 0.6.6 returns
    # the list of environments as the status): the environment's Python says.
    if not python.exists() or not _has_release(python, release):
        print(f"asv could not build the environment of {release.label} (exit {setup.returncode}):\n"
              f"{(setup.stdout + setup.stderr)[-3000:]}", file=sys.stderr, flush=True)
        _record(results, Ledger(release.label, "", build_seconds, 0.0, setup.returncode or 1))
        return setup.returncode or 1
    print(f"environment of {release.label}: {python.parent.parent} (built or found in {build_seconds:.0f} s)",
          flush=True)
    started = time.monotonic()
    bench = [sys.executable, "-m", "bench_lib", "bench", "--preset", PRESET, "--config", relative,
             "--results", str(results), "--cells", f"*/{release.backend}/*", *bench_args]
    status = subprocess.run(bench, cwd=repo).returncode
    found = _attempt_known_failures(repo, python, release, results, cells)
    again = [cell.label for cell in cells if cell.backend == release.backend and cell.label in found
             and found[cell.label] in ("fixed", "changed")]
    if again:
        print(f"{len(again)} cells of the preset are no longer known failures in {release.label}: running them",
              flush=True)
        status = max(status, subprocess.run([*bench[:bench.index("--cells")], "--cells", *again,
                                             *bench_args], cwd=repo).returncode)
    counts = {result: list(found.values()).count(result) for result in known_failures.RESULTS}
    _record(results, Ledger(release.label, str(python), build_seconds, time.monotonic() - started, status,
                            counts, again))
    return status


def _has_release(python: Path, release: Release) -> bool:
    """Whether the environment holds the release (asv stops installing at a failure)."""
    names = [name for installed_as in DISTRIBUTIONS[release.backend].values() for name in installed_as
             if name in (release.entry.get("req") or {})]
    code = f"from importlib import metadata; print(metadata.version({names[0]!r}))"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return found.returncode == 0 and _same_release(found.stdout.strip(), release.version)


def _attempt_known_failures(repo: Path, python: Path, release: Release, results: Path, preset_cells) -> dict[str, str]:
    """``verify --known-failures`` of the release's framework in its environment (the
    checkout's bench_lib on the path), at the smallest sizes and in the preset; each
    attempted cell's result."""
    candidates = [*presets.smallest(backends=(release.backend,), devices=("cpu",)).cells(),
                  *(cell for cell in preset_cells if cell.backend == release.backend)]
    cells = [cell for cell in candidates if support.known_failure_of(cell) is not None]
    if not cells:
        return {}
    env = {**_environ(), "PYTHONPATH": str(repo)}
    subprocess.run([str(python), "-m", "bench_lib", "verify", "--known-failures", "--backend", release.backend,
                    "--results", str(results), "--cells", *sorted({cell.label for cell in cells})], cwd=repo, env=env)
    version = release.version
    folder = Path(results) / known_failures.FOLDER
    return {f.cell: f.result for f in known_failures.read(folder)
            if f.framework == release.backend and _same_release(f.version, version)}


def _same_release(recorded: str, asked: str) -> bool:
    return conditions.release(recorded) == conditions.release(asked)


def _environ() -> dict:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _record(results: Path, ledger: Ledger) -> None:
    ledger.ended = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path = Path(results) / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = path.read_text() if path.exists() else ""
    files.write_text(path, kept + json.dumps(asdict(ledger)) + "\n")  # whole or not at all
    print(f"{ledger.release}: build {ledger.build_seconds:.0f} s, run {ledger.run_seconds:.0f} s, exit "
          f"{ledger.exit_status}, known failures {ledger.known_failures}", flush=True)


def read_ledger(results: Path) -> list[dict]:
    path = Path(results) / LEDGER
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

