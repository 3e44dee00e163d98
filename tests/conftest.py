"""What the tests share: the checkout (``REPO``), an asv configuration in a folder
(``config_in``), the ``bench`` command, and the asv runs that several tests read:

- ``smoke_results``: a real run of the smoke preset (the tidy table, the report, the
  dashboard, damaged copies of its result file);
- ``planted_run``: a run of a clone whose code has faults planted in it (final statuses
  with their reasons, a hang paid once, and which code asv's processes ran);
- ``uncommitted_run`` (test_environments.py's, once per module): a run of uncommitted
  code in two environments.

Tests run in two processes (pytest-xdist, ``--dist loadgroup`` in pyproject.toml).  Every
test that uses one of the shared runs is put in that run's ``xdist_group`` here, so the
run is made once, in one worker, and the others never wait for it.  Each worker
and its processes get cores of their own (``share_the_cores``)."""

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

THREADS_ENV = "BENCH_THREADS"  # bench_lib.core.conditions.THREADS_ENV, named before bench_lib loads


def share_the_cores() -> None:
    """Pin this xdist worker, and so the processes it starts, to its own share of the
    cores, and give the frameworks that many threads.  Two workers of two threads each
    on two cores spin in OpenMP against each other: a warm call then takes hundreds of
    times longer, and a compiled cell's fresh-input check reads that as a recompilation.
    A thread count alone would not do: the suite pins a process to the first cores of
    its affinity, the same ones in every worker.  An explicit $BENCH_THREADS is kept.
    Done before bench_lib, and so NumPy, is imported: OpenBLAS sizes its thread pool
    from the affinity when it loads."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or os.environ.get(THREADS_ENV) or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    share = len(cpus) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if share >= 1:  # else more workers than cores: nothing to share out
        index = int(worker.removeprefix("gw"))
        os.sched_setaffinity(0, cpus[index * share:(index + 1) * share])
        os.environ[THREADS_ENV] = str(share)


share_the_cores()

REPO = Path(__file__).resolve().parents[1]
SHARED_RUNS = ("smoke_results", "planted_run", "uncommitted_run")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:  # before xdist's hook reads the groups
        for fixture in SHARED_RUNS:
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(fixture))
    yield
    if getattr(config.option, "loadgroup", False):  # an xdist worker of --dist loadgroup
        for item in items:
            names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                            for mark in item.iter_markers("xdist_group")})
            if names and "@" not in item.nodeid:
                _group(item, f"{item.nodeid}@{'_'.join(names)}")


def _group(item, nodeid: str) -> None:
    """pytest-xdist 3.8 tells the scheduler a test's group by the suffix it gives the test's
    id, in ``item._nodeid``, which pytest 9.2 no longer reads: its groups are lost and every
    worker makes the shared runs (pytest-dev/pytest-xdist#1386).  Give pytest's own id the
    suffix; should that fail, tests are scheduled one by one, and only take longer."""
    try:
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(nodeid)
    except (ImportError, AttributeError):
        pass


@pytest.fixture(scope="session", autouse=True)
def own_home(tmp_path_factory):
    """A home folder for the session's processes (one per xdist worker), with the
    user's configuration, caches and git identity.  Every ``bench`` writes asv's
    machine file, ``~/.asv-machine.json``, and asv reads it: in a shared home, one
    worker's run read the file while another's was rewriting it ("Error parsing JSON
    in file '/root/.asv-machine.json'"), and tests overwrote the user's file."""
    real = Path.home()
    home = tmp_path_factory.mktemp("home")
    if (real / ".asv-machine.json").is_file():
        shutil.copy(real / ".asv-machine.json", home)
    keep = {
        "XDG_CONFIG_HOME": str(real / ".config"), "XDG_CACHE_HOME": str(real / ".cache"),
        "XDG_DATA_HOME": str(real / ".local" / "share"), "GIT_CONFIG_GLOBAL": str(real / ".gitconfig"),
    }
    saved = {name: os.environ.get(name) for name in ["HOME", *keep]}
    os.environ.update({name: os.environ.get(name, value) for name, value in keep.items()}, HOME=str(home))
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def config_in(folder: Path, repo: Path = REPO, results_dir: Path | None = None, **extra) -> Path:
    """An asv configuration, ``folder/asv.conf.json``, that runs ``repo``'s benchmarks in
    this Python and keeps its results (unless ``results_dir``), dashboard and
    environments in ``folder``; ``extra`` adds or replaces keys."""
    config = {
        "version": 1, "project": "higher-order-ad-bench", "repo": str(repo), "branches": ["main"],
        "environment_type": "existing", "benchmark_dir": str(repo / "benchmarks"), "env_dir": str(folder / "env"),
        "results_dir": str(results_dir or folder / "results"), "html_dir": str(folder / "html"), **extra,
    }
    path = folder / "asv.conf.json"
    path.write_text(json.dumps(config))
    return path


def time_row(**changes) -> dict:
    """One verified time of a cell (an eager JAX HVP at mlp S, 1 ms) as a row of the
    tidy table, for ``tidy.from_rows``; ``changes`` replace or add columns."""
    from datetime import datetime

    return {
        "machine": "m", "commit": "c" * 40, "date": datetime(2026, 1, 1), "run_id": "r", "workload": "hvp",
        "model": "mlp", "size": "S", "backend": "jax", "mode": "fwd_rev", "execution": "eager", "device": "cpu",
        "dtype": "float32", "precision": "strict", "metric": "time", "value": 1e-3, "q_25": 1e-3, "q_75": 1e-3,
        "status": "ok", **changes,
    }


def bench(*args, cwd: Path = REPO, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m bench_lib bench ARGS`` as a user runs it, in ``cwd``, its output kept."""
    return subprocess.run([sys.executable, "-m", "bench_lib", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def asv_value(results: dict, name: str, params: tuple, column: str = "result"):
    """``column`` of benchmark ``name`` at ``params`` in an asv result file's JSON,
    read the way asv writes it (one entry per combination of the parameters' reprs)."""
    columns = results["result_columns"]
    entry = results["results"][name]
    combos = list(itertools.product(*entry[columns.index("params")]))
    return entry[columns.index(column)][combos.index(tuple(repr(p) for p in params))]


GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def working_tree_copy(target: Path) -> Path:
    """This checkout's files as they are (changes, and new files git does not ignore),
    copied into ``target``; a file deleted here is deleted there."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, copy = REPO / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        elif copy.is_file():
            copy.unlink()
    if (target / ".git").exists():  # a file moved or removed here since the clone's commit
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=target, capture_output=True, check=True).stdout
        for name in set(filter(None, tracked.decode().split("\0"))) - set(listed):
            (target / name).unlink(missing_ok=True)
    return target


def committed_clone(target: Path) -> Path:
    """A clone of this checkout with its working tree as it is committed: a run there
    is a run of committed code, as from a clean clone, whatever is uncommitted here."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    working_tree_copy(target)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=target).returncode != 0:
        subprocess.run([*GIT, "commit", "--quiet", "-m", "the working tree"], cwd=target, check=True)
    return target


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """The smoke preset run once as `make bench` runs it, with the checkout's own
    asv.conf.json, in a clone of committed code: (asv's result file, the clone, its
    stdout).  The run's folders are the clone's: ``results/``, ``html/``, ``.asv/``."""
    work = committed_clone(tmp_path_factory.mktemp("asv"))
    run = bench("--preset", "smoke", cwd=work, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = [p for p in (work / "results").glob("*/*.json") if p.name != "machine.json"]
    assert len(files) == 1, files
    return json.loads(files[0].read_text()), work, run.stdout


# Faults planted in a clone, for the smoke preset's compiled cells: its grad dies while it
# is timed (after verification), its HVP hangs in preparation, and its mlp Hessian (the
# JAX backend's vmap of HVPs) is off by 0.1%; its Rosenbrock Hessian and MAML stay right.
PLANTED = {
    "bench_lib/verification/prepare.py": {
        "    return PreparedCell(\n        cell, call,": (
            "    if cell.workload == 'grad' and execution == 'compiled':\n"
            "        import os as _os\n"
            "        call = lambda: _os.abort()  # noqa: E731  planted: dies while timed\n"
            "    return PreparedCell(\n        cell, call,"
        ),
        "    module, arrays = _build(cell)\n    started = time.perf_counter()\n": (
            "    if cell.workload == 'hvp' and execution == 'compiled':\n"
            "        time.sleep(3600)  # planted: hangs\n"
            "    module, arrays = _build(cell)\n    started = time.perf_counter()\n"
        ),
    },
    "bench_lib/backends/jax.py": {
        "    return lambda p, *data: jax.vmap(lambda v: hvp(p, v, *data))(_identity(jax, p))\n": (
            "    return lambda p, *data: jax.tree_util.tree_map(lambda t: 1.001 * t, "
            "jax.vmap(lambda v: hvp(p, v, *data))(_identity(jax, p)))  # planted: off by 0.1%\n"
        ),
    },
}
PLANTED_TIMEOUT = 20  # seconds, asv's timeout for the planted run's benchmarks


@pytest.fixture(scope="session")
def planted_run(tmp_path_factory):
    """A clone of this checkout with the PLANTED faults committed, run with the smoke
    preset and asv's ``-a timeout=PLANTED_TIMEOUT``: (the finished process, its wall
    time in seconds, the clone, the run's folder)."""
    work = tmp_path_factory.mktemp("planted")
    clone = committed_clone(work / "clone")
    for name, replacements in PLANTED.items():
        source = (clone / name).read_text()
        for anchor, planted in replacements.items():
            assert source.count(anchor) == 1, (name, anchor)
            source = source.replace(anchor, planted)
        (clone / name).write_text(source)
    subprocess.run([*GIT, "commit", "--quiet", "-am", "planted faults"], cwd=clone, check=True)
    config = config_in(work, repo=clone)
    started = time.monotonic()
    # asv's own way to shorten timeouts, which asv alone ignores for suites that set one
    run = bench("--preset", "smoke", "--config", str(config), "--", "-a", f"timeout={PLANTED_TIMEOUT}", cwd=clone,
                timeout=900)
    return run, time.monotonic() - started, clone, work / "results"
