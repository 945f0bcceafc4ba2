"""The seam between containers and line parsers.

A *container* parser (filter-log-events JSON, `aws logs tail`, subscription payloads, S3 export,
...) turns bytes into `LogEvent`s: one CloudWatch event each, with its stream, time and message.
A *message* parser (`lifecycle_trace.ingest.platform.parse_event`) turns one `LogEvent` into
records. Formats that carry structured fields instead of messages (Logs Insights rows, Telemetry
API batches, traces) build records directly.

`SourceStats` counts what was read and what was not: nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ERRORS_KEPT = 5
"""How many `file:line: reason` messages a source keeps; the count stays exact beyond that."""


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One CloudWatch Logs event as a container delivers it.

    `environment` is the log stream name (None when the container does not say, e.g. `aws logs
    tail --format short`); `group` the log group; `line` the 1-based line (or event index) in the
    source file, for error messages.
    """

    source: str
    line: int
    environment: str | None
    timestamp_ms: float | None
    message: str
    group: str | None = None


@dataclass(slots=True)
class SourceStats:
    """What one input yielded: `records` read, `skipped` malformed records (with the first few
    reasons), `control` subscription CONTROL_MESSAGEs skipped on purpose (not malformed)."""

    path: str
    format: str
    records: int = 0
    skipped: int = 0
    control: int = 0
    errors: list[str] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        """Count one malformed record, keeping the first few as `path:line: reason`."""
        self.skipped += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{self.path}:{line}: {reason}")


@dataclass(slots=True)
class ParsedSource:
    """One input after ingest: its stats and its records in file order."""

    stats: SourceStats
    records: list = field(default_factory=list)
