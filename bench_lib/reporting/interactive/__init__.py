"""The interactive report: one self-contained HTML page (Bokeh, its JavaScript inline,
nothing loaded from elsewhere) that opens on an overview and has a section per
workload with selectors for the case, and every cell in a sortable, filterable table.

``page(table, peaks)`` returns the page's text; ``reporting/page.py`` writes it beside
the Markdown summary, its PNG figures, and the tidy table as CSV and Parquet.
"""

from __future__ import annotations

import html

import pandas as pd
from bokeh.core.templates import get_env
from bokeh.embed import file_html
from bokeh.resources import INLINE

from bench_lib.core import workloads
from bench_lib.reporting import releases, tidy
from bench_lib.reporting.interactive import data, overview, pairs, sections, style, tables
from bench_lib.reporting.interactive import release_history
from bench_lib.reporting.summary import run_notes
from bench_lib.reporting.views import achieved_flops, runs

TITLE = "Higher-order AD benchmarks: report"

_TEMPLATE = get_env().from_string("""{% extends base %}
{% block postamble %}<style>{{ css }}
nav { position: sticky; top: 0; background: #fff; padding: 8px 0; border-bottom: 1px solid #ddd; z-index: 10; }
nav a { margin-right: 14px; text-decoration: none; color: #2f6fb0; font-weight: 600; }
section { margin-top: 28px; }
h2 { border-bottom: 2px solid #eee; padding-bottom: 4px; }
table.runs { border-collapse: collapse; font-size: 13px; }
table.runs td, table.runs th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
</style>{% endblock %}
{% block contents %}
<h1>Higher-order AD benchmarks</h1>
<nav>{{ nav }}</nav>
<section id="overview"><h2>Overview</h2>
{{ runs }}
<h3>Fastest backend per case</h3>
<p class="note">Each row is a case; each column a backend's best mode and execution among the times that can be trusted
(verified, neither unstable, contended nor implausible) and that compute every output exactly. The number is its time
over the case's fastest: green at 1.00x, red at 10x and beyond; grey where the backend has no such time (hover for the
status). CPU and GPU cases, and strict and tf32 ones, are rows of their own.</p>
{{ embed(roots.matrix) }}
<h3>HVP cost in gradients</h3>
<p class="note">Each HVP mode's best time over the same backend's best gradient at the same case. AD theory bounds an HVP
by a small constant number of gradients; the dashed line is at {{ bound }}.</p>
{{ embed(roots.hvp_cost) }}
<h3>Achieved FLOP/s against the measured peak</h3>
<p class="note">Counted FLOPs (bench_lib/reporting/flops.py) over the time, as a share of the machine's measured peak
for the dtype; above 1 would be a measurement error.</p>
{{ embed(roots.flops) }}
<h3>Verification margins</h3>
<p class="note">Every timed cell matched the float64 reference first: its largest error over its tolerance (at most 1)
per block of output.</p>
{{ embed(roots.margins) }}
<h3>CPU and GPU side by side</h3>
<p class="note">A case on the CPU beside the same case on a GPU (strict precision): each backend's best trusted time that
computes every output, with its mode, execution and machine, and the GPU's speed-up.</p>
{{ embed(roots.pairs_device) }}
<h3>Strict against tf32</h3>
<p class="note">A GPU case at strict float32 beside tf32 matmuls (NVIDIA's tensor-core format): each backend's best, and
tf32's speed-up (its cells are verified against the reference with the same tolerances).</p>
{{ embed(roots.pairs_precision) }}
{% if releases %}<h3 id="releases">Each framework's trend across its releases</h3>
<p class="note">The history preset in one environment per framework release (make history): a cell's time against its
framework's release, with its interquartile range (grey or red: skipped or failed there, hover for the reason). Below,
the cells that changed between consecutive releases beyond 1.1x with interquartile ranges apart, regressions first.
Every other view shows the suite's own environment (its pinned versions) only.</p>
{{ embed(roots.section_releases) }}{% endif %}
</section>
{% for workload in workloads %}
<section id="{{ workload.name }}"><h2>{{ workload.name }}: {{ workload.description }}</h2>
<p class="note">Choose the case above the chart. A bar per backend, mode and execution: asv's median with its
interquartile range, the fastest in green; skipped cells short and grey, failed ones red (hover for the reason).</p>
{{ embed(roots[workload.root]) }}
{% if workload.scaling %}<h3>{{ workload.scaling_title }}</h3><p class="note">{{ scaling_note }}</p>
{{ embed(roots[workload.scaling]) }}{% endif %}
</section>
{% endfor %}
<section id="cells"><h2>Every cell</h2>
<p class="note">Each cell's latest measurement. Click a column's title to sort; "asv" opens the cell's page on the
dashboard.</p>
{{ embed(roots.tables) }}
</section>
<section id="files"><h2>Files</h2>
<p>The full tidy table: <a href="results.csv">results.csv</a>, <a href="results.parquet">results.parquet</a>.
For readers without a browser: <a href="summary.md">summary.md</a> and the figures in <a href="figures/">figures/</a>.
asv's dashboard (per commit): <a href="{{ dashboard }}">{{ dashboard }}</a>.</p>
</section>
{% endblock %}""")


