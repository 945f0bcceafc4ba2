"""Messages that are not text platform lines: function output, JSON messages, lctrace markers.

Function output is kept as `AppLine` (text capped to `records.MAX_APP_TEXT`) with the request id
and level when the runtime's logger puts them at a known position:

* Node.js   `<ISO ts>\\t<request id | undefined>\\t<LEVEL>\\t<msg>` (older Node: no LEVEL field)
* Python    `[LEVEL]\\t<ISO ts>\\t<request id | empty>\\t<msg>`; `[ERROR] Runtime.X: ...`
* log4j     `<request id> LEVEL ...` (the `sam logs` Java sample) and the Lambda log4j2
            appender's `YYYY-MM-DD HH:MM:SS[.mmm] <request id> LEVEL ...`
* JSON      `{"timestamp","level","requestId","message"}` (LogFormat JSON; Powertools'
            `function_request_id` too)

A request id is only taken when it is a UUID in that position; anything else keeps None (the
`attribute` post-pass fills ids from the surrounding START/REPORT).

A message that IS one JSON object with key `lctrace` (leading whitespace allowed, nothing
before it) is a wrapper marker: `stuck` -> StuckMarker, `invocation` -> WrapperInvocation,
`init` -> InitReport (dialect LCTRACE); other kinds -> PlatformNote `lctrace.<kind>`.
"""

from __future__ import annotations

import json
import re

from lifecycle_trace import schema
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.ingest.platform_common import (
    APP_LEVELS,
    BadField,
    cap,
    is_uuid,
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
    TimedOut,
    WrapperInvocation,
)

_TIMED_OUT_RE = re.compile(r"(?:(\S+) (\S+) )?Task timed out after (\d+(?:\.\d+)?) seconds")
_TIMED_OUT_TEXT = "Task timed out after "
TIMED_OUT = " " + _TIMED_OUT_TEXT


def plain_line(message: str, common: dict) -> list[Record]:
    """Output with no known prefix: one AppLine, no id, no level."""
    return [AppLine(**common, text=cap(message))]


def bracket_line(message: str, common: dict) -> list[Record]:
    """`[LEVEL]...` lines: Python's logger (`[INFO]\\t<ts>\\t<id>\\t<msg>`) or `[ERROR] ...`."""
    close = message.find("]", 1, 12)
    if close < 0:
        return plain_line(message, common)
    level = message[1:close]
    if level not in APP_LEVELS:
        return plain_line(message, common)
    if message.startswith("\t", close + 1):
        parts = message.split("\t", 3)
        if len(parts) == 4:
            request_id = parts[2] if is_uuid(parts[2]) else None
            if common["timestamp_ms"] is None:
                common = {**common, "timestamp_ms": iso_to_ms(parts[1])}
            return [AppLine(**common, request_id=request_id, level=level, text=cap(parts[3]))]
    return [AppLine(**common, level=level, text=cap(message[close + 1 :].lstrip()))]


def digit_line(message: str, common: dict) -> list[Record]:
    """Lines starting with a digit or hex letter: Node (`<ts>\\t<id>\\t<LEVEL>\\t<msg>`), the
    old-style `<ts> <id> Task timed out after N seconds`, log4j `<id> LEVEL ...` and log4j2
    `<date> <time> <id> LEVEL ...`."""
    if len(message) > 20 and message[4] == "-":
        if message[10] == "T":
            tab = message.find("\t", 0, 40)
            if tab > 0:
                return _node_line(message, common)
            if TIMED_OUT in message:
                return timed_out(message, common)
        elif message[10] == " ":
            parts = message.split(" ", 4)
            if len(parts) >= 4 and is_uuid(parts[2]):
                level = parts[3] if parts[3] in APP_LEVELS else None
                return [AppLine(**common, request_id=parts[2], level=level, text=cap(message))]
    if len(message) > 37 and message[36] in " \t" and is_uuid(message[:36]):
        rest = message[37:].lstrip()
        word = rest.split(" ", 1)[0]
        level = word if word in APP_LEVELS else None
        return [AppLine(**common, request_id=message[:36], level=level, text=cap(rest))]
    return plain_line(message, common)


def _node_line(message: str, common: dict) -> list[Record]:
    parts = message.split("\t", 3)
    if len(parts) < 3:
        return plain_line(message, common)
    request_id = parts[1] if is_uuid(parts[1]) else None
    if request_id is None and parts[1] != "undefined":
        return plain_line(message, common)
    if common["timestamp_ms"] is None:
        common = {**common, "timestamp_ms": iso_to_ms(parts[0])}
    if len(parts) == 4 and parts[2] in APP_LEVELS:
        level, text = parts[2], parts[3]
    else:
        level, text = None, "\t".join(parts[2:])
    return [AppLine(**common, request_id=request_id, level=level, text=cap(text))]


def timed_out(message: str, common: dict) -> list[Record]:
    """Old-style `<ts> <request id> Task timed out after 3.00 seconds` (or without the prefix)."""
    match = _TIMED_OUT_RE.match(message)
    if match is None:
        return plain_line(message, common)
    stamp, request_id, seconds = match.groups()
    if common["timestamp_ms"] is None and stamp:
        common = {**common, "timestamp_ms": iso_to_ms(stamp)}
    return [
        TimedOut(
            **common,
            request_id=request_id,
            timeout_s=float(seconds),
            text=cap(message[match.start(3) - len(_TIMED_OUT_TEXT) :].replace("\\n", "")),
        )
    ]


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
    request_id = json_str(obj, "requestId") or json_str(obj, "function_request_id")
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
    )


def _init(obj: dict, common: dict) -> Record:
    """The wrapper's init line: init_ms and its outcome (success | init_error | never_polled |
    crash, kept as the wrapper wrote it in `status`)."""
    return InitReport(
        **common,
        dialect=LCTRACE,
        duration_ms=json_number(obj, "init_ms"),
        status=json_str(obj, "outcome"),
        error_type=json_str(obj, "error_type"),
    )
