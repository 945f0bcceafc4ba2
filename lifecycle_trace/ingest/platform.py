"""Message layer of ingest: one CloudWatch event's message -> typed records.

`parse_event` is called once per event on files of millions of events: it dispatches on the
first character and `startswith` before any regex, and only JSON-decodes messages that start
with `{` and end with `}`. Text platform lines (`START`, `END`, `REPORT`, `INIT_START`,
`INIT_REPORT`, `RESTORE_*`, old-style faults, `EXTENSION`/`TELEMETRY`/`LOGS`) are parsed by key,
never by position: TAB-separated when a TAB is present, else split on the known key names
(copies turn tabs into spaces). A line that starts like a platform line but does not parse is
counted with `stats.skip`, never raised. `stats.records` is left to the caller (it counts what
this returns).

Runtime Interface Emulator heuristic (dialect RIE): a `REPORT` whose first field after the
RequestId is `Init Duration` (real Lambda puts it last), a `REPORT` with `Duration` but neither
`Billed Duration` nor `Memory Size` (the Managed-Instances emulator), a `START` with a TAB before
`Version:`, and RIE's stderr lines (`[INFO] (rapid) INIT REPORT(durationMs: ...)`, ...). A warm
RIE REPORT looks like a real one; `attribute.attribute_app_lines` marks it RIE when its
environment showed any of the signs above.

The layer's modules: this one (dispatch, text platform lines), `applines` (function output),
`jsonlines` (JSON messages, lctrace markers), `telemetry` (`{time,type,record}` objects),
`rielines` (RIE stderr), `attribute` (the per-environment post-pass), `platform_common` (helpers).
"""

from __future__ import annotations

import re

from lifecycle_trace.ingest.applines import (
    TIMED_OUT,
    bracket_line,
    digit_line,
    plain_line,
    timed_out,
)
from lifecycle_trace.ingest.attribute import attribute_app_lines
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.jsonlines import json_message
from lifecycle_trace.ingest.platform_common import (
    BadField,
    cap,
    fault_record,
    function_for,
    key_regex,
    leading_number,
    number_field,
    split_fields,
    unescape_literal,
)
from lifecycle_trace.ingest.rielines import RIE_MARK, rie_line
from lifecycle_trace.ingest.telemetry import parse_platform_object
from lifecycle_trace.records import (
    RIE,
    TEXT,
    AppLine,
    End,
    InitReport,
    InitStart,
    PlatformNote,
    Record,
    Report,
    RestoreReport,
    RestoreStart,
    Start,
    TimedOut,
)

__all__ = ["attribute_app_lines", "parse_event", "parse_platform_object", "xray_fields"]

_REPORT_KEYS = key_regex(
    (
        "RequestId",
        "Duration",
        "Billed Duration",
        "Memory Size",
        "Max Memory Used",
        "Init Duration",
        "Restore Duration",
        "Billed Restore Duration",
        "Status",
        "Error Type",
    )
)
_XRAY_KEYS = key_regex(("TraceId", "SegmentId", "Sampled"))
_RUNTIME_KEYS = key_regex(("Runtime Version", "Runtime Version ARN"))
_INIT_REPORT_KEYS = key_regex(("Init Duration", "Phase", "Status", "Error Type"))
_RESTORE_REPORT_KEYS = key_regex(("Restore Duration", "Status", "Error Type"))
_NOTE_KEYS = key_regex(("Name", "State", "Events", "Types"))

_START_RE = re.compile(r"START RequestId: (\S+)(?:([ \t]+)Version: (\S+))?")
_END_RE = re.compile(r"END RequestId: (\S+)")
_NOTE_RE = re.compile(r"(?:([A-Z][A-Z_]*)\t|(EXTENSION|TELEMETRY|LOGS) )Name: ")
_UNKNOWN_APP_ERROR = "Unknown application error occurred"
_WHITESPACE = " \t\r\n"
_DIGIT_OR_HEX = frozenset("0123456789abcdef")


def parse_event(event: LogEvent, stats: SourceStats) -> list[Record]:
    """One CloudWatch event -> its records (none for an empty message or a skipped line)."""
    message = event.message
    if not message:
        return []
    first = message[0]
    if first in _WHITESPACE:
        message = message.lstrip()
        if not message:
            return []
        first = message[0]
    common = {
        "source": event.source,
        "line": event.line,
        "environment": event.environment,
        "timestamp_ms": event.timestamp_ms,
        "function": function_for(event.group, event.environment),
    }
    if first == "{":
        return json_message(message, common, stats)
    if "A" <= first <= "Z":
        records = _platform_text(message, first, common, stats)
        if records is not None:
            return records
        if first <= "F":  # an upper-case request id first (log4j layout)
            return digit_line(message, common)
    elif first == "[":
        if message.find(RIE_MARK, 1, 24) > 0:
            return rie_line(message[message.find(RIE_MARK) + len(RIE_MARK) :], common, stats)
        return bracket_line(message, common)
    elif first in _DIGIT_OR_HEX:
        mark = message.find(RIE_MARK, 20, 52) if first <= "9" else -1
        if mark > 0:  # `26 Nov 2026 14:46:37,123 [INFO] (rapid) ...`
            return rie_line(message[mark + len(RIE_MARK) :], common, stats)
        return digit_line(message, common)
    return plain_line(message, common)


