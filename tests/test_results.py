"""The tidy results table, read from a real asv run (the smoke preset, run once per
test session), and the history that keeps every run."""

import shutil

import pandas as pd
import pytest
from conftest import REPO, asv_value

from bench_lib.core import presets
from bench_lib.reporting import store, tidy


@pytest.fixture(scope="module")
def table(smoke_results):
    _, work, _ = smoke_results
    return tidy.load(work / "results", REPO / "benchmarks")


@pytest.mark.slow
def test_one_row_per_cell_and_metric_of_the_run(table):
    cells = presets.get("smoke").cells()
    assert list(table.columns) == list(tidy.COLUMNS)
    assert table["run_id"].nunique() == 1 and table["commit"].nunique() == 1
    # time, error, first call, peak memory and device memory per cell; the
    # approximation error for the first-order MAML cell
    assert len(table) == 5 * len(cells) + 1
    device_memory = table[table.metric == "device_memory"]
    assert set(device_memory.status) <= {"not_measured", "skipped"} and device_memory.value.isna().all()
    assert set(table.precision) == {"strict"}
    for column, categories in tidy.CATEGORIES.items():
        assert isinstance(table[column].dtype, pd.CategoricalDtype)
        assert tuple(table[column].cat.categories) == tuple(categories), column
    # device memory has no value on the CPU: not_measured, never a number or a failure
    assert set(table["status"].unique()) == {"ok", "skipped", "not_measured"}


@pytest.mark.slow
def test_values_statuses_and_conditions_are_the_runs(table, smoke_results):
    skipped = table[(table.workload == "grad") & (table.execution == "graph")]
    assert (skipped.status == "skipped").all() and skipped.value.isna().all()
    assert skipped.reason.str.contains("JAX has no graph execution").all()

    time = table[(table.metric == "time") & (table.workload == "hvp") & (table.execution == "compiled")].iloc[0]
    assert time.status == "ok" and 0 < time.value < 1.0 and time.unit == "seconds" and time.samples >= 5
    # the median and quartiles asv saved for this cell, not another cell's or run's
    results, _, _ = smoke_results
    params = ("jax", "fwd_rev", "compiled", "S", "cpu", "float32", "strict")
    saved = {column: asv_value(results, "hvp.MlpHVP.time_hvp", params, column)
             for column in ("result", "stats_q_25", "stats_q_75", "stats_repeat")}
    assert (time.value, time.q_25, time.q_75, time.samples) == tuple(saved.values()), saved
    assert time.jax == "0.10.2" and time.threads >= 1 and time.machine

    maml = table[(table.workload == "unrolled")]
    assert set(maml.K) == {10} and set(maml.optimizer) == {"sgd"}
    approximation = maml[maml.metric == "approximation_error"].value.item()
    assert approximation > 0.1
    assert table[table.workload != "unrolled"].K.isna().all()


@pytest.mark.slow
def test_every_run_is_kept_even_at_the_same_commit(smoke_results, tmp_path):
    _, work, stdout = smoke_results
    [archived] = (work / "results" / store.HISTORY).glob(f"*/*{store.ARCHIVE_SUFFIX}")
    assert str(archived) in stdout
    # A second run at the same commit (say after upgrading JAX) overwrites asv's file;
    # its archived copy and outcome records stand beside the first run's.
    copy = tmp_path / "results"
    shutil.copytree(work / "results", copy)
    commit, first_run = archived.name.split("-", 1)
    first_run = first_run[: -len(store.ARCHIVE_SUFFIX)]
    second = archived.parent.relative_to(work / "results") / f"{commit}-smoke-second{store.ARCHIVE_SUFFIX}"
    shutil.copy(archived, copy / second)
    shutil.copy(
        copy / store.OUTCOMES / f"{commit}-{first_run}.jsonl", copy / store.OUTCOMES / f"{commit}-smoke-second.jsonl"
    )
    both = tidy.load(copy, REPO / "benchmarks")
    assert set(both.run_id) == {first_run, "smoke-second"}
    assert len(both) == 2 * len(tidy.load(work / "results", REPO / "benchmarks"))
    assert len(tidy.load(copy, REPO / "benchmarks", commit="0000000")) == 0


def test_a_missing_results_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results folder .*nowhere"):
        tidy.load(tmp_path / "nowhere")


@pytest.mark.slow
def test_load_speed_loads_every_copy_of_a_real_run(smoke_results):
    from bench_lib.tools import load_speed

    _, work, _ = smoke_results
    one = len(tidy.load(work / "results", REPO / "benchmarks"))
    found = load_speed.measure(work / "results", REPO / "benchmarks", runs=3, repeats=1)
    assert found["rows"] == 3 * one and found["median_seconds"] > 0


@pytest.mark.slow
def test_plain_runs_of_two_machines_at_one_commit_are_two_runs(smoke_results, tmp_path):
    """asv's own files without the suite's archive and manifest (a plain ``asv run``,
    results from elsewhere): one run per machine, never one merged run."""
    import json

    _, work, _ = smoke_results
    [source] = [p for p in (work / "results").glob("*/*.json") if p.name != "machine.json"]
    for machine in ("lab-a", "lab-b"):
        folder = tmp_path / "results" / machine
        folder.mkdir(parents=True)
        result = json.loads(source.read_text())
        result["params"]["machine"] = machine
        (folder / source.name).write_text(json.dumps(result))
        info = json.loads((source.parent / "machine.json").read_text())
        (folder / "machine.json").write_text(json.dumps({**info, "machine": machine}))
    table = tidy.load(tmp_path / "results", REPO / "benchmarks")
    runs = table.groupby("run_id", observed=True).machine.unique().map(list).to_dict()
    assert sorted(runs.values()) == [["lab-a"], ["lab-b"]] and all(run.startswith(m[0]) for run, m in runs.items())
    assert len(table) == 2 * len(table[table.machine == "lab-a"])


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["cut short", "no status"])
def test_a_damaged_outcome_file_is_named_or_moved_never_read_in_part(smoke_results, tmp_path, damage, capsys):
    import json

    from bench_lib.__main__ import main

    _, work, _ = smoke_results
    copy = tmp_path / "results"
    shutil.copytree(work / "results", copy)
    [outcomes] = (copy / store.OUTCOMES).glob("*.jsonl")
    lines = outcomes.read_text().splitlines()
    if damage == "cut short":
        damaged = lines[:-5] + [line[: len(line) // 2] for line in lines[-5:]]  # five half-written lines
    else:
        damaged = [json.dumps({key: value for key, value in json.loads(line).items() if key != "status"})
                   for line in lines]  # a format without statuses
    outcomes.write_text("\n".join(damaged) + "\n")
    before = outcomes.read_bytes()
    with pytest.raises(store.DamagedResultFile, match=f"{outcomes.name} is not a readable outcome file .*line"):
        tidy.load(copy, REPO / "benchmarks")
    assert main(["report", "--results", str(copy), "--out", str(tmp_path / "report")]) == 2
    assert f"{outcomes} is not a readable outcome file" in capsys.readouterr().err
    assert outcomes.read_bytes() == before  # nothing changed
    moved = tidy.load(copy, REPO / "benchmarks", move_damaged=True)
    assert not outcomes.exists() and (copy / store.DAMAGED / store.OUTCOMES / f"{outcomes.name}.damaged").is_file()
    assert "moved the damaged outcome file" in capsys.readouterr().err
    assert len(moved) and set(moved.status.astype(str)) <= {"ok", "nan"}  # the run stands, without statuses
