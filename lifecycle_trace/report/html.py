"""`lctrace analyze --format html`: one self-contained page (inline CSS, JS and SVG; no network).

Depends only on the report contract (`lctrace.report/v1` dict) and the invocations and
environments tables. Every figure taken from the report carries `data-metric="<path>"` and
`data-value="<the JSON value>"` so a test can compare the page with the JSON report. All text
from logs is escaped, and a Content-Security-Policy allows only this page's own script.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from lifecycle_trace.report import html_sections as sections
from lifecycle_trace.report.html_charts import esc
from lifecycle_trace.report.html_cost import cost_section
from lifecycle_trace.report.html_sections import embed_json, figure
from lifecycle_trace.report.html_timeline import prepare_invocations, render_timeline

ASSETS = Path(__file__).resolve().parent
STUCK_KINDS = ("never_polled", "stopped_polling", "no_response", "timeout", "init_timeout")
"""Finding kinds drawn as stuck periods on the timeline."""

SUMMARY_CARDS = (
    ("invocations", "Invocations", "int"),
    ("cold_starts", "Cold starts", "int"),
    ("cold_start_rate", "Cold-start rate", "pct"),
    ("environments", "Environments", "int"),
    ("timeouts", "Timeouts", "int"),
    ("errors", "Errors", "int"),
    ("crashes", "Crashes", "int"),
    ("billed_ms", "Billed", "ms"),
    ("gb_seconds", "GB-seconds", "num"),
    ("cost_usd", "Cost", "usd"),
)
PERCENTILES = ("p50", "p90", "p99", "max")


def render_html(
    report_json: dict[str, Any],
    invocations: pd.DataFrame | None,
    environments: pd.DataFrame | None,
    out: TextIO,
) -> None:
    """Write the report as one HTML page to `out`.

    `report_json` is the report contract as data (`Report.to_dict()`, i.e. the parsed
    `Report.to_json()`); `invocations` and `environments` are the analysis tables (any column
    may be missing; `environments` may be None)."""
    out.write(build_html(report_json, invocations, environments))


def build_html(
    report_json: dict[str, Any],
    invocations: pd.DataFrame | None,
    environments: pd.DataFrame | None = None,
) -> str:
    """The page as a string (see `render_html`)."""
    summary = report_json.get("summary") or {}
    findings = list(report_json.get("findings") or [])
    frame = prepare_invocations(invocations)
    stuck_requests, stuck_envs, finding_envs = _stuck_maps(findings)
    timeline = render_timeline(frame, stuck_requests, stuck_envs, finding_envs, environments)
    script = (ASSETS / "html_page.js").read_text("utf-8")
    style = (ASSETS / "html_page.css").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'"
    )
    body = [
        sections.header(report_json, len(frame)),
        _summary_section(summary),
        sections.sources_table(report_json.get("sources") or []),
        sections.timeline_section(timeline, environments),
        sections.distributions(frame, summary, sections.top_invocations(frame)),
        sections.cold_starts_over_time(frame, summary),
        cost_section(report_json, frame),
        sections.findings_section(findings),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>lctrace report — {esc(_title(report_json))}</title>"
        f"<style>{style}</style></head>"
        f'<body data-timeline-mode="{timeline.mode}" data-timeline-lanes="{timeline.lanes}">'
        + "\n".join(body)
        + '<script type="application/json" id="lctrace-report">'
        + embed_json({k: v for k, v in report_json.items() if k != "invocations"})
        + f"</script><script>{script}</script></body></html>\n"
    )


def _summary_section(summary: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="card"><div class="label">{esc(label)}</div>'
        f'<div class="value">{figure(f"summary.{key}", summary.get(key), style)}</div></div>'
        for key, label, style in SUMMARY_CARDS
        if key in summary
    )
    rows = []
    for key, label in (("duration_ms", "Duration"), ("init_ms", "Init duration")):
        stats = summary.get(key)
        if not isinstance(stats, dict):
            continue
        cells = "".join(
            f"<td>{figure(f'summary.{key}.{name}', stats.get(name), 'ms')}</td>"
            for name in PERCENTILES
            if name in stats
        )
        rows.append(f"<tr><th>{esc(label)}</th>{cells}</tr>")
    head = "".join(f"<th>{name}</th>" for name in PERCENTILES)
    table = (
        f'<table class="percentiles"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else ""
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="cards">{cards}</div>{table}</section>'
    )


def _stuck_maps(
    findings: Sequence[dict[str, Any]],
) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Request ids and environments that findings mark as stuck, and every environment named."""
    by_request: dict[str, str] = {}
    by_env: dict[str, str] = {}
    named: set[str] = set()
    for finding in findings:
        env, request_id, kind = (
            finding.get("environment"),
            finding.get("request_id"),
            finding.get("kind"),
        )
        if env:
            named.add(str(env))
        if kind not in STUCK_KINDS:
            continue
        affected = [request_id, *(finding.get("request_ids") or [])]  # all it concerns
        for rid in filter(None, affected):
            by_request.setdefault(str(rid), str(kind))
        if not request_id and env:
            by_env.setdefault(str(env), str(kind))
    return by_request, by_env, named


def _title(report_json: dict[str, Any]) -> str:
    functions = sorted(
        {str(f["function"]) for f in report_json.get("functions") or [] if f.get("function")}
    )
    if not functions:
        return "Lambda lifecycle"
    more = f" and {len(functions) - 3} more" if len(functions) > 3 else ""
    return ", ".join(functions[:3]) + more


__all__ = ["build_html", "render_html"]
