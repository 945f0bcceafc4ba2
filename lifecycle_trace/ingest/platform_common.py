"""Helpers shared by the message parsers (`platform`, `applines`, `telemetry`).

Everything here runs once per log line in files of millions of events, so it is written for the
fast path: precompiled regexes, no allocation unless a value is produced, caches for the values
that repeat on every event of a stream (the function name from the log group / stream name).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from math import isfinite

from lifecycle_trace.records import MAX_APP_TEXT, RuntimeExit

_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A plain decimal (what Lambda prints: `9.14`, `100`, `1.28E8`); never `nan`, `inf`, `1_000`.
_NUMBER_RE = re.compile(r"[ \t]*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)")
# Custom log groups: `YYYY/MM/DD/<function>[<version>]<32 hex>` (Datadog's regex, ref §4.7).
_STREAM_FUNCTION_RE = re.compile(
    r"\d{4}/[01]\d/[0-3]\d/([\w.-]{1,75})\[(?:\$LATEST|[\w-]{1,129})\][0-9a-f]{32}"
)
_INFINITY = float("inf")
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

APP_LEVELS = frozenset(
    {"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "NOTICE"}
)
"""Level words the built-in runtime loggers print (Node, Python, log4j, JSON `level`)."""


class BadField(ValueError):
    """A platform record field that is present but not what the format says (-> stats.skip)."""


def is_uuid(text: str) -> bool:
    """True when `text` is exactly one UUID (what Lambda request ids are)."""
    return len(text) == 36 and text[8] == "-" and _UUID_RE.fullmatch(text) is not None


def leading_number(value: str) -> float | None:
    """The number at the start of `value` (`"9.14 ms"` -> 9.14), None when there is none."""
    match = _NUMBER_RE.match(value)
    if match is None:
        return None
    number = float(match.group(1))
    return number if number != _INFINITY else None


def iso_to_ms(text: object) -> float | None:
    """ISO-8601 (`2024-05-20T16:29:44.833Z`; naive = UTC) -> epoch ms; None if not a time."""
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // _MICROSECOND) / 1000.0


@lru_cache(maxsize=4096)
def function_for(group: str | None, environment: str | None) -> str | None:
    """The function name a container implies: log group `/aws/lambda/<name>`, else a custom-group
    stream name `YYYY/MM/DD/<function>[<version>]<hex>`; None when neither says."""
    if group and group.startswith("/aws/lambda/"):
        name = group[12:].strip("/")
        region, dot, rest = name.partition(".")
        if dot and rest and _REGION_RE.fullmatch(region):
            name = rest  # Lambda@Edge: `/aws/lambda/us-east-1.<function>` (names have no dots)
        if name:
            return name
    if environment:
        match = _STREAM_FUNCTION_RE.fullmatch(environment)
        if match is not None:
            return match.group(1)
    return None


def cap(text: str) -> str:
    """An application line as kept for evidence: trailing whitespace cut, at most MAX_APP_TEXT."""
    text = text.rstrip()
    return text if len(text) <= MAX_APP_TEXT else text[:MAX_APP_TEXT]


def key_regex(keys: tuple[str, ...]) -> re.Pattern[str]:
    """A regex finding `Key:` for known keys after a space, a tab or the start. A key must start
    at a separator and end at its colon, so `Billed Duration` is never read as `Duration` and
    `Runtime Version ARN` never as `Runtime Version` (longest first only saves backtracking)."""
    alternatives = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
    return re.compile(r"(?:^|[\t ]+)(" + alternatives + r"): ?")


def split_fields(body: str, keys: re.Pattern[str]) -> dict[str, str]:
    """`Key: value` fields of one platform line, in line order.

    Lambda separates fields with TAB; copies (docs, consoles, READMEs) use spaces. With a TAB
    present, split on it (unknown keys kept, so new AWS fields do not break anything); when a
    value still holds `: ` the line mixes separators, so fall back to splitting on known keys.
    """
    if "\t" in body:
        fields: dict[str, str] = {}
        for part in body.split("\t"):
            key, sep, value = part.partition(": ")
            if not sep:
                key = part.strip()
                if key.endswith(":"):  # `Key:` with an empty value
                    fields[key[:-1]] = ""
                continue
            if ": " in value:
                return _split_on_keys(body, keys)
            fields[key.strip()] = value.strip()
        return fields
    return _split_on_keys(body, keys)


def _split_on_keys(body: str, keys: re.Pattern[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    previous_key: str | None = None
    previous_end = 0
    for match in keys.finditer(body):
        if previous_key is not None:
            fields[previous_key] = body[previous_end : match.start()].strip()
        previous_key = match.group(1)
        previous_end = match.end()
    if previous_key is not None:
        fields[previous_key] = body[previous_end:].strip()
    return fields


def number_field(fields: dict[str, str], key: str, what: str) -> float | None:
    """The number in an optional `key` field; BadField when present but not a number."""
    value = fields.get(key)
    if value is None:
        return None
    number = leading_number(value)
    if number is None:
        raise BadField(f"{what}: field {key!r} expected a number, got {value!r}")
    return number


def unescape_literal(message: str) -> str:
    r"""Undo a literal `\t`/`\n` (backslash + letter) in a platform line that has no real TAB.

    Some copies (e.g. Datadog's forwarder snapshots) hold platform lines double-escaped; Lambda
    itself never writes a backslash into them, so this cannot change a real line's meaning.
    """
    if "\t" not in message and ("\\t" in message or "\\n" in message):
        return message.replace("\\t", "\t").replace("\\n", "\n")
    return message


_ERROR_TYPE_RE = re.compile(r"[A-Z][A-Za-z]*\.[A-Za-z][\w.<>]*|[A-Z][A-Za-z]*<[\w:]+>")
_EXIT_STATUS_RE = re.compile(r"exit status (\d+)")
_SIGNAL_RE = re.compile(r"signal: (\w+)")
PROCESS_EXITED = "Process exited before completing request"


def fault_record(text: str, common: dict, dialect: str) -> RuntimeExit | None:
    """An old-style runtime fault (`RequestId: X Error: Runtime exited with error: exit status
    126\\nRuntime.ExitError`, `Error: Runtime exited ... signal: killed`, `RequestId: X Process
    exited before completing request`; also a Logs API `platform.fault` string) -> RuntimeExit.
    None when `text` is not one of these shapes."""
    text = text.strip()
    head, _, rest = text.partition("\n")
    request_id = None
    body = head
    if body.startswith("RequestId: "):
        request_id, _, body = body[11:].partition(" ")
        if not request_id or not body:
            return None
    if body.startswith("Error: "):
        reason = body[7:].strip()
    elif body.startswith(PROCESS_EXITED):
        reason = PROCESS_EXITED
    else:
        return None
    if not reason:
        return None
    error_type = None
    for extra in rest.split("\n"):
        extra = extra.strip()
        if extra:
            if _ERROR_TYPE_RE.fullmatch(extra):
                error_type = extra
            break
    exit_status, signal = exit_details(reason)
    return RuntimeExit(
        **common,
        request_id=request_id,
        dialect=dialect,
        reason=reason,
        exit_status=exit_status,
        signal=signal,
        error_type=error_type,
        text=cap(text),
    )


def exit_details(reason: str) -> tuple[int | None, str | None]:
    """`... exit status 126` -> (126, None); `... signal: killed` -> (None, "killed")."""
    status = _EXIT_STATUS_RE.search(reason)
    signal = _SIGNAL_RE.search(reason)
    return (int(status.group(1)) if status else None, signal.group(1) if signal else None)


def json_number(obj: dict, key: str, path: str = "") -> float | None:
    """A JSON number field (int or float, never bool); None when absent or null. `path` prefixes
    the key in the error (`metrics.`)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
        raise BadField(f"'{path}{key}' expected a number, got {value!r}")
    return float(value)


def json_str(obj: dict, key: str) -> str | None:
    """A JSON string field; None when absent, null, empty or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None
