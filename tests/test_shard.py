"""``bench --shard I/N``: disjoint parts of a preset's cells, balanced by the times
committed in reference/outcomes/, that merge back into the unsharded run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT, bench, committed_clone

from bench_lib.__main__ import main
from bench_lib.core import presets
from bench_lib.core.cells import Cell
from bench_lib.run import plan, progress, shard


def _cells(n: int) -> list[Cell]:
    return presets.get("cpu").cells()[:n]


@pytest.mark.parametrize("text, expected", [("0/2", (0, 2)), ("3/4", (3, 4)), (" 0 / 1 ", (0, 1))])
def test_a_shard_is_part_i_of_n_numbered_from_zero(text, expected):
    assert (shard.parse(text).index, shard.parse(text).count) == expected


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "1", "a/b", "", "1/2/3"])
def test_a_bad_shard_is_refused_by_name(text):
    with pytest.raises(ValueError, match="--shard"):
        shard.parse(text)


def test_the_parts_are_disjoint_cover_every_cell_keep_asvs_order_and_balance_the_time():
    cells = _cells(9)
    seconds = dict(zip(cells, [60, 50, 40, 30, 20, 10, 10, 10, 10]))
    parts = shard.split(cells, seconds, 3)
    assert sorted(c.label for p in parts for c in p) == sorted(c.label for c in cells)  # each cell once
    assert all(p == sorted(p, key=cells.index) for p in parts)
    loads = [sum(seconds[c] for c in p) for p in parts]
    assert max(loads) - min(loads) <= 10, loads  # longest first, to the least loaded part: 80 / 80 / 80
    assert shard.split(cells, seconds, 3) == parts  # the same on every machine


def test_without_kept_times_the_parts_are_balanced_by_counts():
    cells = _cells(10)
    parts = shard.split(cells, {c: progress.PER_CELL for c in cells}, 3)
    assert sorted(map(len, parts)) == [3, 3, 4]


def test_a_preset_that_lists_a_cell_twice_cannot_be_sharded():
    cells = _cells(2)
    with pytest.raises(ValueError, match="twice"):
        shard.split(cells + cells[:1], {}, 2)


def _repo_with_records(tmp_path, records: list[dict]):
    repo = tmp_path / "repo"
    (repo / "reference" / "outcomes").mkdir(parents=True)
    (repo / "reference" / "outcomes" / "run.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "kept"], cwd=repo, check=True)
    return repo, plan.git_commit(repo)


def test_the_balance_comes_from_the_records_committed_at_the_commit_not_from_the_folder(tmp_path):
    cells = _cells(3)
    repo, commit = _repo_with_records(tmp_path, [{"cell": cells[0].as_dict(), "first_call_seconds": 100.0}])
    # a shard that already wrote into reference/ does not move the other shards' split
    (repo / "reference" / "outcomes" / "run.jsonl").write_text(
        json.dumps({"cell": cells[1].as_dict(), "first_call_seconds": 500.0}) + "\n")
    seconds = shard.kept_seconds(cells, repo, commit)
    assert seconds == {cells[0]: 100.0 + progress.PER_CELL, cells[1]: progress.PER_CELL, cells[2]: progress.PER_CELL}
    part = shard.part(cells, shard.Shard(0, 2), repo, commit)
    assert part.cells == [cells[0]] and part.timed_cells == 1
    assert part.predicted == [100.0 + progress.PER_CELL, 2 * progress.PER_CELL]
    assert "shard 0/2: 1 cells" in part.describe() and "times kept for 1" in part.describe()


def test_a_commit_without_reference_records_is_balanced_by_counts(tmp_path):
    repo = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "nothing"], cwd=repo, check=True)
    cells = _cells(4)
    part = shard.part(cells, shard.Shard(1, 2), repo, plan.git_commit(repo))
    assert len(part.cells) == 2 and part.timed_cells == 0 and "cell counts" in part.describe()


def test_the_plan_runs_only_its_part_and_names_it(tmp_path):
    from conftest import REPO

    every = [c for c in presets.get("default").cells() if c.workload == "hvp"]
    parts = [plan.validate(plan.Request("default", REPO, workloads=("hvp",), shard=f"{i}/3", allow_uncommitted=True))
             for i in range(3)]
    assert sorted(c.label for p in parts for c in p.cells) == sorted(c.label for c in every)
    assert all(p.part.shard.count == 3 for p in parts)
    with pytest.raises(ValueError, match="--shard 5/3"):
        plan.validate(plan.Request("default", REPO, shard="5/3", allow_uncommitted=True))


SCRIPT = "docs/examples/shards.sbatch"


@pytest.mark.slow
def test_the_array_scripts_shards_merge_into_the_unsharded_cells_each_once(tmp_path):
    """The Slurm array script of docs/sharing.md over two parts of the smoke preset's
    cells that the table skips (no framework compiles), each part into a results folder
    of its own as on two machines, then merged.  Under a single-node Slurm where one can
    be started (.ci/run installs it); else the script runs as each array task would."""
    import slurm_cluster

    from bench_lib.reporting import tidy

    work = committed_clone(tmp_path / "clone")
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, "PRESET": "smoke", "BENCH_ARGS": "--cells */graph/*", "MACHINE": "cluster"}
    why_not = slurm_cluster.unavailable()
    if why_not is None:
        cluster = slurm_cluster.Cluster(tmp_path / "slurm").start()
        try:
            done = cluster.sbatch("--array=0-1", SCRIPT, cwd=work, env=env, timeout=600)
        finally:
            cluster.stop()
        logs = "".join(path.read_text() for path in sorted(work.glob("shard-*.log")))
        assert done.returncode == 0, done.stdout + done.stderr + logs
    else:
        for index in range(2):
            task = {**env, "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_ID": str(index), "SLURM_SUBMIT_DIR": str(work)}
            done = subprocess.run(["bash", SCRIPT], cwd=work, env=task, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            logs = done.stdout
    wanted = sorted(c.label for c in presets.get("smoke").cells() if c.execution == "graph")
    assert len(wanted) == 2
    parts = [work / "results" / f"shard-{index}" for index in range(2)]
    for index, part in enumerate(parts):
        [record] = [json.loads(p.read_text()) for p in (part / "manifests").glob("*.manifest")]
        assert record["shard"] == f"{index}/2" and record["machine"] == "cluster" and record["cells"] == 1
    merged = work / "results" / "merged"
    assert main(["merge", *map(str, parts), "--into", str(merged)]) == 0
    outcomes = [json.loads(line) for path in (merged / "outcomes").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(Cell(**o["cell"]).label for o in outcomes) == wanted  # every cell, none twice
    table = tidy.latest_measurements(tidy.load(merged, work / "benchmarks"))
    timed = table[table.metric == "time"]
    assert sorted(zip(timed.workload, timed.execution)) == [("grad", "graph"), ("hvp", "graph")]
    assert set(timed.status) == {"skipped"} and set(timed.machine) == {"cluster"}
    # asv's own file of the commit holds both parts
    [asv_file] = (merged / "cluster").glob(f"{subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=work, capture_output=True, text=True).stdout[:8]}-*.json")
    assert {"grad.MlpGrad.time_grad", "hvp.MlpHVP.time_hvp"} <= set(json.loads(asv_file.read_text())["results"])
    assert main(["merge", str(parts[0]), "--into", str(merged)]) == 0  # already there: nothing copied again
    assert len(list((merged / "manifests").glob("*.manifest"))) == 2


def _folder_with_a_run(folder: Path, run_id: str, cells: list[Cell]) -> Path:
    from bench_lib.core.manifest import Environment, Manifest

    outcomes = f"outcomes/{run_id}.jsonl"
    (folder / "outcomes").mkdir(parents=True)
    (folder / outcomes).write_text("".join(json.dumps({"cell": c.as_dict(), "status": "skipped"}) + "\n" for c in cells))
    Manifest(run_id=run_id, machine="m", commit="c" * 40, preset="cpu", workloads=["grad"], cells=len(cells),
             started="2026-12-03T00:00:00+00:00", status="ok",
             environments=[Environment("env", f"history/m/{run_id}.asv-result", outcomes)]).write(folder)
    return folder


def test_overlapping_parts_are_refused_by_cell_and_nothing_is_merged(tmp_path):
    from bench_lib.run.merge import merge

    cells = _cells(3)
    first = _folder_with_a_run(tmp_path / "a", "run-a", cells[:2])
    second = _folder_with_a_run(tmp_path / "b", "run-b", cells[1:])
    with pytest.raises(ValueError, match=f"1 cells would be there twice.*{cells[1].label}"):
        merge([first, second], tmp_path / "into")
    assert not (tmp_path / "into").exists()
    with pytest.raises(ValueError, match="not a results folder"):
        merge([tmp_path], tmp_path / "into")
