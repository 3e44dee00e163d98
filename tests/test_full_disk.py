"""No run lost to a full disk: a run needs room to start, asv's commit file gets its
copy back when asv cannot write it whole, and ``--move-damaged`` restores it from the
archived runs."""

import json
import shutil

import pytest
from conftest import REPO, bench, config_in

from bench_lib.reporting import store, tidy
from bench_lib.run import keep


def test_a_run_without_room_to_work_stops_in_one_line_before_anything_is_written(tmp_path):
    import os

    run = bench("--preset", "smoke", "--workloads", "grad", "--config", str(config_in(tmp_path)), "--allow-uncommitted",
                env={**os.environ, keep.MIN_FREE_ENV: str(10**12)}, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"MB free for {tmp_path / 'results'}; a run needs 1000000000000 MB" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "results").exists()


def test_asvs_commit_file_gets_its_copy_back_when_asv_cannot_write_it_whole(tmp_path, capsys):
    commit = "0123456789abcdef"
    machine = tmp_path / "vm"
    machine.mkdir()
    cut = machine / f"{commit[:8]}-existing-py.json"
    rewritten = machine / f"{commit[:8]}-other-py.json"
    other_commit = machine / "fedcba98-existing-py.json"
    for path in (cut, rewritten, other_commit):
        path.write_text(json.dumps({"results": {"earlier run": 1}}))
    before = cut.read_text()
    with keep.commit_files_kept(tmp_path, commit, "token") as kept:
        assert set(kept) == {cut, rewritten}
        cut.write_text(before[:10])  # asv's in-place rewrite, cut by a full disk
        rewritten.write_text(json.dumps({"results": {"earlier run": 1, "this run": 2}}))
    assert cut.read_text() == before
    assert json.loads(rewritten.read_text())["results"] == {"earlier run": 1, "this run": 2}  # asv's own, kept
    assert f"asv could not write {cut} whole" in capsys.readouterr().err
    assert not (tmp_path / ".records").exists() or not any((tmp_path / ".records").iterdir())


@pytest.mark.slow
def test_move_damaged_restores_asvs_commit_file_from_the_archived_runs(smoke_results, tmp_path, capsys):
    _, work, _ = smoke_results
    copy = tmp_path / "results"
    shutil.copytree(work / "results", copy)
    [asv_file] = [p for p in copy.glob("*/*.json") if p.name != "machine.json"]
    [archive] = (copy / store.HISTORY).glob(f"*/*{store.ARCHIVE_SUFFIX}")
    expected = tidy.load(copy, REPO / "benchmarks")
    asv_file.write_bytes(asv_file.read_bytes()[:32768 // 8])  # cut short, as by a full disk
    with pytest.raises(store.DamagedResultFile, match="--move-damaged"):
        tidy.load(copy, REPO / "benchmarks")
    restored = tidy.load(copy, REPO / "benchmarks", move_damaged=True)
    err = capsys.readouterr().err
    assert f"rebuilt {asv_file} from 1 archived runs ({archive.name})" in err and str(copy / store.HISTORY) in err
    assert json.loads(asv_file.read_text()) == json.loads(archive.read_text())
    assert (copy / store.DAMAGED / asv_file.parent.name / f"{asv_file.name}.damaged").is_file()
    assert restored.equals(expected)


def test_a_results_folder_the_run_cannot_write_is_one_line_not_a_traceback(tmp_path):
    """What a read-only folder or a full disk does to the run's first write, the lock
    file, injected so that it fails for root too: the lock file is a folder."""
    from bench_lib.run.control import LOCK

    (tmp_path / "results" / LOCK).mkdir(parents=True)
    run = bench("--preset", "smoke", "--workloads", "grad", "--config", str(config_in(tmp_path)),
                "--allow-uncommitted", timeout=120)
    assert run.returncode == 1 and "error: the run stopped: [Errno 21] Is a directory" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
