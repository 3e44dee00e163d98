"""What every backend module provides, and the program it builds for a cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from ..cells import Cell


@dataclass
class Program:
    """One cell, built: ``run()`` launches one unit of work on inputs already on the device.

    ``wait(out)`` blocks until that work has finished; ``to_numpy(out)`` copies the outputs
    back.  ``traces()`` counts how often the callable was traced or compiled so far, so
    that a retrace after warm-up is caught; ``None`` where there is nothing to retrace.
    ``device_name`` is what the framework calls the device it ran on.
    """

    run: Callable[[], Any]
    wait: Callable[[Any], None]
    to_numpy: Callable[[Any], dict[str, np.ndarray]]
    device_name: str
    traces: Callable[[], int] | None = None


class Backend(Protocol):
    NAME: str

    def versions(self) -> dict[str, str | None]: ...

    def unavailable(self, cell: Cell) -> str | None:
        """Why this machine cannot run the cell (no GPU, say), or None.  May import."""

    def build(self, cell: Cell, arrays: dict[str, np.ndarray]) -> Program: ...
