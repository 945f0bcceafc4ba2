"""Messages that are one JSON object: platform events (CloudWatch JSON log format), lctrace
wrapper markers and JSON application logs.

A message that IS one JSON object with key `lctrace` (leading whitespace allowed, nothing
before it) is a wrapper marker: `stuck` -> StuckMarker, `invocation` -> WrapperInvocation,
`init` -> InitReport (dialect LCTRACE); other kinds -> PlatformNote `lctrace.<kind>`. A marker
behind a logger prefix is function output, not a marker.

JSON application logs (`{"timestamp","level","requestId","message"}`; Powertools'
`function_request_id`, the Java runtime's `AWSRequestId`, `faas.invocation_id` in lctrace's EMF
lines) -> AppLine with request id and level.
Text that only looks like JSON -> a plain AppLine. `json.loads` runs only on messages that start
with `{` and end with `}`.
"""

from __future__ import annotations

import json

from lifecycle_trace import schema
from lifecycle_trace.ingest.applines import plain_line
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.ingest.platform_common import (
    BadField,
    cap,
    iso_to_ms,
    json_number,
    json_str,
)
from lifecycle_trace.ingest.telemetry import platform_object
from lifecycle_trace.records import (
    JSON,
    LCTRACE,
    AppLine,
    InitReport,
    PlatformNote,
    Record,
    StuckMarker,
    WrapperInvocation,
)


def json_message(message: str, common: dict, stats: SourceStats) -> list[Record]:
    """A message starting with `{`: a platform object (JSON log format), an lctrace marker, a
    JSON application log, or text that only looks like JSON (-> AppLine)."""
    stripped = message.rstrip()
    if not stripped.endswith("}"):
        return plain_line(message, common)
    try:
        obj = json.loads(stripped)
    except ValueError:
        return plain_line(message, common)
    if not isinstance(obj, dict):
        return plain_line(message, common)
    if schema.MARKER_KEY in obj:
        return marker(obj, stripped, common, stats)
    kind = obj.get("type")
    if isinstance(kind, str) and kind.startswith("platform."):
        return platform_object(obj, common, JSON, stats)
    return [_json_app_line(obj, stripped, common)]


def _json_app_line(obj: dict, raw: str, common: dict) -> Record:
    if common["timestamp_ms"] is None:
        common = {**common, "timestamp_ms": iso_to_ms(obj.get("timestamp"))}
    request_id = (
        json_str(obj, "requestId")
        or json_str(obj, "function_request_id")
        or json_str(obj, "AWSRequestId")
        or json_str(obj, schema.ATTR_INVOCATION_ID)  # lctrace's own EMF lines
    )
    level = json_str(obj, "level")
    message = obj.get("message")
    text = message if isinstance(message, str) else raw
    return AppLine(
        **common,
        dialect=JSON,
        request_id=request_id,
        level=level.upper() if level else None,
        text=cap(text),
    )


def marker(obj: dict, raw: str, common: dict, stats: SourceStats) -> list[Record]:
    """An lctrace wrapper line (`{"lctrace": kind, ...}`) -> its record; bad fields -> skip."""
    kind = obj.get(schema.MARKER_KEY)
    common = _marker_context(obj, common)
    try:
        if kind == schema.MARKER_STUCK:
            return [_stuck(obj, raw, common)]
        if kind == schema.MARKER_INVOCATION:
            return [_invocation(obj, common)]
        if kind == schema.MARKER_INIT:
            return [_init(obj, common)]
    except BadField as exc:
        stats.skip(common["line"], f"lctrace {kind} marker: {exc}")
        return []
    return [PlatformNote(**common, dialect=LCTRACE, kind=f"lctrace.{kind}", text=cap(raw))]


def _marker_context(obj: dict, common: dict) -> dict:
    environment = common["environment"] or json_str(obj, "instance")
    function = common["function"] or json_str(obj, "function")
    timestamp_ms = common["timestamp_ms"]
    if timestamp_ms is None:  # the stuck marker says `timestamp_ms`, the invocation `start_ms`
        stamp = obj.get("timestamp_ms", obj.get("start_ms"))
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            timestamp_ms = float(stamp)
    return {
        **common,
        "environment": environment,
        "function": function,
        "timestamp_ms": timestamp_ms,
    }


def _stuck(obj: dict, raw: str, common: dict) -> Record:
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise BadField(f"'kind' expected one of {', '.join(schema.STUCK_KINDS)}, got {kind!r}")
    return StuckMarker(
        **common,
        dialect=LCTRACE,
        request_id=json_str(obj, "request_id"),
        kind=kind,
        elapsed_ms=json_number(obj, "elapsed_ms"),
        text=cap(raw),
    )


def _bool(obj: dict, key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise BadField(f"{key!r} expected true/false, got {value!r}")


def _invocation(obj: dict, common: dict) -> Record:
    request_id = json_str(obj, "request_id")
    if request_id is None:
        raise BadField(f"expected a 'request_id' string, got {obj.get('request_id')!r}")
    return WrapperInvocation(
        **common,
        dialect=LCTRACE,
        request_id=request_id,
        cold=_bool(obj, "cold"),
        init_ms=json_number(obj, "init_ms"),
        poll_wait_ms=json_number(obj, "poll_wait_ms"),
        handler_ms=json_number(obj, "handler_ms"),
        response_ms=json_number(obj, "response_ms"),
        post_response_ms=json_number(obj, "post_response_ms"),
        outcome=json_str(obj, "outcome"),
        trigger=json_str(obj, "trigger"),
        event_source=json_str(obj, "event_source"),
        error_type=json_str(obj, "error_type"),
    )


def _init(obj: dict, common: dict) -> Record:
    """The wrapper's init line: init_ms and its outcome (success | init_error | never_polled |
    crash, kept as the wrapper wrote it in `status`). Its `phase` is schema.WRAPPER_INIT_PHASE:
    the line is written when the wrapper's lifecycle has loaded, often after later START lines,
    so the analysis must not place it by position (the wrapper's next invocation line owns it)."""
    return InitReport(
        **common,
        dialect=LCTRACE,
        phase=schema.WRAPPER_INIT_PHASE,
        duration_ms=json_number(obj, "init_ms"),
        status=json_str(obj, "outcome"),
        error_type=json_str(obj, "error_type"),
        initialization_type=json_str(obj, "initialization_type"),
    )
