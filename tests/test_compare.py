"""Verdicts of `compare` on runs with known values: every verdict reachable, the exit
status a CI gate can use, and bad selections named."""

import json
import re

import pytest

from bench_lib.reporting import compare, tidy
from bench_lib.__main__ import main


# what each backend's cells record of their framework's versions
VERSIONS = {
    "jax": lambda jax: {"jax": jax, "jaxlib": jax},
    "tensorflow": lambda jax: {"tensorflow": "2.21.0"},
    "torch": lambda jax: {"torch": "2.13.0+cpu"},
}


def run(cells, run_id, jax="0.10.2"):
    """A run's time rows: cells as (backend, execution, seconds, status)."""
    rows = []
    for backend, execution, seconds, status in cells:
        rows.append({
            "machine": "m", "commit": "c" * 40, "date": None, "run_id": run_id, "workload": "hvp", "model": "mlp",
            "size": "S", "backend": backend, "mode": "fwd_rev", "execution": execution, "device": "cpu",
            "dtype": "float32", "precision": "strict", "metric": "time", "value": seconds, "q_25": seconds and 0.98 * seconds,
            "q_75": seconds and 1.02 * seconds, "status": status, **VERSIONS[backend](jax), "threads": 2,
            "cpu": "AMD EPYC 7B13",
        })
    table = tidy.from_rows(rows)
    return table.assign(**{column: table[column].astype(object) for column in compare.CELL})


OLD = [
    ("jax", "compiled", 1.0, "ok"),  # faster
    ("jax", "eager", 1.0, "ok"),  # slower
    ("tensorflow", "eager", 1.0, "ok"),  # unchanged: within the factor
    ("tensorflow", "graph", 1.0, "ok"),  # missing
    ("torch", "eager", 1.0, "ok"),  # newly failing
    ("torch", "compiled", None, "failed"),  # fixed
]
NEW = [
    ("jax", "compiled", 0.5, "ok"),
    ("jax", "eager", 2.0, "ok"),
    ("tensorflow", "eager", 1.05, "ok"),
    ("tensorflow", "compiled", 1.0, "ok"),  # new
    ("torch", "eager", None, "failed"),
    ("torch", "compiled", 1.0, "ok"),
]


def test_every_verdict_is_reachable():
    table = compare.verdicts(run(OLD, "old"), run(NEW, "new")).set_index(["backend", "execution"])
    assert table.loc[("jax", "compiled"), "verdict"] == "faster" and table.loc[("jax", "compiled"), "ratio"] == 0.5
    assert table.loc[("jax", "eager"), "verdict"] == "slower"
    assert table.loc[("tensorflow", "eager"), "verdict"] == "unchanged"
    assert table.loc[("tensorflow", "graph"), "verdict"] == "missing"
    assert table.loc[("tensorflow", "compiled"), "verdict"] == "new"
    assert table.loc[("torch", "eager"), "verdict"] == "newly failing"
    assert table.loc[("torch", "compiled"), "verdict"] == "fixed"
    # A framework upgrade makes JAX's cells not comparable, unless asked for
    upgraded = run(NEW, "new", jax="0.11.0")
    assert set(compare.verdicts(run(OLD, "old"), upgraded).query("backend == 'jax'").verdict) == {"not comparable"}
    across = compare.verdicts(run(OLD, "old"), upgraded, across_environments=True)
    assert set(across.query("backend == 'jax'").verdict) == {"faster", "slower"}
    assert set(compare.VERDICTS) == set(table.verdict) | {"not comparable", "unstable", "contended"}  # each tested below


@pytest.mark.parametrize("condition, old_value, new_value", [
    ("threads", 2, 1), ("gpu", "NVIDIA H100 80GB HBM3", "NVIDIA H200"), ("gpu_driver", "570.86", "580.65"),
    ("cuda_build", "12.8", "13.0"), ("cudnn", "91002", "91300"),
])
def test_a_different_thread_count_gpu_driver_or_cuda_build_is_not_comparable(condition, old_value, new_value):
    old = run(OLD, "old").assign(**{condition: old_value})
    new = run(NEW, "new").assign(**{condition: new_value})
    both_ok = compare.verdicts(old, new).query("status_old == 'ok' and status_new == 'ok'")
    assert set(both_ok.verdict) == {"not comparable"}


