"""CSV: one row per invocation with the documented columns (times ISO-8601 UTC)."""

from __future__ import annotations

import io

from lifecycle_trace.analysis.model import Report

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def render_csv(report: Report) -> str:
    """The invocations table as CSV text (empty cells for absent values)."""
    frame = report.invocations.copy()
    for column in ("start", "end", "billed_start", "billed_end"):
        frame[column] = frame[column].dt.strftime(TIME_FORMAT).str.slice(0, 23) + "Z"
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
