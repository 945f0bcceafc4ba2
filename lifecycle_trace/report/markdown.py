"""Markdown: the summary, the per-function table and findings, for PRs and wikis."""

from __future__ import annotations

from lifecycle_trace.analysis.model import Report
from lifecycle_trace.report.text import (
    FUNCTION_HEADERS,
    function_rows,
    hidden_note,
    money,
    num,
    shown_findings,
    summary_lines,
)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, invocations: bool = False) -> str:
    lines = ["# lctrace report", ""]
    for source in report.sources:
        lines.append(f"- source `{source.path}`: {source.format}, {source.records} records, "
                     f"{source.skipped} skipped")
    lines += ["", "## Summary", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, value in summary_lines(report)]
    lines += ["", "## Functions", "", "| " + " | ".join(FUNCTION_HEADERS) + " |",
              "|" + "---|" * len(FUNCTION_HEADERS)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in function_rows(report)]
    lines += ["", f"## Findings ({len(report.findings)})", ""]
    shown, hidden = shown_findings(report)
    for f in shown:
        where = f"`{f.environment}`" + (f", request `{f.request_id}`" if f.request_id else "")
        lines.append(f"### {f.severity}: {f.kind} — {f.function or '-'}")
        lines += ["", f"{f.message}. {where}; billed {num(f.billed_ms)} ms "
                      f"({money(f.cost_usd)}).", "", "```"]
        lines += [e.replace("\t", "  ") for e in f.evidence]
        lines += ["```", ""]
    if hidden:
        lines += [hidden_note(hidden), ""]
    if invocations:
        columns = ["request_id", "function", "environment", "start", "duration_ms", "billed_ms",
                   "cold", "cold_type", "cold_cause", "status"]
        lines += ["## Invocations", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        for row in report.invocations[columns].itertuples(index=False):
            lines.append("| " + " | ".join(_cell("" if v is None else v) for v in row) + " |")
    return "\n".join(lines).rstrip() + "\n"