def _keyword(message: str, keyword: str) -> bool:
    """`message` starts with the platform keyword as a whole word."""
    size = len(keyword)
    return message.startswith(keyword) and (len(message) == size or message[size] in _WHITESPACE)


def _platform_text(message: str, first: str, common: dict, stats: SourceStats) -> list | None:
    """Text-format platform lines; None when `message` is not one (-> application output)."""
    if "\\" in message:
        message = unescape_literal(message)
    try:
        if first == "S":
            if message.startswith("START RequestId:"):
                return _start(message, common, stats)
        elif first == "E":
            if message.startswith("END RequestId:"):
                return _end(message, common, stats)
            if message.startswith("Error: Runtime exited"):
                return _fault(message, common, stats)
        elif first == "R":
            if message.startswith("REPORT RequestId:"):
                return _report(message, common, stats)
            if message.startswith("RequestId: "):
                return _fault(message, common, stats)
            if _keyword(message, "RESTORE_START"):
                return _runtime_start(RestoreStart, message[13:], common)
            if _keyword(message, "RESTORE_REPORT"):
                return _restore_report(message, common, stats)
        elif first == "I":
            if _keyword(message, "INIT_START"):
                return _runtime_start(InitStart, message[10:], common)
            if _keyword(message, "INIT_REPORT"):
                return _init_report(message, common, stats)
            if _keyword(message, "IMAGE"):  # `IMAGE\tLaunch error: ...\tEntrypoint: [...]`
                state = message[6:].partition(":")[0].strip()
                if state.endswith(" error"):
                    return [PlatformNote(**common, kind="IMAGE", state=state, text=cap(message))]
        elif first == "X":
            if message.startswith("XRAY TraceId:"):
                return [_xray_note(message, common)]
        elif first == "T":
            if message.startswith(TIMED_OUT[1:]):
                return timed_out(message, common)
        elif first == "U" and message.startswith(_UNKNOWN_APP_ERROR):
            return [AppLine(**common, level="ERROR", text=cap(message))]
    except BadField as exc:
        stats.skip(common["line"], str(exc))
        return []
    match = _NOTE_RE.match(message)
    if match is not None:
        return [_note(match.group(1) or match.group(2), message, match.start(0), common)]
    return None


def _skip(stats: SourceStats, common: dict, reason: str) -> list:
    stats.skip(common["line"], reason)
    return []


def _start(message: str, common: dict, stats: SourceStats) -> list:
    match = _START_RE.match(message)
    if match is None:
        return _skip(stats, common, "START: expected 'START RequestId: <id> Version: <version>'")
    request_id, separator, version = match.groups()
    dialect = RIE if separator and "\t" in separator else TEXT
    return [Start(**common, request_id=request_id, version=version, dialect=dialect)]


def _end(message: str, common: dict, stats: SourceStats) -> list:
    match = _END_RE.match(message)
    if match is None:
        return _skip(stats, common, "END: expected 'END RequestId: <id>'")
    return [End(**common, request_id=match.group(1))]


def _report(message: str, common: dict, stats: SourceStats) -> list:
    head, _, rest = message.partition("\n")
    fields = split_fields(head[7:], _REPORT_KEYS)
    request_id = fields.get("RequestId")
    if not request_id or " " in request_id:
        return _skip(stats, common, f"REPORT: expected 'RequestId: <id>', got {request_id!r}")
    duration = number_field(fields, "Duration", "REPORT")
    if duration is None:
        return _skip(stats, common, "REPORT: expected 'Duration: <ms> ms'")
    keys = list(fields)
    rie = (len(keys) > 1 and keys[1] == "Init Duration") or (
        "Billed Duration" not in fields and "Memory Size" not in fields
    )
    memory = number_field(fields, "Memory Size", "REPORT")
    max_memory = number_field(fields, "Max Memory Used", "REPORT")
    trace_id = segment_id = sampled = None
    if rest:
        for extra in rest.split("\n"):
            if extra.startswith("XRAY "):
                trace_id, segment_id, sampled = xray_fields(extra)
    return [
        Report(
            **common,
            request_id=request_id,
            dialect=RIE if rie else TEXT,
            duration_ms=duration,
            billed_ms=number_field(fields, "Billed Duration", "REPORT"),
            memory_mb=None if memory is None else int(memory),
            max_memory_mb=None if max_memory is None else int(max_memory),
            init_ms=number_field(fields, "Init Duration", "REPORT"),
            restore_ms=number_field(fields, "Restore Duration", "REPORT"),
            billed_restore_ms=number_field(fields, "Billed Restore Duration", "REPORT"),
            status=fields.get("Status") or None,
            error_type=fields.get("Error Type") or None,
            trace_id=trace_id,
            segment_id=segment_id,
            sampled=sampled,
        )
    ]


