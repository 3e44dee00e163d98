"""``bench --shard I/N``: one of N disjoint parts of a preset's cells, so that N machines
of one kind each run one part under one machine name and their results merge in the
history (as the parts of one run do).

Every machine must compute the same split, so the split depends only on what every
clone of one commit has: the preset's cells and the outcome records committed at that
commit in the reference results (``reference/outcomes/``, read with git, so that a
shard that has already written into ``reference/`` does not move the others).  Cells are dealt longest first to the part with the
least predicted time (ties to the lower part, then by label), each cell's time being its
kept first call plus the per-cell cost the progress display assumes; a cell no kept run
prepared counts that cost alone, so without any kept times the parts are balanced by
counts.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench_lib.core.cells import Cell
from bench_lib.run import progress

TIMES_FROM = "reference/outcomes"  # the committed outcome records that balance the parts


@dataclass(frozen=True)
class Shard:
    index: int  # 0 to count - 1, as Slurm's $SLURM_ARRAY_TASK_ID and CI matrices number them
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: str) -> Shard:
    """``I/N`` with 0 <= I < N; anything else is a ValueError naming the option."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise ValueError(f"--shard must be I/N (part I of N, numbered from 0, as 0/4 to 3/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise ValueError(f"--shard {text}: N must be at least 1 and I from 0 to N - 1")
    return Shard(index, count)


def split(cells: list[Cell], seconds: dict[Cell, float], count: int) -> list[list[Cell]]:
    """The cells in ``count`` disjoint parts whose predicted times are as even as dealing
    longest first allows; each part keeps the cells' original order (asv's order)."""
    if len(set(cells)) != len(cells):
        raise ValueError("a preset lists a cell twice: its shards would run it twice")
    loads = [0.0] * count
    part_of: dict[Cell, int] = {}
    for cell in sorted(cells, key=lambda c: (-seconds.get(c, progress.PER_CELL), c.label)):
        part = min(range(count), key=lambda i: (loads[i], i))
        part_of[cell] = part
        loads[part] += seconds.get(cell, progress.PER_CELL)
    return [[cell for cell in cells if part_of[cell] == part] for part in range(count)]


def kept_seconds(cells: list[Cell], repo: Path, commit: str) -> dict[Cell, float]:
    """Each cell's predicted seconds from the outcome records committed at ``commit``."""
    listed = _git(repo, "ls-tree", "--name-only", f"{commit}:{TIMES_FROM}")
    names = sorted(name for name in listed.splitlines() if name.endswith(".jsonl"))
    return progress.seconds_from_records(cells, (_git(repo, "show", f"{commit}:{TIMES_FROM}/{name}") for name in names))


def _git(repo: Path, *args: str) -> str:
    """git's output; empty where the commit has no such folder or file."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return result.stdout if result.returncode == 0 else ""


@dataclass(frozen=True)
class Part:
    shard: Shard
    cells: list[Cell]
    predicted: list[float]  # seconds of every part, in order: this one is predicted[shard.index]
    timed_cells: int  # cells whose time came from a kept run (the rest count PER_CELL)

    def describe(self) -> str:
        total = sum(self.predicted)
        spread = ", ".join(f"{_minutes(s)}" for s in self.predicted)
        basis = (f"times kept for {self.timed_cells} of the preset's cells" if self.timed_cells
                 else "cell counts (no kept times)")
        return (f"shard {self.shard.label}: {len(self.cells)} cells, predicted {_minutes(self.predicted[self.shard.index])} "
                f"of {_minutes(total)} (parts: {spread}; balanced by {basis})")


def part(cells: list[Cell], shard: Shard, repo: Path, commit: str) -> Part:
    seconds = kept_seconds(cells, repo, commit)
    parts = split(cells, seconds, shard.count)
    predicted = [sum(seconds[c] for c in p) for p in parts]
    timed = sum(1 for c in cells if seconds[c] > progress.PER_CELL)
    return Part(shard, parts[shard.index], predicted, timed)


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"
