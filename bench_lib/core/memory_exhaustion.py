"""Running out of memory, in every form it takes: Python's ``MemoryError``, C++'s
``std::bad_alloc``, XLA's and TensorFlow's ``RESOURCE_EXHAUSTED`` and "OOM when
allocating", PyTorch's ``OutOfMemoryError`` and "can't allocate memory", glibc's
"cannot allocate memory" (ENOMEM, as in "cannot allocate memory for thread-local
data"), and the kernel's OOM killer, whose SIGKILL leaves no words at all: the kernel
counts its kills (``oom_kills``).  Each is the status ``oom``, never ``failed`` or
``crashed``."""

from __future__ import annotations

import re
from pathlib import Path

_WORDS = re.compile(
    r"MemoryError|std::bad_alloc|RESOURCE_EXHAUSTED|out of memory|OOM when allocating|can(?:no|')t allocate memory"
    r"|failed to allocate (?:memory|request|\d)|\[Errno 12\]",
    re.IGNORECASE,
)
SIGKILL_EXIT = -9  # a process killed by SIGKILL, as asv and subprocess give its exit status


def in_text(text: str) -> str | None:
    """The last line of ``text`` that says memory ran out, or None."""
    lines = [line.strip() for line in text.splitlines() if _WORDS.search(line)]
    return lines[-1][:300] if lines else None


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed since boot (Linux's
    ``/proc/vmstat``); None where it does not say."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def killed_by_the_oom_killer(kills_before: int | None) -> int:
    """How many processes the OOM killer killed since ``kills_before`` was counted."""
    now = oom_kills()
    return max(0, now - kills_before) if now is not None and kills_before is not None else 0
