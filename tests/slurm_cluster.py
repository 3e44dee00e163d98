"""A single-node Slurm cluster for one test, from Debian's packages (slurmctld, slurmd,
slurm-client, munge; .ci/run installs them): munged, slurmctld and slurmd started as
root with a configuration in a temporary folder, and stopped after the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")


def unavailable() -> str | None:
    """Why no cluster can be started here, or None."""
    missing = [name for name in NEEDED if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]
    if missing:
        return f"no single-node Slurm here ({', '.join(missing)} missing: Debian's slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "starting Slurm's daemons needs root"
    if not Path("/etc/munge/munge.key").exists():
        return "no munge key (/etc/munge/munge.key; Debian's munge package writes one)"
    return None


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Cluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.cpus = len(os.sched_getaffinity(0))
        self.conf = folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.started: list[Path] = []
        self.munged: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "Cluster":
        host = socket.gethostname()
        for sub in ("state", "spool", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=bench", f"SlurmctldHost={host}", "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
            f"StateSaveLocation={self.folder / 'state'}", f"SlurmdSpoolDir={self.folder / 'spool'}",
            f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}", f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.folder / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.folder / 'log' / 'slurmd.log'}",
            "SlurmctldPort=16817", "SlurmdPort=16818",  # not a cluster's usual ports
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2", "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            f"NodeName={host} CPUs={self.cpus} State=UNKNOWN",
            f"PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP", "",
        ]))
        if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
            for folder in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
                Path(folder).mkdir(parents=True, exist_ok=True)
                shutil.chown(folder, "munge", "munge")
            for log in Path("/var/log/munge").glob("*"):
                shutil.chown(log, "munge", "munge")
            # In the foreground: a daemonizing munged opens /dev/null read-write as the munge
            # user, which fails where /dev/null is not world-writable (some containers).
            with open(self.folder / "log" / "munged.out", "w") as log:
                self.munged = subprocess.Popen(["runuser", "-u", "munge", "--", _sbin("munged"), "--foreground"],
                                               stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
                if self.munged.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"munged did not start: {(self.folder / 'log' / 'munged.out').read_text()}")
                time.sleep(0.1)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_sbin(daemon), "-f", str(self.conf)], env=self.env, check=True, capture_output=True)
            self.started.append(self.folder / f"{daemon}.pid")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True).stdout
            if state.strip() in ("idle", "mixed"):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"Slurm's node did not come up within {timeout:.0f} s: {state!r}; logs in "
                           f"{self.folder / 'log'}")

    def sbatch(self, *args: str, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(["sbatch", "--wait", f"--cpus-per-task={self.cpus}", *args], cwd=cwd,
                              env={**env, "SLURM_CONF": str(self.conf)}, capture_output=True, text=True,
                              timeout=timeout)

    def stop(self) -> None:
        for pid_file in reversed(self.started):
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except (OSError, ValueError):
                pass
        if self.munged is not None:
            self.munged.terminate()
            self.munged.wait(timeout=10)
