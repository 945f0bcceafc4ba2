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
    PALETTE,
    bars_svg,
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
COLD_BUCKETS = 48
FUNCTION_FIELDS = (
    ("invocations", "Invocations", "int"),
    ("cold_starts", "Cold", "int"),
    ("cold_start_rate", "Cold rate", "pct"),
    ("errors", "Errors", "int"),
    ("timeouts", "Timeouts", "int"),
    ("crashes", "Crashes", "int"),
    ("duration_ms.p50", "p50", "ms"),
    ("duration_ms.p99", "p99", "ms"),
    ("init_ms.p50", "Init p50", "ms"),
    ("billed_ms", "Billed", "ms"),
    ("gb_seconds", "GB-s", "num"),
    ("cost_usd", "Cost", "usd"),
)
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
    functions = sorted({str(f.get("function")) for f in report_json.get("functions") or []})
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
        f"<td>{figure(f'sources.{i}.skipped', source.get('skipped'), 'int')}</td></tr>"
        for i, source in enumerate(sources)
    )
    return (
        '<section id="sources"><h2>Sources</h2><table class="sortable"><thead><tr><th>File</th>'
        f"<th>Format</th><th>Records</th><th>Skipped</th></tr></thead><tbody>{rows}</tbody>"
        "</table></section>"
    )


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


def distributions(frame: pd.DataFrame, summary: dict[str, Any]) -> str:
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
        "</div></section>"
    )


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


def phase_split(frame: pd.DataFrame) -> dict[str, float]:
    """Billed ms split into lifecycle phases, summed over invocations with a billed figure.

    Init counts only where the invocation's billed ms covers it (custom runtimes, images,
    on-demand since 2025-08); restore is the billed restore (billed − ceil(duration)); the
    remainder after the measured phases is rounding (or, negative, clamping at the timeout)."""
    rows = frame[frame["billed_ms"].notna()]
    billed = rows["billed_ms"]
    duration = rows["duration_ms"].fillna(0.0)
    init = rows["init_ms"].fillna(0.0)
    covered = billed >= duration + init - 1  # inferred when the table does not say
    if "init_billed" in rows:
        covered = rows["init_billed"].astype("boolean").fillna(covered).astype(bool)
    init_billed = init.where(rows["cold"] & (init > 0) & covered, 0.0)
    restore = (billed - np.ceil(duration)).clip(lower=0).where(rows["restore_ms"] > 0, 0.0)
    handler = rows["handler_ms"].fillna(0.0)
    response = rows["response_ms"].fillna(0.0)
    post = rows["post_response_ms"].fillna(0.0)
    unsplit = (duration - handler - response - post).clip(lower=0)
    phases = {
        "init": init_billed,
        "restore": restore,
        "handler": handler,
        "response": response,
        "post-response": post,
        "invocation (not split)": unsplit,
    }
    out = {name: float(values.sum()) for name, values in phases.items()}
    out["rounding / clamping"] = float(billed.sum()) - sum(out.values())
    return out


