"""Decoded `{time, type, record}` platform objects -> records.

One parser for the three JSON dialects that share this shape: the CloudWatch JSON log format
(one object per event, dialect JSON), Telemetry API batches (a JSON array, dialect TELEMETRY) and
the legacy Logs API (`platform.fault` with a string record, `platform.end`). Unknown keys are
ignored and optional ones never required (AWS keeps adding fields, ref §0.10); metrics are read
as floats whatever their JSON type (the Telemetry API sends `billedDurationMs` as a float too).

Lambda *Web Functions* events (`platform.invokeStart`, `invokeReport`, ... in a `timestamp`/
`level`/`type` envelope) have other semantics (one report per serving period, not per request):
they are counted with `stats.skip(line, "Lambda Web Functions event (unsupported)")` rather than
mis-read as invocations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from lifecycle_trace.ingest.applines import app_line
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.ingest.platform_common import (
    BadField,
    cap,
    fault_record,
    iso_to_ms,
    json_number,
    json_str,
)
from lifecycle_trace.records import (
    AppLine,
    End,
    InitReport,
    InitRuntimeDone,
    InitStart,
    PlatformNote,
    Record,
    Report,
    RestoreReport,
    RestoreStart,
    RuntimeDone,
    RuntimeExit,
    Start,
)

WEB_FUNCTION_TYPES = frozenset(
    {
        "platform.invokeStart",
        "platform.requestComplete",
        "platform.invokeSummary",
        "platform.invokeReport",
        "platform.spinDownStart",
        "platform.spinDownReport",
    }
)
WEB_FUNCTIONS_UNSUPPORTED = "Lambda Web Functions event (unsupported)"


def parse_platform_object(
    obj: dict,
    *,
    source: str,
    line: int,
    environment: str | None,
    dialect: str,
    stats: SourceStats,
) -> list[Record]:
    """One decoded `{time, type, record}` object -> records (usually one; none when skipped).

    Time comes from `time`, the function from `record.functionName`, the environment from
    `record.instanceId` when `environment` is None. Malformed objects are counted in `stats`.
    """
    common = {
        "source": source,
        "line": line,
        "environment": environment,
        "timestamp_ms": None,
        "function": None,
    }
    return platform_object(obj, common, dialect, stats)


def platform_object(obj: dict, common: dict, dialect: str, stats: SourceStats) -> list[Record]:
    """`parse_platform_object` with the event's context already in `common` (its timestamp and
    function win over the object's own, which only fill gaps)."""
    kind = obj.get("type")
    line = common["line"]
    if not isinstance(kind, str) or not kind:
        stats.skip(line, "platform object: expected a 'type' string")
        return []
    if kind in WEB_FUNCTION_TYPES or ("time" not in obj and "timestamp" in obj and "level" in obj):
        stats.skip(line, WEB_FUNCTIONS_UNSUPPORTED)
        return []
    record = obj.get("record")
    if common["timestamp_ms"] is None and "time" in obj:
        common = {**common, "timestamp_ms": iso_to_ms(obj["time"])}
    if kind == "function" or kind == "extension":
        return [_output_line(kind, record, common, dialect)]
    if kind == "platform.fault":
        return [_fault(record, common, dialect)]
    if not isinstance(record, dict):
        stats.skip(line, f"{kind}: expected a 'record' object, got {type(record).__name__}")
        return []
    if common["environment"] is None or common["function"] is None:
        common = _fill_context(record, common)
    builder = _BUILDERS.get(kind)
    try:
        if builder is None:
            return [_note(kind, record, common, dialect)]
        return [builder(record, common, dialect)]
    except BadField as exc:
        stats.skip(line, f"{kind}: {exc}")
        return []


def _fill_context(record: dict, common: dict) -> dict:
    environment = common["environment"] or json_str(record, "instanceId")
    function = common["function"] or json_str(record, "functionName")
    if environment is common["environment"] and function is common["function"]:
        return common
    return {**common, "environment": environment, "function": function}


def _metrics(record: dict) -> dict:
    metrics = record.get("metrics")
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise BadField(f"'metrics' expected an object, got {metrics!r}")
    return metrics


def _request_id(record: dict) -> str:
    request_id = record.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        raise BadField(f"expected a 'requestId' string, got {request_id!r}")
    return request_id


def trace_context(record: dict) -> tuple[str | None, str | None, bool | None]:
    """`tracing: {spanId, type, value: "Root=..;Parent=..;Sampled=1"}` -> (trace id, span id,
    sampled)."""
    tracing = record.get("tracing")
    if not isinstance(tracing, dict):
        return None, None, None
    value = tracing.get("value")
    trace_id = sampled = None
    if isinstance(value, str):
        for part in value.split(";"):
            key, _, item = part.strip().partition("=")
            if key == "Root" and item:
                trace_id = item
            elif key == "Sampled" and item in ("0", "1"):
                sampled = item == "1"
    return trace_id, json_str(tracing, "spanId"), sampled


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _init_start(record: dict, common: dict, dialect: str) -> Record:
    return InitStart(
        **common,
        dialect=dialect,
        runtime_version=json_str(record, "runtimeVersion"),
        runtime_version_arn=json_str(record, "runtimeVersionArn"),
        initialization_type=json_str(record, "initializationType"),
        phase=json_str(record, "phase"),
        function_version=json_str(record, "functionVersion"),
    )


def _init_runtime_done(record: dict, common: dict, dialect: str) -> Record:
    return InitRuntimeDone(
        **common,
        dialect=dialect,
        status=json_str(record, "status"),
        error_type=json_str(record, "errorType"),
        initialization_type=json_str(record, "initializationType"),
        phase=json_str(record, "phase"),
    )


