"""The terminal report (rich): summary, per-function table, findings with their evidence."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

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

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def build(report: Report, width: int = 120) -> Group:
    """The renderables, in reading order (numbers kept on one line when `width` allows)."""
    parts = []
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    for source in report.sources:
        summary.add_row("source", Text(
            f"{source.path} ({source.format}, {source.records} records"
            + (f", {source.skipped} skipped" if source.skipped else "") + ")"))
    for label, value in summary_lines(report):
        summary.add_row(label, Text(value))
    parts.append(Panel(summary, title="lctrace analyze", title_align="left"))
    parts.append(_functions(report, width))
    for error in (e for s in report.sources for e in s.errors):
        parts.append(Text(f"skipped: {error}", style="yellow"))
    if report.findings:
        parts.append(Text(f"\nFindings ({len(report.findings)})", style="bold"))
    shown, hidden = shown_findings(report)
    for finding in shown:
        head = Text()
        head.append(f"{finding.severity.upper():8} ", style=SEVERITY_STYLE[finding.severity])
        head.append(finding.kind, style="bold")
        head.append(f"  {finding.function or '-'}")
        head.append(f"  billed {num(finding.billed_ms)} ms ({money(finding.cost_usd)})")
        body = Text(f"  {finding.message}\n")
        body.append(f"  environment {finding.environment or '-'}", style="italic")
        if finding.request_id:
            body.append(f"  request {finding.request_id}", style="italic")
        if len(finding.request_ids) > 1:
            body.append(f" (+{len(finding.request_ids) - 1} more)", style="italic")
        body.append("\n")
        for line in finding.evidence:
            body.append(f"    {line.replace(chr(9), '  ').replace(chr(10), ' ')}\n", style="dim")
        parts.append(Group(head, body))
    if hidden:
        parts.append(Text(hidden_note(hidden), style="italic"))
    if not report.findings:
        parts.append(Text("No findings.", style="green"))
    return Group(*parts)


def _functions(report: Report, width: int) -> Table | Text:
    """Per function and version: a table when the console is wide, one line each otherwise."""
    rows = function_rows(report)
    if width < 110:
        text = Text("Per function and version\n", style="italic")
        for row in rows:
            text.append(f"  {row[0]} {row[1]}", style="bold")
            text.append("".join(f"  {header} {cell}" for header, cell in
                                zip(FUNCTION_HEADERS[2:], row[2:], strict=True)) + "\n")
        return text
    functions = Table(title="Per function and version", title_justify="left", expand=False,
                      box=box.SIMPLE_HEAD)
    for header in FUNCTION_HEADERS:
        left = header in ("function", "version")
        functions.add_column(header, justify="left" if left else "right",
                             min_width=16 if header == "function" else None, overflow="fold",
                             no_wrap=header != "function")
    for row in rows:
        functions.add_row(*(Text(cell) for cell in row))
    return functions


def render_table(report: Report, width: int | None = None, color: bool = False) -> str:
    """The rich report as text (ANSI colours only when `color`)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 120, force_terminal=color,
                      color_system="standard" if color else None, soft_wrap=False)
    console.print(build(report, console.width))
    return buffer.getvalue()