def cost_section(report_json: dict[str, Any], frame: pd.DataFrame) -> str:
    summary = report_json.get("summary") or {}
    functions = report_json.get("functions") or []
    findings = report_json.get("findings") or []
    total_billed = summary.get("billed_ms") or 0
    cost = summary.get("cost_usd")

    def share(ms: float) -> float | None:
        return None if cost is None or not total_billed else cost * ms / total_billed

    function_bars = bars_svg(
        [
            (
                f"{f.get('function')}:{f.get('version')}",
                float(f.get("billed_ms") or 0),
                format_value(f.get("billed_ms"), "ms")
                + " · "
                + format_value(f.get("cost_usd"), "usd"),
            )
            for f in functions
        ],  # fmt: skip
        label="billed ms by function",
    )
    phases = phase_split(frame)
    phase_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{derived(f'phase.{name}.billed_ms', ms, 'ms')}</td>"
        f"<td>{derived(f'phase.{name}.cost_usd', share(ms), 'usd')}</td></tr>"
        for name, ms in phases.items()
    )
    phase_bars = bars_svg(
        [(name, max(ms, 0.0), format_value(ms, "ms")) for name, ms in phases.items()],
        label="billed ms by phase",
        color=PALETTE[2],
    )
    kinds: dict[str, list[float]] = {}
    priced = all("cost_usd" in finding for finding in findings)
    for finding in findings:
        entry = kinds.setdefault(str(finding.get("kind")), [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += float(finding.get("billed_ms") or 0)
        entry[2] += float(finding.get("cost_usd") or 0)
    ordered = sorted(kinds.items(), key=lambda item: _rank(item[0]))
    kind_rows = "".join(
        f"<tr><td>{esc(kind)}</td><td>{derived(f'finding.{kind}.count', count, 'int')}</td>"
        f"<td>{derived(f'finding.{kind}.billed_ms', ms, 'ms')}</td>"
        f"<td>{derived(f'finding.{kind}.cost_usd', usd if priced else share(ms), 'usd')}</td></tr>"
        for kind, (count, ms, usd) in ordered
    )
    kind_bars = bars_svg(
        [(kind, ms, format_value(ms, "ms")) for kind, (_, ms, _) in ordered],
        label="billed ms by finding",
        color=PALETTE[3],
    )
    return (
        '<section id="cost"><h2>Billed time and cost</h2>'
        f"<h3>By function</h3>{function_bars}{_functions_table(functions)}"
        '<div class="pair"><div><h3>By phase</h3>'
        f"{phase_bars}<table><thead><tr><th>Phase</th><th>Billed</th><th>Cost share</th></tr>"
        f"</thead><tbody>{phase_rows}</tbody></table></div>"
        f"<div><h3>By finding</h3>{kind_bars}"
        "<table><thead><tr><th>Finding</th><th>Count</th><th>Billed</th><th>Cost share</th>"
        f"</tr></thead><tbody>{kind_rows}</tbody></table></div></div>"
        '<p class="note">Phase costs (and finding costs when the report prices no finding) are '
        "shares of the report's total cost in proportion to billed ms (request charges "
        "included); finding costs otherwise add up the findings' own cost_usd. Phases come "
        "from the invocation "
        "table, so sources without phase spans show their time as “invocation (not split)”.</p>"
        "</section>"
    )


def _functions_table(functions: Sequence[dict[str, Any]]) -> str:
    if not functions:
        return ""
    head = "<th>Function</th><th>Version</th>" + "".join(
        f"<th>{esc(label)}</th>" for _, label, _ in FUNCTION_FIELDS
    )
    rows = []
    for index, function in enumerate(functions):
        cells = [
            f"<td>{esc(function.get('function'))}</td>",
            f"<td>{esc(function.get('version'))}</td>",
        ]
        for path, _, style in FUNCTION_FIELDS:
            found, value = _lookup(function, path)
            cells.append(
                f"<td>{figure(f'functions.{index}.{path}', value, style) if found else ''}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable functions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _lookup(mapping: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = mapping
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _rank(kind: str) -> int:
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
    kinds = sorted({str(f.get("kind")) for f in findings}, key=_rank)
    options = '<option value="">all kinds</option>' + "".join(
        f'<option value="{esc(k)}">{esc(k)}</option>' for k in kinds
    )
    rows = []
    for index, finding in enumerate(findings[:MAX_FINDINGS]):
        kind, rank = str(finding.get("kind")), _rank(str(finding.get("kind")))
        environment = esc(finding.get("environment") or "")
        rows.append(
            f'<tr data-kind="{esc(kind)}" data-environment="{environment}">'
            f'<td data-sort="{rank}"><span class="kind k-{rank}">{esc(kind)}</span></td>'
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
        '<table id="findings-table" class="sortable"><thead><tr><th>Kind</th><th>Severity</th>'
        "<th>Function</th><th>Environment</th><th>Request</th><th>Billed</th><th>Evidence</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


__all__ = ["clean", "embed_json", "figure", "fmt_time", "format_value", "phase_split"]
