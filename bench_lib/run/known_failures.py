"""``python -m bench_lib verify --known-failures``: the cells that known-failure rules
skip (``backends/known_failures.py``), attempted again with the rule lifted, in worker
processes that may crash (a segfault is reported with the process's exit status), each
attempt filed as still failing, fixed or changed for the installed framework release.
``make history`` runs it in every release's environment before timing."""

from __future__ import annotations

import collections
from pathlib import Path

from bench_lib import backends
from bench_lib.backends import known_failures, support
from bench_lib.run import verify_preset


def attempt(cells, results_dir: Path) -> int:
    """Attempt every known-failure cell among ``cells`` whose framework is installed,
    print a line each and the counts, and file the findings in
    ``results_dir/known-failures/``.  Exit status 0 once every attempt is filed (a
    changed failure is news, not an error of the check)."""
    targets = [(cell, known) for cell in cells if (known := support.known_failure_of(cell)) is not None]
    absent = sorted({known.framework for _, known in targets if backends.not_installed_reason(known.framework)})
    for framework in absent:
        print(f"{framework} is not installed here: its known failures are not attempted")
    targets = [(cell, known) for cell, known in targets if known.framework not in absent]
    if not targets:
        print("no known-failure cell of an installed framework among the cells asked for")
        return 0
    findings = []
    counts = collections.Counter()
    for index, ((cell, known), outcome) in enumerate(
            zip(targets, verify_preset.outcomes([cell for cell, _ in targets], lift_known=True)), 1):
        version = known_failures.installed_version(known.framework)
        finding = known_failures.classify(known, cell, version, outcome.status, outcome.message or outcome.reason or "")
        findings.append(finding)
        counts[finding.result] += 1
        print(f"[{index}/{len(targets)}] {finding.result:13s} {cell.label:58s} {known.name}: {_said(finding)}",
              flush=True)
    folder = Path(results_dir) / known_failures.FOLDER
    for path in known_failures.write(folder, findings):
        print(f"findings: {path}")
    print(", ".join(f"{counts[result]} {result}" for result in known_failures.RESULTS))
    return 0


def _said(finding: known_failures.Finding) -> str:
    if finding.result == "fixed":
        return f"verified: fixed in {finding.framework} {finding.version}"
    return f"{finding.framework} {finding.version}: {finding.message[:200]}"

