"""Measurement worker processes: one per backend, so that only one framework is loaded
while it measures, reporting one JSON line per cell as each finishes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Iterator


class WorkerFailed(RuntimeError):
    pass


def stream(module: str, request: dict) -> Iterator[dict]:
    """Run ``python -m module`` with ``request`` as JSON on its standard input and yield
    each JSON object it prints, as it prints it (other lines are a framework's own
    output).  Raises WorkerFailed if the process exits with an error."""
    worker = subprocess.Popen(
        [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    worker.stdin.write(json.dumps(request))
    worker.stdin.close()
    for line in worker.stdout:
        if line.startswith("{"):
            yield json.loads(line)
    if worker.wait() != 0:
        raise WorkerFailed(f"{module} exited with status {worker.returncode}")
