"""The release history in the report: runs of environments asv built (one framework
release each) stay apart from the suite's own environment, and each history cell's time
is drawn against its release, with the changes between consecutive releases."""

from conftest import time_row

from bench_lib.reporting import releases, summary, tidy
from bench_lib.reporting.interactive import page

OWN = "installed-py3.11-jax0.10.2-jaxlib0.10.2-BENCH_THREADS2"


def _release(version: str, value: float, spread: float = 0.01, **changes) -> dict:
    return time_row(env_name=f"virtualenv-py3.11-jax{version}-jaxlib{version}-threadpoolctl3.8.0-BENCH_THREADS2",
                    jax=version, jaxlib=version, run_id=f"history-{version}", value=value,
                    q_25=value * (1 - spread), q_75=value * (1 + spread), **changes)


def _table():
    return tidy.from_rows([
        time_row(env_name=OWN, jax="0.10.2", value=1e-3, q_25=0.99e-3, q_75=1.01e-3),
        _release("0.10.2", 2e-3, spread=0.6),  # noisy: its change is not beyond the noise
        _release("0.8.3", 1e-3), _release("0.9.2", 1.02e-3), _release("0.10.1", 1.03e-3),
    ])


def test_the_suites_own_environment_and_the_release_matrix_are_told_apart():
    own, built = releases.split(_table())
    assert list(own.env_name) == [OWN] and len(built) == 4
    only_releases = tidy.from_rows([_release("0.9.2", 1e-3)])
    assert len(releases.split(only_releases)[0]) == 1  # a folder of release runs alone reports them


def test_a_cells_time_against_its_release_in_version_order():
    trend = releases.trend(_table())
    assert list(trend.release) == ["0.8.3", "0.9.2", "0.10.1", "0.10.2"]  # 0.10 after 0.9, not before
    assert set(trend.cell) == {"hvp mlp S fwd_rev eager float32"}


def test_changes_between_consecutive_releases_beyond_the_noise_regressions_first():
    found = releases.changes(releases.trend(_table()))
    assert set(found.verdict) == {"same"}  # 0.10.2's spread reaches 0.10.1's: not beyond the noise
    quiet = tidy.from_rows([_release("0.10.1", 1e-3), _release("0.10.2", 2e-3), _release("0.9.2", 1.5e-3)])
    found = releases.changes(releases.trend(quiet))
    assert list(zip(found.verdict, found.old, found["new"])) == [
        ("regression", "0.10.1", "0.10.2"), ("improvement", "0.9.2", "0.10.1")]
    assert abs(found.iloc[0].ratio - 2.0) < 1e-9


def test_the_page_draws_the_releases_apart_and_the_overview_keeps_the_own_environment():
    text = page(_table())
    assert "section_releases" in text and 'href="#releases"' in text
    assert "0.8.3" in text and "releases_changes" in text
    assert "history-0.8.3" not in text  # the overview's runs table lists the own environment's run only
    markdown = summary.releases_markdown(_table())
    assert "## Framework releases" in markdown and "| cell | 0.8.3 | 0.9.2 | 0.10.1 | 0.10.2 |" in markdown
    assert page(tidy.from_rows([time_row(env_name=OWN)])).count("section_releases") == 0


def test_cpu_beside_gpu_and_strict_beside_tf32_when_both_exist():
    from bench_lib.reporting.interactive import data, pairs

    rows = [
        time_row(env_name=OWN, machine="xeon", value=10e-3, q_25=10e-3, q_75=10e-3),
        time_row(env_name=OWN, machine="h200", device="gpu", value=1e-3, q_25=1e-3, q_75=1e-3),
        time_row(env_name=OWN, machine="h200", device="gpu", precision="tf32", value=0.5e-3, q_25=0.5e-3,
                 q_75=0.5e-3),
        time_row(env_name=OWN, machine="h200", device="gpu", mode="rev_rev", value=0.8e-3, q_25=0.8e-3, q_75=0.8e-3),
    ]
    cells = data.cells(tidy.from_rows(rows))
    device = pairs.pairs(cells, "device")
    assert len(device) == 1 and (device.machine_a[0], device.machine_b[0]) == ("xeon", "h200")
    assert device["mode_b"][0] == "rev_rev" and abs(device.speedup[0] - 12.5) < 1e-9  # the GPU's best mode
    precision = pairs.pairs(cells, "precision")
    assert len(precision) == 1 and abs(precision.speedup[0] - 1.6) < 1e-9
    only_cpu = data.cells(tidy.from_rows(rows[:1]))
    assert pairs.pairs(only_cpu, "device").empty
    assert "No case has both CPU and GPU" in pairs.table(only_cpu, "device").text


def test_the_summary_lists_the_largest_regressions_and_the_largest_improvements_apart():
    rows = [_release("0.8.3", 1e-3), _release("0.9.2", 3e-3), _release("0.10.1", 1.2e-3), _release("0.10.2", 1e-3)]
    rows += [_release(v, t, model="cnn") for v, t in (("0.8.3", 4e-3), ("0.9.2", 1e-3), ("0.10.1", 1.5e-3),
                                                        ("0.10.2", 1.5e-3))]
    markdown = summary.releases_markdown(tidy.from_rows(rows), shown_changes=1)
    regressions, improvements = markdown.split("Regressions between")[1].split("Improvements between")
    assert "the 1 largest of 2" in regressions and "| 0.8.3 | 0.9.2 | 3.00x |" in regressions
    assert "the 1 largest of 3" in improvements and "| 0.8.3 | 0.9.2 | 0.25x |" in improvements
