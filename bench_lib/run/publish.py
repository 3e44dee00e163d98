"""asv's dashboard without a network: ``asv publish``, then its CDN scripts served
from the published folder.

asv 0.6's ``index.html`` loads jQuery, flot, bootstrap, stupidtable, blueimp-md5 and
flot-orderbars from CDNs (asv issue #669); offline it shows only "Can not determine
continental origin of swallow".  The suite ships those files (``dashboard_assets/``,
each package at the version asv names, with its licence) and rewrites the published
``index.html`` to load them from ``vendor/``.  asv in the virtualenv is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench_lib.core import files
from bench_lib.core.names import check_machine_name, neutral
from bench_lib.run.checkout import check_git_checkout

ASSETS = Path(__file__).with_name("dashboard_assets")
VENDOR = "vendor"


@dataclass(frozen=True)
class Asset:
    url: str  # what asv's index.html loads
    path: str  # the vendored file, relative to ASSETS
    origin: str  # where the vendored file comes from


# Where the vendored file is byte-identical to the CDN's, asv's own integrity
# attribute stays and the browser checks it; flot's CDN files are minified by the CDN,
# which npm's package does not ship, so those load the package's unminified files.
DASHBOARD_ASSETS = (
    Asset("https://code.jquery.com/jquery-3.3.1.min.js", "jquery-3.3.1/jquery.min.js", "npm jquery@3.3.1 dist/jquery.min.js"),
    *(
        Asset(
            f"https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/{name}.min.js",
            f"flot-0.8.3/{name}.js",
            f"npm flot@0.8.3 {name}.js",
        )
        for name in ("jquery.flot", "jquery.flot.time", "jquery.flot.selection", "jquery.flot.categories")
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js",
        "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
        "npm flot-orderbars@1.0.0 js/jquery.flot.orderBars.js",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js",
        "stupidtable-1.0.1/stupidtable.min.js",
        "Stupid-Table-Plugin git tag 1.0.1 stupidtable.min.js (npm's stupid-table-plugin has 1.1.3 only)",
    ),
    Asset(
        "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js",
        "blueimp-md5-2.19.0/md5.min.js",
        "npm blueimp-md5@2.19.0 js/md5.min.js",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js",
        "bootstrap-3.1.1/js/bootstrap.min.js",
        "npm bootstrap@3.1.1 dist/js/bootstrap.min.js",
    ),
    Asset(
        "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css",
        "bootstrap-3.1.1/css/bootstrap.min.css",
        "npm bootstrap@3.1.1 dist/css/bootstrap.min.css (its fonts beside it)",
    ),
)

# A <script src=...> or <link href=...> tag naming an absolute URL.
_EXTERNAL_TAG = re.compile(r"<(?:script|link)\b[^>]*?(?:src|href)=\"(https?://[^\"]+)\"[^>]*>", re.IGNORECASE)
_INTEGRITY = re.compile(r"\s+integrity=\"(sha\d+)-([^\"]+)\"")


def subresource_digest(path: Path, algorithm: str) -> str:
    """The file's digest as a Subresource Integrity attribute writes it."""
    return base64.b64encode(hashlib.new(algorithm, path.read_bytes()).digest()).decode()


def _local_tag(tag: str, asset: Asset) -> str:
    tag = tag.replace(asset.url, f"{VENDOR}/{asset.path}")
    integrity = _INTEGRITY.search(tag)
    if integrity and subresource_digest(ASSETS / asset.path, integrity.group(1)) != integrity.group(2):
        tag = _INTEGRITY.sub("", tag)
    return tag


