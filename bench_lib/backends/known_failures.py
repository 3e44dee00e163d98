"""Known failures: support-table rules that skip a cell because of a framework bug, not
a missing feature, and what attempting those cells again found.

Such a rule carries a ``KnownFailure``: the framework whose bug it is, the versions it
was seen in, and the signature of today's failure (a regular expression over the
message a failed attempt gives).  ``verify --known-failures`` attempts each such cell
with the rule lifted, in a worker process that may crash, and files one ``Finding`` per
cell and framework version in ``<results>/known-failures/<framework>-<version>.findings``:

- ``still failing``: it failed with the signature (the message is today's);
- ``fixed``: it verified against the reference: from that version on the rule no
  longer applies to the cell, which is then an ordinary timed cell (and still verified
  before it is timed);
- ``changed``: it failed otherwise: the rule no longer describes it, so the cell runs
  and its new failure is shown as a failure, never as a skip.

A run's processes read the findings of the folder ``$BENCH_KNOWN_FAILURES`` names
(``bench`` sets it to its results folder's); without it every rule applies as written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from bench_lib.core import conditions, files
from bench_lib.core.cells import Cell

FOLDER = "known-failures"  # in a results folder
# JSON under a name asv's loader skips: asv reads every "*.json" below its results_dir as
# a result file of a machine.
SUFFIX = ".findings"
FOLDER_ENV = "BENCH_KNOWN_FAILURES"
RESULTS = ("still failing", "fixed", "changed")


@dataclass(frozen=True)
class KnownFailure:
    name: str  # stable and short: the findings are filed under it
    framework: str  # the backend whose release has the bug
    seen_in: tuple[str, ...]  # the releases it was seen failing in
    signature: str  # a regular expression that today's failure message matches
    tracker: str = ""  # where the bug is reported upstream, if anywhere

    def describe(self) -> str:
        return (f"known failure {self.name!r} of {self.framework} {', '.join(self.seen_in)}"
                + (f" ({self.tracker})" if self.tracker else ""))


@dataclass(frozen=True)
class Finding:
    known: str  # KnownFailure.name
    cell: str  # the cell's label
    framework: str
    version: str
    result: str  # one of RESULTS
    message: str  # the attempt's failure message; empty when it verified

    def __post_init__(self):
        if self.result not in RESULTS:
            raise ValueError(f"unknown known-failure result {self.result!r}; expected one of {RESULTS}")

    def describe(self) -> str:
        if self.result == "fixed":
            return f"fixed in {self.framework} {self.version}"
        return f"{self.result} in {self.framework} {self.version}" + (f": {self.message}" if self.message else "")


def classify(known: KnownFailure, cell: Cell, version: str, status: str, message: str) -> Finding:
    """What one attempt of a known-failure cell found (``status`` as verify reports it)."""
    if status == "verified":
        result, message = "fixed", ""
    elif re.search(known.signature, message or "", flags=re.IGNORECASE | re.DOTALL):
        result = "still failing"
    else:
        result = "changed"
    return Finding(known.name, cell.label, known.framework, version, result, (message or "")[:500])


def installed_version(backend: str) -> str | None:
    """The installed release of ``backend``'s framework (without importing it)."""
    return conditions.framework_versions(backend).get(backend)


def _path(folder: Path, framework: str, version: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{framework}-{version}")
    return Path(folder) / f"{safe}{SUFFIX}"


def write(folder: Path, findings: list[Finding]) -> list[Path]:
    """File the findings, one file per framework release; a cell found again replaces
    its earlier finding of that release, the others stay."""
    written = []
    by_release: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        by_release.setdefault((finding.framework, finding.version), []).append(finding)
    for (framework, version), new in by_release.items():
        path = _path(folder, framework, version)
        kept = {(f.known, f.cell): f for f in read_file(path)}
        kept.update({(f.known, f.cell): f for f in new})
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, json.dumps([asdict(f) for f in kept.values()], indent=1))
        written.append(path)
    return written


def read_file(path: Path) -> list[Finding]:
    """The findings of one file; none if it does not exist.  A damaged file is an error
    that names it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    try:
        return [Finding(**entry) for entry in json.loads(text)]
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a file of known-failure findings ({type(error).__name__}: {error})") from error


def read(folder: Path) -> list[Finding]:
    return [finding for path in sorted(Path(folder).glob(f"*{SUFFIX}")) for finding in read_file(path)]


def _version(text: str) -> Version | None:
    try:
        return Version(conditions.release(text))
    except InvalidVersion:
        return None


def finding_for(known: KnownFailure, cell: Cell, folder: Path | None = None) -> Finding | None:
    """The finding that decides the cell under the installed release: the one filed for
    that release, else the newest one filed for an older release if that one says
    fixed ("from that version on"); None when nothing was filed (the rule applies)."""
    folder = folder if folder is not None else _folder()
    if folder is None or not Path(folder).is_dir():
        return None
    installed = installed_version(known.framework)
    if installed is None or _version(installed) is None:
        return None
    mine = [f for f in read(folder) if f.known == known.name and f.cell == cell.label and _version(f.version)]
    same = [f for f in mine if _version(f.version) == _version(installed)]
    if same:
        return same[-1]
    older = sorted((f for f in mine if _version(f.version) < _version(installed)), key=lambda f: _version(f.version))
    return older[-1] if older and older[-1].result == "fixed" else None


def _folder() -> Path | None:
    value = os.environ.get(FOLDER_ENV, "").strip()
    return Path(value) if value else None
