"""Function output in text form -> `AppLine` (and the old-style `Task timed out` line).

Function output is kept as `AppLine` (text capped to `records.MAX_APP_TEXT`) with the request id
and level when the runtime's logger puts them at a known position:

* Node.js   `<ISO ts>\\t<request id | undefined>\\t<LEVEL>\\t<msg>` (older Node: no LEVEL field)
* Python    `[LEVEL]\\t<ISO ts>\\t<request id | empty>\\t<msg>`; `[ERROR] Runtime.X: ...`
* log4j     `<request id> LEVEL ...` (the `sam logs` Java sample) and the Lambda log4j2
            appender's `YYYY-MM-DD HH:MM:SS[.mmm] <request id> LEVEL ...`
* .NET      the Node layout with `info`/`warn`/`fail`/`crit`/`dbug`/`trce` levels

A request id is only taken when it is a UUID in that position; anything else keeps None (the
`attribute` post-pass fills ids from the surrounding START/REPORT).
"""

from __future__ import annotations

import re

from lifecycle_trace.ingest.platform_common import APP_LEVELS, cap, is_uuid, iso_to_ms
from lifecycle_trace.records import AppLine, Record, TimedOut

_TIMED_OUT_RE = re.compile(r"(?:(\S+) (\S+) )?Task timed out after (\d+(?:\.\d+)?) seconds")
_TIMED_OUT_TEXT = "Task timed out after "
TIMED_OUT = " " + _TIMED_OUT_TEXT
_DOTNET_LEVELS = {
    "trce": "TRACE",
    "dbug": "DEBUG",
    "info": "INFO",
    "warn": "WARN",
    "fail": "ERROR",
    "crit": "CRITICAL",
}


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
    level = parts[2] if parts[2] in APP_LEVELS else _DOTNET_LEVELS.get(parts[2])
    if len(parts) == 4 and level is not None:
        text = parts[3]
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


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def app_line(message: str, common: dict) -> list[Record]:
    """Any text the function printed (also a Telemetry API `function` record): by its first
    character to the logger format it can be."""
    first = message[:1]
    if first == "[":
        return bracket_line(message, common)
    if first in _HEX_DIGITS and first:
        return digit_line(message, common)
    return plain_line(message, common)
