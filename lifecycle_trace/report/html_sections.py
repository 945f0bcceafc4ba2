"""The sections of the HTML report (see `html.py`), each a function returning escaped HTML.

Figures copied from the report carry `data-metric`/`data-value`; figures the page derives
(phase split, cost shares) carry `data-derived` instead, so nobody mistakes them for report
values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lifecycle_trace.report.html_charts import (
    empty_chart,
    esc,
    fmt_time,
    histogram_svg,
    stacked_time_svg,
)
from lifecycle_trace.report.html_timeline import (
    INIT_COLOR,
    POST_COLOR,
    RESTORE_COLOR,
    STATUS_COLORS,
    Timeline,
)
from lifecycle_trace.schema import FINDING_KINDS

MAX_FINDINGS = 1000
MAX_EVIDENCE_LINES = 20
MAX_EVIDENCE_CHARS = 2000
MAX_ENVIRONMENT_ROWS = 200
TOP_INVOCATIONS = 25
COLD_BUCKETS = 48
ENVIRONMENT_COLUMNS = ("environment", "function", "version", "first_seen", "last_seen",
                       "invocations", "cold_starts", "init_ms", "init_type", "cold_cause",
                       "cold_start_cause", "idle_gaps", "idle_gap_max_s", "idle_gap_total_s",
                       "timeouts", "errors", "crashes", "billed_ms", "ended",
                       "end_reason")  # fmt: skip


def clean(value: Any) -> Any:
    """The value with non-finite floats (NaN, inf) turned into None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def embed_json(value: object) -> str:
    """JSON safe inside a `<script>` element: no `<`, `>`, `&` or line separators."""
    text = json.dumps(clean(value), default=str)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escaped)
    return text


