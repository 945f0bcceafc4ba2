"""Which container an input is, decided from its first bytes (and, for S3 exports, its name).

JSON inputs are classified by the keys of their first value (decoded when it fits in the head,
otherwise by scanning its top-level keys); text inputs by which line prefix most of their first
lines carry (`aws logs tail`, `sam logs`, S3 export) or, failing that, by bare Lambda platform
lines (console paste, Runtime Interface Emulator stdout).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from lifecycle_trace.ingest.values import strip_ansi

_DECODER = json.JSONDecoder()
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRUCTURE = re.compile(r'["{}\[\]]')
_COLON = re.compile(r"\s*:")
_STREAM_KEY = re.compile(r'"logStreamName"\s*:')
_EVENTS_NONEMPTY = re.compile(r'"events"\s*:\s*\[\s*\{')

TAIL_DETAILED = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?[+-]\d\d:\d\d) (\S+)(?: (.*))?$", re.S
)
TAIL_SHORT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?: (.*))?$", re.S)
S3_EXPORT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)(?: (.*))?$", re.S)
SAM_LOGS = re.compile(
    r"^(\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:\d\d|Z)?)(?: (.*))?$", re.S
)
PLATFORM_LINE = re.compile(
    r"^(?:(?:START|END|REPORT) RequestId: |INIT_START |INIT_REPORT |RESTORE_START |RESTORE_REPORT"
    r" |[A-Z_]{3,}\s+Name: |RequestId: \S+ (?:Error: |Process exited))"
)
RIE_SIGNS = re.compile(
    r"\(rapid\) |^REPORT RequestId: \S+\s+Init Duration: |^START RequestId: \S+\tVersion: "
    r"|^REPORT RequestId: \S+\tDuration: [\d.]+ ms\s*$",
    re.M,
)
_EXPORT_OBJECT = re.compile(r"^\d{6}(?:\.gz)?$")
SNIFF_LINES = 200


def sniff(head: bytes, path: Path | None, external: dict | None = None) -> str | None:
    """The format name of an input from its first bytes, "empty", or None when unknown.

    `external` maps extra format names to `detect(head: bytes) -> bool` callables (OTLP JSON,
    X-Ray); they are asked after the CloudWatch JSON containers.
    """
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    body = text.lstrip()
    if not body:
        return "empty"
    if body[0] in "{[":
        found = _sniff_json(body)
        if found:
            return found
    for name, detect in (external or {}).items():
        try:
            if detect(head):
                return name
        except Exception:  # noqa: BLE001 - a detector bug must not stop detection
            continue
    if body[0] == "{":
        found = _sniff_json_lines(body)
        if found:
            return found
    return _sniff_text(text, path)


def _first_value(text: str) -> tuple[object, int] | None:
    try:
        return _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None


def _top_keys(text: str) -> set[str]:
    """Keys of the first object in `text` at depth 1, even when the object is cut off."""
    keys: set[str] = set()
    depth = 0
    index = 0
    while True:
        match = _STRUCTURE.search(text, index)
        if match is None:
            return keys
        index = match.end()
        char = match.group()
        if char == '"':
            rest = _STRING_REST.match(text, index)
            if rest is None:
                return keys
            if depth == 1 and _COLON.match(text, rest.end()):
                keys.add(text[index : rest.end() - 1])
            index = rest.end()
        elif char in "{[":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return keys


def _sniff_json(text: str) -> str | None:
    """Classify a JSON head by its first value's keys."""
    decoded = _first_value(text)
    first = decoded[0] if decoded else None
    if text[0] == "[":
        element = first[0] if isinstance(first, list) and first else None
        if element is None and first is None:
            inner = _first_value(text[1:].lstrip())
            element = inner[0] if inner else None
        if isinstance(element, dict) and {"type", "record"} <= element.keys():
            return "telemetry"
        if isinstance(element, dict) and "message" in element and (
            "logStreamName" in element or "timestamp" in element
        ):
            return "filter-log-events"  # `--query events`: the events array alone
        if isinstance(element, list) and element and isinstance(element[0], dict) and (
            {"field", "value"} <= element[0].keys()
        ):
            return "insights-json"  # `--query results`: the rows alone
        if isinstance(element, dict) and element and all(key.startswith("@") for key in element):
            return "insights-json"  # console "download table (JSON)": rows as objects
        return None
    keys = set(first) if isinstance(first, dict) else _top_keys(text)
    if "awslogs" in keys:
        return "lambda-trigger"
    if "Records" in keys and '"kinesis"' in text:
        return "kinesis"
    if "records" in keys and keys & {"deliveryStreamArn", "invocationId"}:
        return "firehose"
    if "messageType" in keys or {"logEvents", "logStream"} <= keys:
        if decoded and text[decoded[1] :].lstrip().startswith("{"):
            return "firehose"
        return "subscription"
    if "events" in keys:
        if _STREAM_KEY.search(text) or not _EVENTS_NONEMPTY.search(text):
            return "filter-log-events"
        return "get-log-events"
    if "results" in keys:
        return "insights-json"
    if "LogResult" in keys:
        return "invoke-log-result"
    sample = first if isinstance(first, dict) else next(_line_objects(text), None)
    if (
        isinstance(sample, dict)
        and "message" in sample
        and "level" not in sample
        and ("logStreamName" in sample or _is_number(sample.get("timestamp")))
        and _mostly_json_lines(text)
    ):
        return "events-jsonl"
    return None


