"""What a ``bench`` run is asked (``Request``) and, once every setting is checked,
what it will do (``Plan``): the cells, where everything goes, and the run's identity.
``validate`` touches nothing: a bad setting is a ValueError naming it."""

from __future__ import annotations

import fnmatch
import math
import platform
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from asv.config import Config

from bench_lib.core import conditions, gpu, names, presets
from bench_lib.core.cells import BACKENDS, Cell
from bench_lib.run import asv_config, checkout, shard
from bench_lib.run.control import RECORDS
from bench_lib.suite import grid

LOGS = "logs"  # results/logs/<commit>-<run id>.log: everything asv printed


def git_commit(repo: Path, revision: str = "HEAD") -> str:
    """The full hash of ``revision``: asv records results against a commit."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=repo, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"no commit {revision!r} in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass(frozen=True)
class Request:
    """What the user asked for (``bench``'s options)."""

    preset_name: str
    repo: Path
    config: str = "asv.conf.json"
    extra_asv_args: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    machine: str | None = None
    sizes: tuple[str, ...] = ()
    allow_uncommitted: bool = False
    move_damaged: bool = False
    wait: float = 0.0
    timeout: float | None = None
    measure_peak: bool = False
    retry_contended: bool = True
    wait_quiet: float = 0.0
    results_dir: Path | None = None  # instead of the configuration's results_dir
    cells: tuple[str, ...] = ()  # patterns of cell labels (fnmatch: `hvp/torch/*/compiled/*`)
    screens: bool = False  # screenshots of the report in Chromium (make bench asks for them)
    shard: str | None = None  # "I/N": part I of N of the selected cells (run/shard.py)

    def selected(self, cell: Cell) -> bool:
        return ((not self.workloads or cell.workload in self.workloads) and (not self.models or cell.model in self.models)
                and (not self.sizes or str(cell.size) in self.sizes)
                and (not self.cells or any(fnmatch.fnmatchcase(cell.label, pattern) for pattern in self.cells)))


@dataclass
class Plan:
    """A validated request: the cells, where everything goes, and the run's identity."""

    request: Request
    preset: presets.Preset
    cells: list[Cell]
    threads: int
    commit: str
    changed: list[str]
    results_dir: Path
    html_dir: Path
    token: str
    machine_args: tuple[str, ...]
    timeout: float | None
    part: shard.Part | None = None  # the shard this run is, with every part's predicted time
    started: float = field(default_factory=time.time)

    @property
    def machine(self) -> str:
        """asv's name for this machine: ``--machine``, else asv's default, the host name."""
        return self.machine_args[1] if self.machine_args else platform.node()

    @property
    def records_dir(self) -> Path:
        return self.results_dir / RECORDS

    @property
    def log_path(self) -> Path:
        return self.results_dir / LOGS / f"{self.commit[:8]}-{self.token}.log"

    def chunks(self) -> list["Chunk"]:
        """One asv run per workload and backend, in the preset's order: asv saves a
        run's results only when it ends, so a run stopped midway loses only the chunk
        it was in."""
        benchmark_dir = self.request.repo / "benchmarks"
        regexes = {backend: grid.regexes_by_workload([cell for cell in self.cells if cell.backend == backend],
                                                     benchmark_dir) for backend in BACKENDS}
        return [
            Chunk(workload, tuple(cell for cell in self.cells if (cell.workload, cell.backend) == (workload, backend)),
                  tuple(regexes[backend][workload]), backend)
            for workload in dict.fromkeys(cell.workload for cell in self.cells)
            for backend in BACKENDS if workload in regexes[backend]
        ]


@dataclass(frozen=True)
class Chunk:
    """The cells of one workload and backend: one ``asv run``.  Every benchmark process
    imports its framework itself, after asv forks it: frameworks do not support a fork
    after their import, and processes forked after PyTorch's computed a wrong Hessian
    four times as often (docs/methodology.md)."""

    workload: str
    cells: tuple[Cell, ...]
    regexes: tuple[str, ...]  # asv's --bench expressions of exactly these cells
    backend: str | None = None  # None: cells of any backend (the contended cells' retry)

    @property
    def name(self) -> str:
        return f"{self.workload} of {self.backend}" if self.backend else self.workload


def validate(request: Request) -> Plan:
    """Every setting checked, nothing touched: a bad one is a ValueError naming it."""
    preset = presets.get(request.preset_name)
    threads = conditions.threads()  # a bad $BENCH_THREADS stops here, before asv records anything
    repo = request.repo
    asv_config.check_paths(repo, request.config)
    checkout.check_git_checkout(repo)
    cells = [cell for cell in preset.cells() if request.selected(cell)]
    if not cells:
        raise ValueError(
            f"preset {request.preset_name!r} has no cells of workloads {list(request.workloads)}, models "
            f"{list(request.models)} and sizes {list(request.sizes)}"
            + (f" matching {list(request.cells)} (`python -m bench_lib cells --preset {request.preset_name}` lists "
               "its cells)" if request.cells else "")
        )
    commit = git_commit(repo)
    part = None
    if request.shard is not None:
        part = shard.part(cells, shard.parse(request.shard), repo, commit)
        if not part.cells:
            raise ValueError(f"--shard {request.shard}: this part of the {len(cells)} selected cells is empty (fewer "
                             "cells than parts)")
        cells = part.cells
    machine = request.machine
    if machine is None and any(cell.device == "gpu" for cell in cells):
        machine = gpu.machine_name()
    if machine is not None:
        names.check_machine_name(machine, "--machine")
    changed = checkout.uncommitted(repo)
    if changed and not request.allow_uncommitted:
        raise ValueError(
            f"{len(changed)} files differ from commit {commit[:8]} ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}): asv would file their results under that commit; commit them, "
            "or pass --allow-uncommitted (every cell then records the changed files)"
        )
    for option, seconds in (("--wait", request.wait), ("--wait-quiet", request.wait_quiet)):
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{option} must be a finite number of seconds, 0 or more, got {seconds!r}")
    if request.timeout is not None:
        timeout = asv_config.positive_seconds(str(request.timeout), "--timeout")
    else:
        timeout = asv_config.asked_timeout(request.extra_asv_args)
    settings = Config.load(str(repo / request.config))
    return Plan(
        request=request, preset=preset, cells=cells, threads=threads, commit=commit, changed=changed,
        results_dir=(request.results_dir or repo / settings.results_dir).resolve(), html_dir=(repo / settings.html_dir).resolve(),
        # One token for the whole run: the check processes read what the timing
        # processes recorded, in a folder of the results that the run removes when it ends.
        token=f"{request.preset_name}-{uuid.uuid4().hex[:12]}",
        machine_args=("--machine", machine) if machine else (), timeout=timeout, part=part,
    )
