"""Peak host memory of the work itself: how far one call raises the process's peak
resident set above its resident set just before the call.

Linux keeps the peak (VmHWM in /proc/self/status) and lets a process reset it to the
current resident set by writing 5 to /proc/self/clear_refs.  Before that, memory that
the C allocator holds freed but resident (glibc keeps freed chunks below its mmap
threshold, which grows up to 32 MiB) is handed back with ``malloc_trim``: otherwise a
call that reuses the previous call's freed buffers would show no increase.  A framework's
own caching allocator hides memory the same way: TensorFlow's with its oneDNN
optimisations on (see docs/methodology.md#peak-memory).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable

STATUS, CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"


def _status_bytes(field: str) -> int:
    with open(STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise OSError(f"{STATUS} has no {field}")


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[], None]:
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return (lambda: trim(0)) if trim else (lambda: None)


def reset_peak() -> int:
    """Hand freed memory back, reset the peak; return the resident bytes now."""
    _malloc_trim()()
    with open(CLEAR_REFS, "w") as clear_refs:
        clear_refs.write("5")
    return _status_bytes("VmRSS")


def peak_increase(call: Callable[[], object]) -> tuple[int | None, object]:
    """(bytes by which ``call()`` raised the peak resident set, what it returned).
    None where the system cannot tell (no /proc, or a peak that cannot be reset)."""
    try:
        before = reset_peak()
        if _status_bytes("VmHWM") > before + (1 << 20):
            return None, call()  # the reset did not take: a stale peak would be read
    except OSError:
        return None, call()
    out = call()
    return max(0, _status_bytes("VmHWM") - before), out
