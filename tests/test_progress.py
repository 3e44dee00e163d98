"""The run's progress display follows what the run's processes record."""

import io
import os
import re

from bench_lib.core.cells import Cell
from bench_lib.core.outcome import Outcome
from bench_lib.run.progress import RunProgress
from bench_lib.suite import records
from bench_lib.verification import run_cache

GRAD = Cell("grad", "jax", "rev", "compiled", "mlp", "S")
HVP = Cell("hvp", "jax", "fwd_rev", "compiled", "mlp", "S")


def _at(cell_suffix: str, seconds: float, tmp_path) -> None:
    """Set when a record of the run was written (file times, as the display reads them)."""
    for path in tmp_path.rglob(f"*{cell_suffix}"):
        os.utime(path, (seconds, seconds))


def test_the_display_follows_cells_begun_done_and_timed_again(tmp_path, monkeypatch):
    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run")
    monkeypatch.setenv(run_cache.RECORDS_DIR_ENV, str(tmp_path))
    display = RunProgress([GRAD, HVP], tmp_path, "run", {GRAD: 10.0, HVP: 30.0}, stream=io.StringIO())
    assert re.fullmatch(r"\[0/2 cells, 0:00 gone, about 0:(39|40) left\]", display.line())  # 40 s, counting down
    records.mark_started(GRAD)
    assert display.line().endswith(" left] now: grad/jax/rev/compiled/mlp-S/cpu/float32")
    records.save(Outcome(GRAD, "verified"))
    _at(records.STARTED, 100.0, tmp_path)
    _at(".jsonl", 101.0, tmp_path)
    assert display.state()[:2] == (1, GRAD.label)  # timed and checked now: still the current cell
    # the contended cell, timed again at the end of the run: begun anew until its new record
    records.mark_started(GRAD)
    _at(records.STARTED, 200.0, tmp_path)
    assert display.state()[:2] == (0, GRAD.label)
    records.save(Outcome(GRAD, "verified"))
    _at(".jsonl", 201.0, tmp_path)
    assert display.state()[:2] == (1, GRAD.label)
    records.mark_started(HVP)
    assert display.state()[:2] == (1, HVP.label)


def test_the_time_left_is_paced_by_the_cells_done_and_counts_down_meanwhile(tmp_path, monkeypatch):
    """Two cells expected to take 10 and 30 s; the first took 20 s: 60 s left for the
    second when the first was done, and 15 s later, 45 s."""
    import time

    monkeypatch.setenv(run_cache.RUN_ID_ENV, "run")
    monkeypatch.setenv(run_cache.RECORDS_DIR_ENV, str(tmp_path))
    display = RunProgress([GRAD, HVP], tmp_path, "run", {GRAD: 10.0, HVP: 30.0}, stream=io.StringIO())
    now = time.time()
    display.started = now - 35.0
    records.mark_started(GRAD)
    records.save(Outcome(GRAD, "verified"))
    _at(records.STARTED, now - 35.0, tmp_path)
    _at(".jsonl", now - 15.0, tmp_path)
    _, _, left = display.state()
    assert 44.0 < left <= 45.0