def page(table: pd.DataFrame, peaks: dict | None = None, benchmark_dir="benchmarks",
         dashboard: str = "../../html/index.html") -> str:
    """The report page for ``table`` (every run it holds): figures and tables show each
    cell's latest measurement per machine in the suite's own environment; the release
    section, the runs of the release matrix (environments asv built, one release each)."""
    release_root = release_history.section(table)
    table, _ = releases.split(table)
    cells = data.cells(table, benchmark_dir)
    if cells.empty:
        raise ValueError("no timed cells to report")
    roots = [overview.matrix(cells), overview.hvp_cost(cells),
             overview.flops_against_peak(achieved_flops(tidy.latest_measurements(table), peaks)),
             overview.margins(cells), pairs.table(cells, "device"), pairs.table(cells, "precision")]
    if release_root is not None:
        roots.append(release_root)
    shown = []
    for name in workloads.WORKLOADS:
        if not (cells.workload == name).any():
            continue
        entry = {"name": name, "description": workloads.get(name).description, "root": f"section_{name}"}
        roots.append(sections.case_chart(cells, name))
        scaling = {"hessian": (sections.hessian_scaling, "Time and peak memory against n"),
                   "unrolled": (sections.unrolled_scaling, "Time and peak memory against K")}.get(name)
        if scaling:
            panels = scaling[0](cells)
            panels.name = f"scaling_{name}"
            roots.append(panels)
            entry.update(scaling=panels.name, scaling_title=scaling[1])
        shown.append(entry)
    roots.append(tables.cells_table(cells, dashboard))
    nav = " ".join(f'<a href="#{target}">{label}</a>' for target, label in
                   [("overview", "Overview"), *((w["name"], w["name"]) for w in shown),
                    *((("releases", "releases"),) if release_root is not None else ()), ("cells", "Every cell"),
                    ("files", "Files")])
    return file_html(roots, INLINE, TITLE, template=_TEMPLATE, template_variables={
        "nav": nav, "runs": _runs_html(table), "workloads": shown, "bound": f"{style.HVP_BOUND:g} gradients",
        "scaling_note": sections.scaling_note(), "dashboard": dashboard, "css": style.PAGE_CSS,
        "releases": release_root is not None,
    })


def _runs_html(table: pd.DataFrame) -> str:
    """The runs behind the page: machine, commit, start, how each ended, the files that
    differed from its commit, cells by status; and a word on each run whose numbers
    need one (it did not run to its end, or ran uncommitted code)."""
    described = runs(table)
    statuses = [s for s in tidy.STATUSES if s in described.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (
        "machine", "commit", "started (UTC)", "ended", "uncommitted code", *statuses))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            row.machine, row.commit, f"{row.started:%Y-%m-%d %H:%M}", row.run_state,
            row.uncommitted if pd.notna(row.uncommitted) else "", *(row[s] for s in statuses)))
        + "</tr>" for _, row in described.iterrows())
    notes = "".join(f"<p class='note'>{html.escape(note.replace('`', ''))}</p>" for note in run_notes(table))
    return f"<table class='runs'><tr>{head}</tr>{body}</table>{notes}"