def _init_report(record: dict, common: dict, dialect: str) -> Record:
    return InitReport(
        **common,
        dialect=dialect,
        duration_ms=json_number(_metrics(record), "durationMs", "metrics."),
        phase=json_str(record, "phase"),
        status=json_str(record, "status"),
        error_type=json_str(record, "errorType"),
        initialization_type=json_str(record, "initializationType"),
    )


def _restore_start(record: dict, common: dict, dialect: str) -> Record:
    return RestoreStart(
        **common,
        dialect=dialect,
        runtime_version=json_str(record, "runtimeVersion"),
        runtime_version_arn=json_str(record, "runtimeVersionArn"),
    )


def _restore_report(record: dict, common: dict, dialect: str) -> Record:
    return RestoreReport(
        **common,
        dialect=dialect,
        duration_ms=json_number(_metrics(record), "durationMs", "metrics."),
        status=json_str(record, "status"),
        error_type=json_str(record, "errorType"),
    )


def _start(record: dict, common: dict, dialect: str) -> Record:
    version = record.get("version")
    return Start(
        **common,
        dialect=dialect,
        request_id=_request_id(record),
        version=str(version) if isinstance(version, str | int) and version != "" else None,
        trace_id=trace_context(record)[0],
    )


def _end(record: dict, common: dict, dialect: str) -> Record:
    return End(**common, dialect=dialect, request_id=_request_id(record))


def _runtime_done(record: dict, common: dict, dialect: str) -> Record:
    metrics = _metrics(record)
    spans: dict[str, float | None] = {}
    raw_spans = record.get("spans")
    if isinstance(raw_spans, list):
        for span in raw_spans:
            if isinstance(span, dict) and isinstance(span.get("name"), str):
                spans[span["name"]] = json_number(span, "durationMs", f"spans[{span['name']}].")
    return RuntimeDone(
        **common,
        dialect=dialect,
        request_id=_request_id(record),
        status=json_str(record, "status"),
        error_type=json_str(record, "errorType"),
        duration_ms=json_number(metrics, "durationMs", "metrics."),
        produced_bytes=_int(json_number(metrics, "producedBytes", "metrics.")),
        response_latency_ms=spans.get("responseLatency"),
        response_duration_ms=spans.get("responseDuration"),
        runtime_overhead_ms=spans.get("runtimeOverhead"),
    )


def _report(record: dict, common: dict, dialect: str) -> Record:
    metrics = _metrics(record)
    trace_id, segment_id, sampled = trace_context(record)
    return Report(
        **common,
        dialect=dialect,
        request_id=_request_id(record),
        duration_ms=json_number(metrics, "durationMs", "metrics."),
        billed_ms=json_number(metrics, "billedDurationMs", "metrics."),
        memory_mb=_int(json_number(metrics, "memorySizeMB", "metrics.")),
        max_memory_mb=_int(json_number(metrics, "maxMemoryUsedMB", "metrics.")),
        init_ms=json_number(metrics, "initDurationMs", "metrics."),
        restore_ms=json_number(metrics, "restoreDurationMs", "metrics."),
        billed_restore_ms=json_number(metrics, "billedRestoreDurationMs", "metrics."),
        status=json_str(record, "status"),
        error_type=json_str(record, "errorType"),
        trace_id=trace_id,
        segment_id=segment_id,
        sampled=sampled,
    )


def _note(kind: str, record: dict, common: dict, dialect: str) -> Record:
    """extension / telemetrySubscription / logsSubscription / logsDropped / restoreRuntimeDone /
    any newer platform.* type: kept as a note (name, state or status or drop reason)."""
    state = json_str(record, "state") or json_str(record, "status") or json_str(record, "reason")
    return PlatformNote(
        **common,
        dialect=dialect,
        request_id=json_str(record, "requestId"),
        kind=kind,
        name=json_str(record, "name"),
        state=state,
        text=cap(json.dumps(record, separators=(",", ":"), default=str)),
    )


def _fault(record: object, common: dict, dialect: str) -> Record:
    """Legacy Logs API `platform.fault`: the record is the old-style fault text."""
    text = record if isinstance(record, str) else json.dumps(record, default=str)
    parsed = fault_record(text, common, dialect)
    if parsed is not None:
        return parsed
    return RuntimeExit(**common, dialect=dialect, reason=cap(text), text=cap(text))


def _output_line(kind: str, record: object, common: dict, dialect: str) -> Record:
    """Telemetry API `function` / `extension` output: a string, or (JSON log format) an object."""
    if isinstance(record, dict):
        message = record.get("message")
        text = message if isinstance(message, str) else json.dumps(record, default=str)
        return AppLine(
            **common,
            dialect=dialect,
            request_id=json_str(record, "requestId"),
            level=json_str(record, "level"),
            text=cap(text),
        )
    if isinstance(record, str) and record.strip():  # raw output: read the logger's prefix
        (line,) = app_line(record.strip(), common)
        return replace(line, dialect=dialect)
    return AppLine(**common, dialect=dialect, text=cap(record if isinstance(record, str) else ""))


_BUILDERS: dict[str, Callable[[dict, dict, str], Record]] = {
    "platform.initStart": _init_start,
    "platform.initRuntimeDone": _init_runtime_done,
    "platform.initReport": _init_report,
    "platform.restoreStart": _restore_start,
    "platform.restoreReport": _restore_report,
    "platform.start": _start,
    "platform.end": _end,
    "platform.runtimeDone": _runtime_done,
    "platform.report": _report,
}