def _mostly_json_lines(text: str) -> bool:
    """Most of the first lines are JSON objects (not RIE/console output that starts with one
    line of the function's JSON logging)."""
    lines = [line for line in text.splitlines()[:SNIFF_LINES] if line.strip()]
    if len(lines) <= 1:
        return True
    return sum(line.lstrip().startswith("{") for line in lines) >= 0.8 * len(lines)


def _line_objects(text: str):
    """JSON objects among the first lines of `text` (lines that fail to decode are passed over:
    one bad line must not hide the shape of the rest)."""
    for line in text.splitlines()[:SNIFF_LINES]:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            yield value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_log_format_object(value: object) -> bool:
    """A CloudWatch JSON-log-format line: platform event, app JSON line or lctrace marker."""
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    if isinstance(kind, str) and kind.startswith("platform.") and "record" in value:
        return True
    if "lctrace" in value:
        return True
    has_time = "timestamp" in value or "time" in value
    return has_time and ("level" in value or "requestId" in value)


def _sniff_json_lines(text: str) -> str | None:
    """One JSON-log-format object per line (console paste of a JSON-format log group)."""
    if any(is_log_format_object(value) for value in _line_objects(text)):
        return "json-log-lines"
    return None


def _csv_header(line: str) -> str | None:
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    names = [field.strip().lower() for field in fields]
    if names == ["timestamp", "message"]:
        return "console-csv"
    if (
        names
        and all(names)
        and any(name.startswith("@") for name in names)
        and all(" " not in name for name in names)
    ):
        return "insights-csv"
    return None


def _sniff_text(text: str, path: Path | None) -> str | None:
    lines = [strip_ansi(line).rstrip() for line in text.splitlines()[:SNIFF_LINES]]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return "empty"
    header = _csv_header(lines[0])
    if header:
        return header
    counts: Counter[str] = Counter()
    for line in lines:
        if TAIL_DETAILED.match(line) or TAIL_SHORT.match(line):
            counts["tail"] += 1
        elif S3_EXPORT.match(line):
            counts["s3-export"] += 1
        elif SAM_LOGS.match(line):
            counts["sam-logs"] += 1
        elif PLATFORM_LINE.match(line.lstrip()):
            counts["bare"] += 1
    rie = bool(RIE_SIGNS.search("\n".join(lines)))
    prefixed = [(count, name) for name, count in counts.items() if name != "bare"]
    if prefixed:
        _, best = max(prefixed)
        export_name = path is not None and _EXPORT_OBJECT.match(path.name)
        if best != "s3-export" or export_name or not counts["bare"]:
            return best
    if rie:
        return "rie"
    if counts["bare"]:
        return "plain-text"
    return None
