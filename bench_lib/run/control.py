"""How a run holds what it uses: its results folder (one run at a time), asv's
process group (stopped with the run, even a killed one), and the leftovers of killed
runs (removed by the next).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench_lib.core import manifest


class Interrupted(Exception):
    """SIGTERM or SIGINT reached the run."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupt(signum, _frame):
    raise Interrupted(signum)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the run that started it dies (even by
    SIGKILL), so that no asv is left running on its own (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_logged(command: list[str], cwd: Path, env: dict, log) -> int:
    """Run ``command`` with all its output in ``log`` (the run's progress display says
    how it goes).  It runs in a process group of its own: when the run is interrupted,
    the whole group (asv and its benchmark processes) is stopped before the run goes on
    with its clean-up."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, preexec_fn=_die_with_parent)
    try:
        for line in process.stdout:
            log.write(line)
        return process.wait()
    except BaseException:
        _stop_group(process)
        raise


def _stop_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            os.killpg(process.pid, signal.SIGKILL)  # benchmark processes asv left behind
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


LOCK = manifest.LOCK  # held by the run writing there (not JSON: asv ignores it)


@contextlib.contextmanager
def run_lock(results_dir: Path, token: str, wait: float = 0.0):
    """Hold ``results_dir`` for one run: a second run into the same folder waits up to
    ``wait`` seconds, then stops with a message naming the holder.  (Two runs at once
    lost one's results to the other's merge, published a dashboard without index.html,
    and timed under each other's load.)  The kernel drops the lock when its holder dies,
    so a killed run leaves none behind."""
    created = not results_dir.exists()  # a run that stops early leaves no new folder behind
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / LOCK
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(descriptor, 4096, 0).decode(errors="replace").strip() or "another process"
                os.close(descriptor)
                raise ValueError(
                    f"another run is writing to {results_dir} ({holder}); let it finish, or pass --wait SECONDS"
                ) from None
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"run {token}, pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.ftruncate(descriptor, 0)
        if created and [entry.name for entry in results_dir.iterdir()] == [LOCK]:
            path.unlink()
            results_dir.rmdir()
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


RECORDS = ".records"  # results/.records/<run id>/: the processes' records, while a run lasts
# <system temp>/bench-asv-<pid>-<run id>/: asv's temporary files (its forkserver's socket
# among them, whose path must stay short), while the run of that pid lasts
SCRATCH_PREFIX = "bench-asv-"
# <checkout>/.asv/bench-<pid>-<run id>.conf.json: the run's asv configuration (asv_config.py)
CONFIG_PREFIX = "bench-"


def scratch(token: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}{os.getpid()}-{token}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_processes_using(path: Path) -> int:
    """SIGKILL every process whose command line names ``path``: asv starts its
    forkserver in a process group of its own (``setpgid``), out of reach of the run's
    group, but with its socket in the run's temporary folder.  How many were killed."""
    killed, needle = 0, str(path).encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(entry.name) != os.getpid() and needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return killed


def _of_a_dead_run(path: Path, prefix: str) -> bool:
    """Whether ``path`` (``<prefix><pid>-...``) belongs to a run whose process is gone."""
    pid = path.name[len(prefix):].split("-", 1)[0]
    return pid.isdigit() and not _alive(int(pid))


def remove_leftovers(results_dir: Path, repo: Path) -> None:
    """What killed runs left: their records (under the lock, no other run uses them),
    and the temporary files and processes (asv's forkserver) and asv configurations
    (``CONFIG_PREFIX``) of runs whose process is gone."""
    left = sorted((results_dir / RECORDS).glob("*"))
    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        if _of_a_dead_run(path, SCRATCH_PREFIX):
            kill_processes_using(path)
            left.append(path)
    left += [path for path in (repo / ".asv").glob(f"{CONFIG_PREFIX}*.conf.json") if _of_a_dead_run(path, CONFIG_PREFIX)]
    for path in left:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if left:
        print(f"removed what {len(left)} earlier runs left behind (killed?): {', '.join(p.name for p in left[:4])}",
              flush=True)
