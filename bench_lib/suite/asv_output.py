"""Every pattern the suite reads in asv's console output, in one place.

asv 0.6 keeps no reason for a failed benchmark (its stored result is null) and no
exit status of its processes: what happened to a process is only in what asv prints.
So the suite reads asv's console output for four things: the progress lines it echoes
to the user, the "For parameters:" blocks that say why a combination failed, the
timeout message, and the median in the table of a one-benchmark run.  The patterns
are those of asv ``ASV_SERIES``; tests/test_asv_output.py holds them against recorded
asv output.
"""

from __future__ import annotations

import re

from bench_lib.core import memory_exhaustion

ASV_SERIES = "0.6"  # the asv release series whose output these patterns read

# "[ 61.54%] ··· hvp.MlpHVP.time_hvp   1/648 failed": a benchmark's results begin.  On
# a narrow terminal asv cuts the name from the left: "··· ....RosenbrockHessianChecks.
# track_error" (asv_runner.console.truncate_left).
BENCHMARK_LINE = re.compile(r"^\[\s*[\d.]+%\] ·{3} (?P<name>(?:\.{3})?\.?\w+(?:\.\w+)+)(?:\s|$)")
SHORTENED = "..."
# "For parameters: 'jax', 'fwd_rev', ..." (indented, or after "[ 61.54%] ····")
PARAMETERS = re.compile(r"For parameters: (?P<params>.*)$")
TIMED_OUT = "asv: benchmark timed out"
_TIMEOUT_LIMIT = re.compile(r"timed out \(timeout ([\d.]+)s\)")
_SKIPPED = "asv: skipped"
# one row of asv's table: "... 3.72±0.2ms" or "505±30μs"
_UNITS = {"ns": 1e-9, "μs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_VALUE = re.compile(r"(\d+(?:\.\d+)?)(?:±\d+(?:\.\d+)?)?(ns|μs|us|ms|s)\s*$")


def supported(version: str) -> bool:
    """Whether asv ``version`` prints what these patterns read."""
    return version == ASV_SERIES or version.startswith(ASV_SERIES + ".")


def failure_texts(log_text: str, names=()) -> dict[tuple[str, str], str]:
    """(benchmark name, parameter reprs as asv prints them) -> what asv printed for that
    combination: the blocks after ``For parameters:`` in asv's output.  A name asv
    shortened is read as the one of ``names`` it ends (as printed, if none or several
    do), so that its blocks never run on into the benchmark before it."""
    found: dict[tuple[str, str], list[str]] = {}
    benchmark, current = None, None
    for line in log_text.splitlines():
        matched = BENCHMARK_LINE.match(line)
        if matched:
            benchmark, current = full_name(matched.group("name"), names), None
            continue
        stripped = line.strip()
        parameters = PARAMETERS.search(stripped)
        if benchmark and parameters:
            current = found.setdefault((benchmark, parameters.group("params").strip()), [])
        elif current is not None and stripped:
            current.append(stripped)
    return {key: "\n".join(lines) for key, lines in found.items()}


def full_name(printed: str, names) -> str:
    """The benchmark of ``names`` whose name asv printed shortened (``...`` and the
    name's end); ``printed`` itself when it is whole or matches no single name."""
    if not printed.startswith(SHORTENED):
        return printed
    tail = printed[len(SHORTENED):]
    matches = [name for name in names if name.endswith(tail)]
    return matches[0] if len(matches) == 1 else printed


_EXIT_STATUS = re.compile(r"asv: benchmark failed \(exit status (-?\d+)\)")


def classify(text: str, oom_kills: int = 0) -> tuple[str, str]:
    """(status, reason) of a process asv reported as failed, from what it printed;
    ``oom_kills``: how many processes the kernel's OOM killer killed while its
    workload ran (a process it kills dies by SIGKILL, without a word)."""
    if TIMED_OUT in text:
        limit = _TIMEOUT_LIMIT.search(text)
        return "timeout", f"the process was stopped after {limit.group(1) if limit else 'its'} s (asv's timeout)"
    said = memory_exhaustion.in_text(text)
    if said:
        return "oom", f"out of memory: {said}"
    status = _EXIT_STATUS.search(text)
    if oom_kills and status and int(status.group(1)) == memory_exhaustion.SIGKILL_EXIT:
        return "oom", (f"out of memory: killed by SIGKILL while the kernel's OOM killer killed {oom_kills} processes "
                       "(/proc/vmstat)")
    words = _last_words(text)
    return "crashed", f"the process died without a result ({words})" if words else "the process died without a result"


def _last_words(text: str, containing: str = "") -> str:
    lines = [line for line in text.splitlines() if line and not line.startswith(_SKIPPED)]
    chosen = [line for line in lines if containing in line] if containing else lines
    return (chosen or lines or [""])[-1][:300]


def parse_time(line: str) -> float | None:
    """The median in seconds from one row of asv's table (``3.72±0.2ms``, ``505±30μs``)."""
    match = _VALUE.search(line.rstrip())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def table_time(stdout: str, values) -> float | None:
    """The median asv printed for the parameter ``values`` in the table of a
    one-benchmark run (its row starts with the values as asv prints them)."""
    printed = [str(value) for value in values]
    for line in stdout.splitlines():
        if line.split()[: len(printed)] == printed:
            return parse_time(line)
    return None