def xray_fields(line: str) -> tuple[str | None, str | None, bool | None]:
    """`XRAY TraceId: <t>\\tSegmentId: <s>\\tSampled: true` -> (trace id, segment id, sampled)."""
    fields = split_fields(line[5:], _XRAY_KEYS)
    sampled = fields.get("Sampled", "").lower()
    return (
        fields.get("TraceId") or None,
        fields.get("SegmentId") or None,
        True if sampled == "true" else False if sampled == "false" else None,
    )


def _xray_note(message: str, common: dict) -> Record:
    """An `XRAY TraceId:` line on its own (a container split the REPORT event): kept as a note;
    the attribute post-pass copies its ids onto the REPORT just before it."""
    trace_id, segment_id, _ = xray_fields(message.partition("\n")[0])
    return PlatformNote(**common, kind="XRAY", name=trace_id, state=segment_id, text=cap(message))


def _runtime_start(cls: type, body: str, common: dict) -> list:
    """`INIT_START` / `RESTORE_START Runtime Version: ...\\tRuntime Version ARN: ...`."""
    fields = split_fields(body.partition("\n")[0], _RUNTIME_KEYS)
    return [
        cls(
            **common,
            runtime_version=fields.get("Runtime Version") or None,
            runtime_version_arn=fields.get("Runtime Version ARN") or None,
        )
    ]


def _init_report(message: str, common: dict, stats: SourceStats) -> list:
    head, _, rest = message.partition("\n")
    fields = split_fields(head[11:], _INIT_REPORT_KEYS)
    duration = number_field(fields, "Init Duration", "INIT_REPORT")
    if duration is None:
        return _skip(stats, common, "INIT_REPORT: expected 'Init Duration: <ms> ms'")
    records: list[Record] = [
        InitReport(
            **common,
            duration_ms=duration,
            phase=fields.get("Phase") or None,
            status=fields.get("Status") or None,
            error_type=fields.get("Error Type") or None,
        )
    ]
    if rest.strip():  # `\nUnknown application error occurred\nRuntime.Unknown`: the runtime's words
        records.append(AppLine(**common, level="ERROR", text=cap(rest.strip())))
    return records


def _restore_report(message: str, common: dict, stats: SourceStats) -> list:
    fields = split_fields(message.partition("\n")[0][14:], _RESTORE_REPORT_KEYS)
    duration = number_field(fields, "Restore Duration", "RESTORE_REPORT")
    if duration is None:
        return _skip(stats, common, "RESTORE_REPORT: expected 'Restore Duration: <ms> ms'")
    return [
        RestoreReport(
            **common,
            duration_ms=duration,
            status=fields.get("Status") or None,
            error_type=fields.get("Error Type") or None,
        )
    ]


def _fault(message: str, common: dict, stats: SourceStats) -> list:
    record = fault_record(message, common, TEXT)
    if record is None:
        return _skip(
            stats,
            common,
            "fault: expected 'RequestId: <id> Error: <reason>' or "
            "'RequestId: <id> Process exited before completing request'",
        )
    if record.reason.startswith(TIMED_OUT[1:]):  # `RequestId: X Error: Task timed out after N`
        seconds = leading_number(record.reason[len(TIMED_OUT) - 1 :])
        return [
            TimedOut(**common, request_id=record.request_id, timeout_s=seconds, text=record.text)
        ]
    return [record]


def _note(kind: str, message: str, start: int, common: dict) -> Record:
    """`EXTENSION\\tName: x\\tState: Ready\\tEvents: [...]` and any `^[A-Z_]+\\tName: ` line."""
    fields = split_fields(message[start + len(kind) + 1 :].partition("\n")[0], _NOTE_KEYS)
    return PlatformNote(
        **common,
        kind=kind,
        name=fields.get("Name") or None,
        state=fields.get("State") or None,
        text=cap(message),
    )