def make_offline(html_dir: str | Path) -> list[str]:
    """Copy the vendored assets into the published dashboard and point its
    ``index.html`` at them; return the URLs replaced.  An external script or
    stylesheet the suite does not vendor (a newer asv's) is an error naming it, and
    then the page is left as asv wrote it."""
    index = Path(html_dir) / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"no published dashboard at {index}: run `asv publish` first")
    page = index.read_text()
    by_url = {asset.url: asset for asset in DASHBOARD_ASSETS}
    unknown = [url for url in _EXTERNAL_TAG.findall(page) if url not in by_url]
    if unknown:
        raise ValueError(
            f"{index} loads {', '.join(unknown)}, which {ASSETS} does not vendor; add it (package, version, "
            "licence) to bench_lib.run.publish.DASHBOARD_ASSETS"
        )
    replaced = []

    def local(match: re.Match) -> str:
        replaced.append(match.group(1))
        return _local_tag(match.group(0), by_url[match.group(1)])

    page = _EXTERNAL_TAG.sub(local, page)
    shutil.copytree(ASSETS, index.parent / VENDOR, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    files.write_text(index, page)
    return replaced


def publish(config: str = "asv.conf.json", repo: str | Path = ".", html_dir: str | Path | None = None, log=None,
            results_dir: str | Path | None = None) -> int:
    """``asv publish`` of the configuration's results folder, or ``results_dir`` (its
    output to ``log``, a file, where given), then the offline dashboard; asv's exit
    status.  A damaged result file stops it first, named: asv's publish would leave its
    commit out and exit 0.  The dashboard is made in a folder of its own beside
    ``html_dir`` and swapped in whole, under a lock: a reader or a second ``publish``
    never sees half a dashboard, and two at once take turns."""
    from asv.config import Config

    from bench_lib.reporting import store
    from bench_lib.run.asv_config import derived_config

    settings = Config.load(str(Path(repo) / config))
    if "://" not in settings.repo:  # a path, from the configuration's folder
        check_git_checkout((Path(repo) / config).resolve().parent / settings.repo)
    results_dir = Path(results_dir if results_dir is not None else Path(repo) / settings.results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no results folder {results_dir}")
    html_dir = Path(html_dir if html_dir is not None else Path(repo) / settings.html_dir).resolve()
    store.check_readable(results_dir)
    check_machines(results_dir)
    html_dir.parent.mkdir(parents=True, exist_ok=True)
    with _publishing(html_dir):
        staging = Path(tempfile.mkdtemp(prefix=f".{html_dir.name}-new-", dir=html_dir.parent))
        derived = derived_config(Path(repo), config, f"publish-{staging.name}", results_dir=results_dir)
        try:
            command = [sys.executable, "-m", "asv", "publish", "--config", derived, "--html-dir", str(staging)]
            status = subprocess.run(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT if log else None).returncode
            if status != 0:
                print(f"asv publish failed (exit {status})" + (f"; see {log.name}" if log else ""), file=sys.stderr)
                return status
            neutralise_machines(staging)
            replaced = make_offline(staging)
            _swap_in(staging, html_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            Path(derived).unlink(missing_ok=True)
    if log is None:
        print(f"dashboard: {html_dir}/index.html of {results_dir} ({len(replaced)} scripts and stylesheets served "
              f"from {VENDOR}/)")
    return 0


@contextlib.contextmanager
def _publishing(html_dir: Path):
    """One publish of ``html_dir`` at a time (``flock`` on a file beside it, which the
    kernel drops if its holder dies); a second waits its turn."""
    with open(html_dir.with_name(f".{html_dir.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _swap_in(new: Path, html_dir: Path) -> None:
    """Put the finished dashboard ``new`` where ``html_dir`` was: two renames, then the
    old one goes."""
    old = None
    if html_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{html_dir.name}-old-", dir=html_dir.parent))
        os.replace(html_dir, old / html_dir.name)
    os.replace(new, html_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_machines(results_dir: str | Path) -> None:
    """Every machine asv would publish has a safe name, as its folder and in its
    ``machine.json``: else a ValueError naming the file, before asv writes anything
    (asv puts the name into paths and into the dashboard's HTML)."""
    for info in sorted(Path(results_dir).glob("*/machine.json")):
        check_machine_name(info.parent.name, f"{info.parent} (a machine's results folder)")
        try:
            machine = json.loads(info.read_text()).get("machine")
        except (OSError, ValueError, AttributeError) as error:
            raise ValueError(f"{info}: not a machine description asv can read ({error})") from None
        check_machine_name(machine, str(info))


def neutralise_machines(html_dir: str | Path) -> int:
    """asv's dashboard builds each machine's tooltip as HTML from the machine's fields
    in the published ``index.json`` (its ``cpu``, ``os``, ... from ``machine.json``,
    which may come from another machine).  Their markup characters become entities
    there, in keys and values, so the tooltip shows them as text; ``results/`` is left
    as it is.  The number of fields changed."""
    index = Path(html_dir) / "index.json"
    published = json.loads(index.read_text())
    changed = 0
    for machine, fields in (published.get("machines") or {}).items():
        safe = {neutral(key): neutral(value) if isinstance(value, str) else value for key, value in fields.items()}
        changed += sum(1 for key, value in fields.items() if neutral(key) != key or safe[neutral(key)] != value)
        published["machines"][machine] = safe
    if changed:
        files.write_text(index, json.dumps(published))
    return changed