def test_strict_and_tf32_are_two_cells_not_two_measurements_of_one():
    strict = run([("jax", "compiled", 1.0, "ok")], "old")
    tf32 = run([("jax", "compiled", 0.3, "ok")], "new").assign(precision="tf32")
    assert sorted(compare.verdicts(strict, tf32).verdict) == ["missing", "new"]


def test_a_change_within_the_recorded_noise_is_unchanged():
    noisy_old = run([("jax", "compiled", 1.0, "ok")], "old")
    noisy_new = run([("jax", "compiled", 1.2, "ok")], "new")
    noisy_old["q_75"], noisy_new["q_25"] = 1.5, 0.9  # interquartile ranges overlap
    assert compare.verdicts(noisy_old, noisy_new).verdict.item() == "unchanged"
    with pytest.raises(ValueError, match="--factor must be above 1"):
        compare.verdicts(noisy_old, noisy_new, factor=0.9)


def test_the_exit_status_gates_on_regressions(monkeypatch, capsys):
    sides = {"old": run(OLD, "old"), "new": run(NEW, "new"), "same": run(OLD, "same")}
    monkeypatch.setattr(compare, "resolve", lambda side, *_: sides[side])
    assert compare.run("old", "new", "results", 1.1, False) == 1
    assert "1 slower" in capsys.readouterr().out
    assert compare.run("old", "same", "results", 1.1, False) == 0
    assert "every cell unchanged" in capsys.readouterr().out


