"""Renderers of one `Report`: rich table (terminal), JSON (the report contract), CSV (one row per
invocation), Markdown, HTML (one self-contained page) and OTLP/JSON spans. Each takes the Report
and returns text, so the CLI only chooses."""

from __future__ import annotations

from pathlib import Path

from lifecycle_trace.analysis.model import Report
from lifecycle_trace.errors import ConfigError

FORMATS = ("table", "json", "csv", "markdown", "html", "otlp")
SCHEMA_FILE = Path(__file__).resolve().parent / "schema" / "report-v1.schema.json"
"""JSON Schema (draft 2020-12) of `lctrace.report/v1`, what `--format json` prints."""


def render(report: Report, fmt: str = "table", *, invocations: bool = False,
           width: int | None = None, color: bool = False) -> str:
    """The report as text in `fmt`; `invocations` adds per-invocation rows to JSON/Markdown."""
    if fmt == "json":
        return report.to_json(invocations=invocations) + "\n"
    if fmt == "csv":
        from lifecycle_trace.report.csvfmt import render_csv

        return render_csv(report)
    if fmt == "markdown":
        from lifecycle_trace.report.markdown import render_markdown

        return render_markdown(report, invocations=invocations)
    if fmt == "table":
        from lifecycle_trace.report.table import render_table

        return render_table(report, width=width, color=color)
    if fmt == "html":
        from lifecycle_trace.report.html import build_html

        return build_html(report.to_dict(), report.invocations, report.environments)
    if fmt == "otlp":
        import io

        from lifecycle_trace.report.otlp import invocations_to_otlp_json

        buffer = io.StringIO()
        invocations_to_otlp_json(report.invocations, report.environments, buffer)
        return buffer.getvalue()
    raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "SCHEMA_FILE", "render"]