def format_value(value: Any, style: str) -> str:
    """How a figure reads on the page; `—` for null."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if not math.isfinite(value):
        return "—"
    if style == "int":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if style == "pct":
        return f"{value * 100:.1f}%"
    if style == "ms":
        return f"{value:,.0f} ms" if float(value).is_integer() else f"{value:,.2f} ms"
    if style == "usd":
        return f"${value:,.6f}" if abs(value) < 1 else f"${value:,.2f}"
    if style == "rate":  # per-unit prices: keep every significant digit
        return f"${value:.10f}".rstrip("0")
    return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.1f}"


def figure(path: str, value: Any, style: str) -> str:
    """One report figure: visible text plus `data-metric`/`data-value` for checking."""
    return (
        f'<span class="figure" data-metric="{esc(path)}" '
        f'data-value="{esc(json.dumps(clean(value)))}">{esc(format_value(value, style))}</span>'
    )


def derived(name: str, value: float, style: str) -> str:
    """A figure computed by the page (not in the JSON report)."""
    return (
        f'<span class="derived" data-derived="{esc(name)}" '
        f'data-value="{esc(json.dumps(clean(value)))}">'
        f"{esc(format_value(value, style))}</span>"
    )


def header(report_json: dict[str, Any], rows: int) -> str:
    functions = sorted(
        {str(f["function"]) for f in report_json.get("functions") or [] if f.get("function")}
    )
    subtitle = ", ".join(functions[:6]) + (" …" if len(functions) > 6 else "")
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("summary", "Summary"),
            ("timeline", "Timeline"),
            ("distributions", "Durations"),
            ("coldstarts", "Cold starts"),
            ("cost", "Cost"),
            ("findings", "Findings"),
        )  # fmt: skip
    )
    return (
        f'<header><h1>lctrace report</h1><p class="sub">{esc(subtitle or "no function named")}'
        f" · schema {esc(report_json.get('schema', '?'))} · {rows:,} invocation rows</p>"
        f"<nav>{nav}</nav></header>"
    )


def sources_table(sources: Sequence[dict[str, Any]]) -> str:
    if not sources:
        return ""
    rows = "".join(
        f"<tr><td>{esc(source.get('path'))}</td><td>{esc(source.get('format'))}</td>"
        f"<td>{figure(f'sources.{i}.records', source.get('records'), 'int')}</td>"
        f"<td>{figure(f'sources.{i}.skipped', source.get('skipped'), 'int')}"
        f"{_skip_reasons(source.get('errors'))}</td></tr>"
        for i, source in enumerate(sources)
    )
    return (
        '<section id="sources"><h2>Sources</h2><table class="sortable"><thead><tr><th>File</th>'
        f"<th>Format</th><th>Records</th><th>Skipped</th></tr></thead><tbody>{rows}</tbody>"
        "</table></section>"
    )


def _skip_reasons(errors: Any) -> str:
    """Why records were skipped (file:line: what was expected), capped like evidence."""
    if not errors:
        return ""
    lines = [str(error) for error in (errors if isinstance(errors, list) else [errors])]
    return f"<details><summary>why</summary>{_evidence(lines)}</details>"


def _swatch(color: str, label: str, pattern: bool = False) -> str:
    cls = "swatch stuckswatch" if pattern else "swatch"
    return f'<span class="{cls}" style="background:{color}"></span>{esc(label)}'


def timeline_section(timeline: Timeline, environments: pd.DataFrame | None) -> str:
    legend = " ".join(
        [_swatch(INIT_COLOR, "init"), _swatch(RESTORE_COLOR, "restore")]
        + [_swatch(color, status) for status, color in STATUS_COLORS.items()]
        + [
            _swatch(POST_COLOR, "post-response"),
            _swatch("#dc2626", "stuck", True),
            '<span class="idle-sample"></span>idle gap',
        ]  # fmt: skip
    )
    notice = f'<p class="notice" id="timeline-notice">{esc(timeline.notice)}</p>'
    body = timeline.svg or empty_chart("No timed invocations.")
    return (
        '<section id="timeline"><h2>Execution environments</h2>'
        f'<p class="legend">{legend}</p>{notice if timeline.notice else ""}'
        f'<div class="scroll">{body}</div>{_environments_table(environments)}</section>'
    )


def _environments_table(environments: pd.DataFrame | None) -> str:
    if environments is None or environments.empty:
        return ""
    columns = [c for c in ENVIRONMENT_COLUMNS if c in environments.columns]
    if not columns:
        return ""
    shown = environments.head(MAX_ENVIRONMENT_ROWS)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in shown.iterrows()
    )
    more = (
        f'<p class="notice">Showing the first {MAX_ENVIRONMENT_ROWS:,} of '
        f"{len(environments):,} environments.</p>"
        if len(environments) > MAX_ENVIRONMENT_ROWS
        else ""
    )
    return (
        f"<details><summary>Environments table ({len(environments):,})</summary>{more}"
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        "</details>"
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def distributions(frame: pd.DataFrame, summary: dict[str, Any], extra: str = "") -> str:
    def markers(key: str) -> dict[str, float | None]:
        stats = summary.get(key) if isinstance(summary.get(key), dict) else {}
        return {name: stats.get(name) for name in ("p50", "p90", "p99")}

    durations = frame["duration_ms"].dropna().to_numpy(dtype=float)
    inits = frame["init_ms"][frame["init_ms"] > 0].to_numpy(dtype=float)
    return (
        '<section id="distributions"><h2>Durations</h2><div class="pair">'
        f"<figure><figcaption>Invocation duration</figcaption>"
        f"{histogram_svg(durations, label='duration', markers=markers('duration_ms'))}</figure>"
        f"<figure><figcaption>Init duration (cold starts)</figcaption>"
        f"{histogram_svg(inits, label='init duration', markers=markers('init_ms'))}</figure>"
        f"</div>{extra}</section>"
    )


def top_invocations(frame: pd.DataFrame) -> str:
    """The invocations that were billed the most, with their phases: where to look first."""
    billed = frame[frame["billed_ms"].notna()]
    if billed.empty:
        return ""
    top = billed.nlargest(TOP_INVOCATIONS, "billed_ms")
    columns = (("billed_ms", "Billed"), ("duration_ms", "Duration"), ("init_ms", "Init"),
               ("handler_ms", "Handler"), ("post_response_ms", "Post-response"))  # fmt: skip
    head = "".join(f"<th>{label}</th>" for _, label in columns)
    rows = []
    for row in top.itertuples(index=False):
        cells = "".join(
            f'<td data-sort="{_cell(getattr(row, name)).replace(",", "")}">'
            f"{esc(_ms_cell(getattr(row, name)))}</td>"
            for name, _ in columns
        )
        rows.append(
            f'<tr><td class="mono">{esc(row.request_id if isinstance(row.request_id, str) else "")}'
            f"</td><td>{esc(row.function if isinstance(row.function, str) else '')}</td>"
            f"<td>{esc(row.status)}</td><td>{'cold' if row.cold else ''}</td>{cells}</tr>"
        )
    return (
        f"<details><summary>The {len(top)} most billed invocations</summary>"
        '<div class="scroll-x"><table class="sortable"><thead><tr><th>Request</th>'
        f"<th>Function</th><th>Status</th><th></th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _ms_cell(value: Any) -> str:
    return "" if value is None or value != value else f"{value:,.2f} ms"


def cold_starts_over_time(frame: pd.DataFrame, summary: dict[str, Any] | None = None) -> str:
    timed = frame[frame["start_ms"].notna()]
    cold = timed[timed["cold"]]
    if cold.empty:
        body = empty_chart("No cold starts in this input.")
    else:
        low, high = float(timed["start_ms"].min()), float(timed["start_ms"].max())
        bucket_ms = max((high - low) / COLD_BUCKETS, 1.0)
        buckets = min(int((high - low) // bucket_ms) + 1, COLD_BUCKETS)
        index = np.clip(((cold["start_ms"] - low) // bucket_ms).astype(int), 0, buckets - 1)
        causes = cold["cold_cause"].fillna(cold["cold_source"]).fillna("unknown").astype(str)
        series = {
            cause: np.bincount(index[causes == cause], minlength=buckets)
            for cause in causes.value_counts().index
        }
        starts = low + np.arange(buckets) * bucket_ms
        body = stacked_time_svg(starts, bucket_ms, series, label="cold starts by cause")
    totals = ""
    for key, label in (("cold_starts_by_cause", "By cause"), ("cold_starts_by_type", "By type")):
        counts = (summary or {}).get(key)
        if isinstance(counts, dict) and counts:
            items = " · ".join(
                f"{esc(name)} {figure(f'summary.{key}.{name}', value, 'int')}"
                for name, value in counts.items()
            )
            totals += f'<p class="bycause"><strong>{label}:</strong> {items}</p>'
    return (
        f'<section id="coldstarts"><h2>Cold starts over time, by cause</h2>{totals}{body}</section>'
    )


def rank(kind: str) -> int:
    return FINDING_KINDS.index(kind) if kind in FINDING_KINDS else len(FINDING_KINDS)


def _evidence(evidence: Any) -> str:
    if evidence is None:
        return ""
    items = evidence if isinstance(evidence, list) else [evidence]
    lines = [
        item if isinstance(item, str) else json.dumps(clean(item), default=str, sort_keys=True)
        for item in items
    ]
    shown = [
        line if len(line) <= MAX_EVIDENCE_CHARS else line[:MAX_EVIDENCE_CHARS] + " …(truncated)"
        for line in lines[:MAX_EVIDENCE_LINES]
    ]
    if len(lines) > MAX_EVIDENCE_LINES:
        shown.append(f"… {len(lines) - MAX_EVIDENCE_LINES} more lines in the JSON report")
    return f'<pre class="evidence">{esc(chr(10).join(shown))}</pre>'


def findings_section(findings: Sequence[dict[str, Any]]) -> str:
    if not findings:
        return '<section id="findings"><h2>Findings</h2><p class="empty">No findings.</p></section>'
    kinds = sorted({str(f.get("kind")) for f in findings}, key=rank)
    options = '<option value="">all kinds</option>' + "".join(
        f'<option value="{esc(k)}">{esc(k)}</option>' for k in kinds
    )
    rows = []
    for index, finding in enumerate(findings[:MAX_FINDINGS]):
        kind = str(finding.get("kind"))
        position = rank(kind)
        environment = esc(finding.get("environment") or "")
        rows.append(
            f'<tr data-kind="{esc(kind)}" data-environment="{environment}">'
            f'<td data-sort="{position}"><span class="kind k-{position}">{esc(kind)}</span></td>'
            f"<td>{esc(finding.get('severity') or '')}</td>"
            f"<td>{esc(finding.get('function') or '')}</td>"
            f'<td class="mono">{esc(finding.get("environment") or "")}</td>'
            f'<td class="mono">{esc(finding.get("request_id") or "")}</td>'
            f'<td data-sort="{esc(finding.get("billed_ms") or 0)}">'
            f"{figure(f'findings.{index}.billed_ms', finding.get('billed_ms'), 'ms')}"
            + (
                f"<br>{figure(f'findings.{index}.cost_usd', finding['cost_usd'], 'usd')}"
                if "cost_usd" in finding
                else ""
            )
            + "</td><td>"
            + (f'<p class="msg">{esc(finding["message"])}</p>' if finding.get("message") else "")
            + f"{_evidence(finding.get('evidence'))}</td></tr>"
        )
    capped = (
        f'<p class="notice">Showing the first {MAX_FINDINGS:,} of {len(findings):,} findings; '
        "the JSON report has them all.</p>"
        if len(findings) > MAX_FINDINGS
        else ""
    )
    return (
        f'<section id="findings"><h2>Findings ({len(findings):,})</h2>{capped}'
        f'<p class="controls"><label>Kind <select id="finding-filter">{options}</select></label> '
        '<label>Search <input id="finding-search" type="search" placeholder="request id, '
        'environment, evidence…"></label> showing <span id="findings-shown">'
        f"{min(len(findings), MAX_FINDINGS)}</span></p>"
        '<div class="scroll-x"><table id="findings-table" class="sortable"><thead><tr>'
        "<th>Kind</th><th>Severity</th><th>Function</th><th>Environment</th><th>Request</th>"
        f"<th>Billed</th><th>Evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div></section>"
    )


__all__ = ["clean", "derived", "embed_json", "figure", "fmt_time", "format_value", "rank"]