def test_a_side_that_names_nothing_is_an_error_naming_what_there_is(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert main(["compare", "nothing", "else", "--results", str(tmp_path / "results")]) == 2
    assert "'nothing' names no run, commit, machine or results folder" in capsys.readouterr().err


def test_an_unstable_time_on_either_side_decides_nothing():
    old = run([("jax", "compiled", 1.0, "ok"), ("torch", "eager", 1.0, "ok")], "old")
    new = run([("jax", "compiled", 2.0, "ok"), ("torch", "eager", 2.0, "ok")], "new")
    new.loc[new.backend == "torch", "q_75"] = 4.0  # quartiles 1.96 and 4 s around a 2 s median
    new = tidy.from_rows(new.to_dict("records"))
    assert list(new.unstable) == [False, True]
    verdicts = compare.verdicts(old, new.assign(**{c: new[c].astype(object) for c in compare.CELL}))
    assert verdicts.set_index("backend").verdict.to_dict() == {"jax": "slower", "torch": "unstable"}


@pytest.mark.parametrize("condition", ["cpu", "threads", "jax", "jaxlib"])
def test_an_unknown_condition_is_not_comparable_unless_asked(condition):
    """A plain asv run, or results from elsewhere, records no conditions: unknown is not
    the same."""
    old = run([("jax", "compiled", 1.0, "ok")], "old")
    new = run([("jax", "compiled", 2.0, "ok")], "new").assign(**{condition: None})
    assert compare.verdicts(old, new).verdict.item() == "not comparable"
    assert compare.verdicts(new, old).verdict.item() == "not comparable"
    assert compare.verdicts(old, new, across_environments=True).verdict.item() == "slower"


def test_a_gpu_cell_needs_its_gpu_and_driver_known():
    old = run([("jax", "compiled", 1.0, "ok")], "old").assign(device="gpu", gpu="NVIDIA H200", gpu_driver="580.65")
    new = run([("jax", "compiled", 2.0, "ok")], "new").assign(device="gpu", gpu="NVIDIA H200", gpu_driver="580.65")
    assert compare.verdicts(old, new).verdict.item() == "slower"
    assert compare.verdicts(old, new.assign(gpu_driver=None)).verdict.item() == "not comparable"


def test_changes_come_first_and_cells_in_one_run_only_are_counted_not_listed(monkeypatch, capsys):
    sides = {"old": run(OLD, "old"), "new": run(NEW, "new")}
    monkeypatch.setattr(compare, "resolve", lambda side, *_: sides[side])
    compare.run("old", "new", "results", 1.1, False)
    out = capsys.readouterr().out
    assert out.index("regressions (2):") < out.index("improvements (2):") < out.rindex("1 new, 1 missing")
    listed = out[: out.rindex("1 new, 1 missing")]
    assert " new " not in listed and " missing " not in listed  # counted only


def test_runs_without_a_cell_in_common_are_an_error_naming_what_each_holds(monkeypatch, capsys):
    sides = {"grad": run([("jax", "eager", 1.0, "ok")], "grad-run"), "hvp": run([("torch", "eager", 1.0, "ok")], "hvp-run")}
    sides["grad"]["workload"] = "grad"
    monkeypatch.setattr(compare, "resolve", lambda side, *_: sides[side])
    assert main(["compare", "grad", "hvp"]) == 2
    err = capsys.readouterr().err
    assert "'grad' (run grad-run: 1 cells of grad on m at commit cccccccc) and 'hvp' (run hvp-run: 1 cells of hvp" in err
    assert "have no cell in common" in err


def test_the_latest_run_is_the_latest_that_ran_to_its_end(tmp_path):
    import pandas as pd

    complete = run(OLD, "complete").assign(date=pd.Timestamp("2026-01-01", tz="UTC"))
    plain = run(OLD[:1], "plain").assign(date=pd.Timestamp("2026-01-02", tz="UTC"), run_state="plain")
    both = pd.concat([complete, plain])
    assert set(compare._latest(both, "commit c").run_id) == {"complete"}
    assert set(compare._latest(plain, "commit c").run_id) == {"plain"}  # none complete: the latest of all


@pytest.mark.parametrize("flag", [{"interference": 0.4, "interference_seconds": 2.0},
                                  {"implausible": "HVP rev_rev faster than its gradient (1 ms)"}])
def test_a_contended_or_implausible_time_on_either_side_decides_nothing(flag):
    old = run([("jax", "compiled", 1.0, "ok")], "old")
    new = run([("jax", "compiled", 2.0, "ok")], "new")
    assert compare.verdicts(old, new).verdict.tolist() == ["slower"]
    flagged = new.assign(**flag)
    if "interference" in flag:
        flagged = flagged.assign(contended=flagged.interference > tidy.CONTENDED_SHARE)
    assert compare.verdicts(old, flagged).verdict.tolist() == ["contended"]
    assert compare.verdicts(flagged, new).verdict.tolist() == ["contended"]


def test_a_results_folder_compares_as_each_cells_latest_time(monkeypatch, tmp_path):
    """The committed reference was run in parts: a folder side is each cell's latest
    time among its complete runs, not its latest part alone."""
    import pandas as pd

    parts = [run([("jax", "compiled", 1.0, "ok")], "part1").assign(date=pd.Timestamp("2026-11-01")),
             run([("torch", "eager", 2.0, "ok")], "part2").assign(date=pd.Timestamp("2026-11-02")),
             run([("jax", "compiled", 3.0, "ok")], "again").assign(date=pd.Timestamp("2026-11-03")),
             run([("jax", "compiled", 9.0, "ok")], "killed").assign(date=pd.Timestamp("2026-11-04"), run_state="killed")]
    table = tidy.from_rows(pd.concat(parts).to_dict("records"))
    monkeypatch.setattr(compare.tidy, "load", lambda *args, **kwargs: table)
    side = compare.resolve(str(tmp_path), "unused")
    assert sorted(zip(side.backend, side.run_id, side.value)) == [("jax", "again", 3.0), ("torch", "part2", 2.0)]
    assert compare._holds(side) == "runs again, part2: 2 cells of hvp on m at commit cccccccc"


def test_the_comparison_as_a_page_lists_regressions_first_with_every_cell_in_its_table(monkeypatch, tmp_path):
    sides = {"old": run(OLD, "old"), "new": run(NEW, "new")}
    monkeypatch.setattr(compare, "resolve", lambda side, *_: sides[side])
    path = tmp_path / "compare.html"
    assert main(["compare", "old", "new", "--html", str(path)]) == 1
    page = path.read_text()
    assert "Bokeh" in page and "1 slower" in page
    # the chart's bars, top down: the regressions (slower, newly failing), then the improvements
    bars = re.search(r'"label",\{"type":"ndarray","array":(\[[^\]]*\])', page) or re.search(
        r'"label",(\[[^\]]*\])', page)
    labels = json.loads(bars.group(1))[::-1]
    assert [label.split()[3:5] for label in labels] == [
        ["jax", "fwd_rev"], ["torch", "fwd_rev"], ["jax", "fwd_rev"], ["torch", "fwd_rev"]]
    assert labels[0].endswith("eager cpu float32") and labels[2].endswith("compiled cpu float32")
    # every cell of either run is in the table, the new and the missing ones too
    assert page.count("hvp mlp S") >= len(labels) + 6
