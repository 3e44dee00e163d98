"""Files written whole or not at all: to a temporary name beside the file, then renamed
over it.  A full disk or a killed process leaves the old file as it was, never a file
cut short."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path):
    """A temporary path beside ``path`` to write to: renamed over ``path`` when the
    block ends, removed if it raises."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text)
