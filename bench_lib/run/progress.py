"""One progress display over a whole ``bench`` run: cells done of all, the cell being
prepared or timed, the time gone and an estimate of the time left.

asv prints a line when a benchmark ends, and its percentage starts again at 0 for
every ``asv run`` (one per workload); a benchmark over many cells is minutes of
silence.  The run's processes mark each cell they begin and record its outcome
(``suite/records.py``), so the display follows those, every half second.  On a
terminal it is a ``rich`` progress bar; elsewhere (a log, CI) a line each time the
current cell changes, and at least every ``HEARTBEAT`` seconds.  asv's own output stays
in the run's log.

The current cell is the one begun last: being prepared, then timed and checked.  The
time left comes from earlier runs: each cell's first call as the kept outcome records
have it (tracing, compiling), plus ``PER_CELL`` seconds for the rest (asv's processes
importing the framework, warm-up and samples), scaled by how this run's cells have
compared with that estimate up to the last one done, less the time since.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench_lib.core.cells import Cell
from bench_lib.suite import records

HEARTBEAT = 30.0  # seconds: the longest a run is silent off a terminal
PER_CELL = 8.0  # seconds a cell takes besides its first call (measured: make bench's 127 timed cells)
POLL = 0.5


def expected_seconds(cells: list[Cell], outcomes_dir: Path) -> dict[Cell, float]:
    """Each cell's seconds as earlier runs' outcome records suggest: its first call
    plus ``PER_CELL``; ``PER_CELL`` alone for a cell no earlier run prepared."""
    texts = []
    for path in sorted(Path(outcomes_dir).glob("*.jsonl")):
        try:
            texts.append(path.read_text())
        except OSError:
            continue
    return seconds_from_records(cells, texts)


def seconds_from_records(cells: list[Cell], texts) -> dict[Cell, float]:
    """``expected_seconds`` from the texts of outcome record files (JSON lines), read
    in order: a later record of a cell replaces an earlier one."""
    first_calls: dict[Cell, float] = {}
    wanted = set(cells)
    for text in texts:
        for line in text.splitlines():
            try:
                record = json.loads(line)
                cell = Cell(**record["cell"])
            except (ValueError, TypeError, KeyError):
                continue  # another format; the loader names damaged files, this only estimates
            if cell in wanted and record.get("first_call_seconds"):
                first_calls[cell] = float(record["first_call_seconds"])
    return {cell: PER_CELL + first_calls.get(cell, 0.0) for cell in cells}


class RunProgress:
    """The display, while the block runs: ``with RunProgress(...):``."""

    def __init__(self, cells: list[Cell], records_dir: Path, token: str, expected: dict[Cell, float],
                 stream=None):
        self.cells, self.records_dir, self.token, self.expected = list(cells), records_dir, token, expected
        self.console = Console(file=stream or sys.stdout)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self.started = time.time()

    def __enter__(self):
        self.started = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    def state(self) -> tuple[int, str, float | None]:
        """Cells done, the cell being worked on, and the seconds left (None: no estimate)."""
        finished, begun = records.progress(self.records_dir, self.token)
        wanted = set(self.cells)
        done = {cell: at for cell, at in finished.items() if cell in wanted}
        current = max(begun, key=begun.get).label if begun else ""
        last_done = max(done.values(), default=self.started)
        expected_done = sum(self.expected.get(cell, PER_CELL) for cell in done)
        left = sum(self.expected.get(cell, PER_CELL) for cell in self.cells if cell not in done)
        pace = (last_done - self.started) / expected_done if expected_done else 1.0
        return len(done), current, max(0.0, left * pace - (time.time() - last_done))

    def line(self) -> str:
        done, current, left = self.state()
        spent = time.time() - self.started
        return (f"[{done}/{len(self.cells)} cells, {_clock(spent)} gone, about {_clock(left)} left]"
                + (f" now: {current}" if current else ""))

    def _follow(self) -> None:
        if self.console.is_terminal:
            self._bar()
        else:
            self._lines()

    def _bar(self) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
                   TimeElapsedColumn(), TextColumn("about {task.fields[left]} left"))
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task("", total=len(self.cells), left="?")
            while not self._stop.wait(POLL):
                done, current, left = self.state()
                bar.update(task, completed=done, description=current[:60], left=_clock(left))
            done, _, _ = self.state()
            bar.update(task, completed=done, description="", left=_clock(0))

    def _lines(self) -> None:
        said, last = None, 0.0
        while not self._stop.wait(POLL):
            done, current, _ = self.state()
            if (done, current) != said or time.monotonic() - last >= HEARTBEAT:
                self.console.print(self.line(), highlight=False, soft_wrap=True)
                said, last = (done, current), time.monotonic()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"
