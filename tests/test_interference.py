"""What the rest of the machine did while a cell was timed: the others' share of the
cell's cores, from the first sample to the last, recorded with the cell."""

import pytest

from bench_lib.core import interference


def test_the_share_is_the_others_cpu_time_over_the_cores_time(monkeypatch):
    clock = {"wall": 100.0, "busy": 1000.0, "own": 10.0}
    monkeypatch.setattr(interference.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(interference, "_busy_seconds", lambda cpus: clock["busy"])
    monkeypatch.setattr(interference, "_own_seconds", lambda: clock["own"])
    meter = interference.Meter()
    meter.cpus = {0, 1}
    assert meter.measured()["interference"] is None  # nothing measured yet
    for _ in range(4):  # four samples of 0.5 s: the cell uses one core, another process half of the other
        meter.start()
        clock["wall"] += 0.5
        clock["own"] += 0.5
        clock["busy"] += 0.5 + 0.25
        meter.stop()
    measured = meter.measured()
    assert measured["interference"] == pytest.approx(1.0 / (2.0 * 2))  # 1 CPU second of others in 2 s on 2 cores
    assert measured["interference_seconds"] == pytest.approx(2.0) and measured["interference_cpus"] == 2


def test_without_proc_stat_nothing_is_measured(monkeypatch):
    monkeypatch.setattr(interference, "_busy_seconds", lambda cpus: None)
    meter = interference.Meter()
    meter.start()
    meter.stop()
    assert meter.measured()["interference"] is None


def test_the_cores_are_read_from_proc_stat_per_core():
    """On Linux: the busy seconds of this process's cores only grow."""
    meter = interference.Meter()
    first = interference._busy_seconds(meter.cpus)
    if first is None:
        pytest.skip("no /proc/stat here")
    assert 0 < first <= interference._busy_seconds(meter.cpus)
    assert interference._busy_seconds(set()) == 0


def test_wait_quiet_waits_for_the_machine_and_says_so(monkeypatch, capsys):
    from bench_lib.run import bench

    shares = iter([0.6, 0.3, 0.02])
    monkeypatch.setattr(interference, "busy_share", lambda seconds=1.0: next(shares))
    bench._wait_quiet(60, "hvp")
    out = capsys.readouterr().out
    assert out.count("waiting for a quiet machine before the hvp cells") == 2 and "others use 30%" in out
    monkeypatch.setattr(interference, "busy_share", lambda seconds=1.0: 0.6)
    bench._wait_quiet(0.01, "hvp")
    assert "warning: the machine is still busy after 0 s (others use 60% of the cores): timing the hvp cells anyway" in (
        capsys.readouterr().out)


def test_a_run_from_before_the_measurement_is_judged_by_its_load_average():
    """The committed reference runs recorded the 1-minute load average only: above the
    usable cores plus one, others were running."""
    from conftest import time_row

    from bench_lib.reporting import tidy

    assert interference.contended({"load_average_1min": 3.2, "usable_cpus": 2})
    assert not interference.contended({"load_average_1min": 2.9, "usable_cpus": 2})
    assert not interference.contended({})  # a plain asv run: unknown, said as unknown
    # a measured share decides, whatever the load
    assert not interference.contended({"interference": 0.02, "interference_seconds": 2.0, "load_average_1min": 5.0,
                                       "usable_cpus": 2})
    table = tidy.from_rows([
        time_row(run_id="old", load_average=7.16, usable_cpus=2),
        time_row(run_id="old-quiet", load_average=1.5, usable_cpus=2),
        time_row(run_id="new", load_average=7.16, usable_cpus=2, interference=0.01, interference_seconds=2.0),
        time_row(run_id="plain"),
    ])
    assert dict(zip(table.run_id, table.contended)) == {"old": True, "old-quiet": False, "new": False, "plain": False}
