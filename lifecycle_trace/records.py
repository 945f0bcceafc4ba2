"""Typed records: what every parser yields and what the analysis consumes.

Each record is a frozen, slotted dataclass carrying where it came from (`source`, `line`), the
execution environment it belongs to (`environment`: the CloudWatch log stream name, which is also
the wrapper's `faas.instance`), its time (`timestamp_ms`, epoch milliseconds as float) and, where
one applies, the `request_id`. Absent values are `None`; parsers never invent them.

The same fact can arrive in several dialects (text REPORT line, JSON `platform.report`,
Telemetry API, Logs Insights row, RIE stdout); `dialect` says which, so the analysis can apply
per-dialect rules (e.g. RIE's `Init Duration` is meaningless) and say which source it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Dialects a platform record can come from.
TEXT = "text"  # CloudWatch text log format (`REPORT RequestId: ...`)
JSON = "json"  # CloudWatch JSON log format (`{"type":"platform.report",...}`)
TELEMETRY = "telemetry"  # Telemetry/Logs API batch (JSON array of platform events)
INSIGHTS = "insights"  # CloudWatch Logs Insights discovered fields
RIE = "rie"  # Runtime Interface Emulator stdout (its own REPORT layout)
LCTRACE = "lctrace"  # lctrace wrapper output (log lines, OTLP spans)
XRAY = "xray"  # X-Ray segment documents


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Fields every record has. `line` is 1-based within `source` (0 when not line-addressable)."""

    source: str
    line: int
    environment: str | None
    timestamp_ms: float | None
    request_id: str | None = None
    function: str | None = None  # function name when the container says (log group, JSON field)
    dialect: str = TEXT


@dataclass(frozen=True, slots=True, kw_only=True)
class InitStart(Record):
    """`INIT_START` / `platform.initStart`: an environment began init (a cold start)."""

    runtime_version: str | None = None
    runtime_version_arn: str | None = None
    initialization_type: str | None = None  # on-demand | provisioned-concurrency | snap-start | ...
    phase: str | None = None  # init | invoke (suppressed init)
    function_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InitRuntimeDone(Record):
    """`platform.initRuntimeDone` (JSON only): the runtime finished (or failed) init."""

    status: str | None = None
    error_type: str | None = None
    initialization_type: str | None = None
    phase: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InitReport(Record):
    """`INIT_REPORT` / `platform.initReport`: init's duration and outcome."""

    duration_ms: float | None = None
    phase: str | None = None  # init | invoke
    status: str | None = None  # success | error | timeout | failure
    error_type: str | None = None
    initialization_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreStart(Record):
    """`RESTORE_START` / `platform.restoreStart`: a SnapStart snapshot restore began."""

    runtime_version: str | None = None
    runtime_version_arn: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreReport(Record):
    """`RESTORE_REPORT` / `platform.restoreReport`."""

    duration_ms: float | None = None
    status: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Start(Record):
    """`START RequestId: ... Version: ...` / `platform.start`: an invoke began."""

    version: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class End(Record):
    """`END RequestId: ...`: the runtime finished the invoke (text format only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeDone(Record):
    """`platform.runtimeDone`: the runtime's part of an invoke, with its phase spans."""

    status: str | None = None
    error_type: str | None = None
    duration_ms: float | None = None
    produced_bytes: int | None = None
    response_latency_ms: float | None = None
    response_duration_ms: float | None = None
    runtime_overhead_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report(Record):
    """`REPORT` / `platform.report` / an Insights row: the billed facts of one invoke."""

    duration_ms: float | None = None
    billed_ms: float | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    init_ms: float | None = None
    restore_ms: float | None = None
    billed_restore_ms: float | None = None
    status: str | None = None  # None (success in text), success, error, timeout, failure
    error_type: str | None = None
    trace_id: str | None = None
    segment_id: str | None = None
    sampled: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimedOut(Record):
    """Old-style `<ts> <request id> Task timed out after 3.00 seconds`."""

    timeout_s: float | None = None
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeExit(Record):
    """The runtime process died: `Runtime exited ...`, `Runtime.ExitError`, `signal: killed`,
    `Process exited before completing request`, or a JSON `platform.fault`."""

    reason: str = ""
    exit_status: int | None = None
    signal: str | None = None
    error_type: str | None = None  # e.g. Runtime.ExitError
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformNote(Record):
    """Other platform lines: `EXTENSION`, `TELEMETRY`, `LOGS`, `platform.extension`,
    `platform.logsDropped`, ... Kept so they are counted, not silently dropped."""

    kind: str = ""  # EXTENSION, TELEMETRY, platform.logsDropped, ...
    name: str | None = None
    state: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppLine(Record):
    """A line the function (or an extension) printed. `text` is capped (see MAX_APP_TEXT); the
    analysis counts these per invocation and keeps the first few as evidence."""

    level: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSpan(Record):
    """One lifecycle phase from a trace (lctrace span, X-Ray subsegment, Telemetry span).

    `phase` is the lctrace span name (`lambda.init`, `lambda.poll_wait`, `lambda.invocation`,
    `lambda.handler`, `lambda.response`, `lambda.post_response`, `lambda.stuck`) or an X-Ray
    subsegment name mapped onto one (Initialization -> lambda.init, Invocation -> lambda.handler,
    Overhead -> lambda.post_response, Restore -> lambda.restore).
    """

    phase: str = ""
    duration_ms: float | None = None
    trace_id: str | None = None
    cold: bool | None = None
    outcome: str | None = None
    attributes: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapperInvocation(Record):
    """The lctrace wrapper's per-invocation `log` line (`{"lctrace":"invocation",...}`)."""

    cold: bool | None = None
    init_ms: float | None = None
    poll_wait_ms: float | None = None
    handler_ms: float | None = None
    response_ms: float | None = None
    post_response_ms: float | None = None
    outcome: str | None = None
    trigger: str | None = None
    event_source: str | None = None
    error_type: str | None = None  # e.g. Runtime.ExitError, when the outcome is not success


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckMarker(Record):
    """The wrapper's watchdog marker (`{"lctrace":"stuck","kind":...}`)."""

    kind: str = ""  # never_polled | no_response | stopped_polling
    elapsed_ms: float | None = None
    text: str = ""


MAX_APP_TEXT = 400
"""Characters of an application line kept as evidence; the rest is cut (the count stays exact)."""

PLATFORM_RECORDS = (
    InitStart,
    InitRuntimeDone,
    InitReport,
    RestoreStart,
    RestoreReport,
    Start,
    End,
    RuntimeDone,
    Report,
    TimedOut,
    RuntimeExit,
    PlatformNote,
)
