"""Line-oriented text containers -> `LogEvent`s (reference §4.3, §4.5, §1.10).

`aws logs tail` (detailed, short and `--format json`), `sam logs`, CloudWatch export-to-S3
objects, console pastes of platform lines, Runtime Interface Emulator stdout and files of
CloudWatch JSON-log-format lines. A line without the container's prefix continues the previous
event (multi-line messages such as REPORT + XRAY, pretty-printed JSON). Files are streamed line by
line; only the event being assembled is held.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.detect import (
    S3_EXPORT,
    SAM_LOGS,
    TAIL_DETAILED,
    TAIL_SHORT,
)
from lifecycle_trace.ingest.opening import Opened
from lifecycle_trace.ingest.values import (
    any_time_ms,
    iso_to_ms,
    stream_from_export_path,
    strip_ansi,
)

MAX_EVENT_CHARS = 4 * 1024 * 1024
"""Longest event assembled from continuation lines (CloudWatch events are at most 1 MB; pretty
printing can double that). Beyond it lines are dropped and counted, so memory stays bounded."""

# (line) -> (environment, timestamp text, message) when the line starts an event, else None.
Splitter = Callable[[str], "tuple[str | None, str, str] | None"]

_ERROR_TYPE = re.compile(
    r"^(?:(?:Runtime|Extension|Sandbox|Function)\.[A-Za-z]+|Function<[^>]*>)\s*$"
)
_UNKNOWN_ERROR = "Unknown application error occurred"


def _continues(first: str, last: str, line: str) -> bool:
    """Whether `line` is the second (third) line of the event `first`...`last`, which a console
    paste shows on a line of its own: REPORT's `XRAY TraceId:`, INIT_REPORT's
    `Unknown application error occurred`, and the error type under an error line."""
    if line.startswith("XRAY TraceId: "):
        return first.startswith("REPORT ")
    if line.startswith(_UNKNOWN_ERROR):
        return first.startswith(("INIT_REPORT ", "RESTORE_REPORT "))
    if _ERROR_TYPE.match(line):
        return "Error" in last or "error" in last or last.startswith(_UNKNOWN_ERROR)
    return False


def _tail_line(line: str) -> tuple[str | None, str, str] | None:
    match = TAIL_DETAILED.match(line)
    if match:
        return match.group(2), match.group(1), match.group(3) or ""
    match = TAIL_SHORT.match(line)
    if match:
        return None, match.group(1), match.group(2) or ""
    return None


def _sam_line(line: str) -> tuple[str | None, str, str] | None:
    match = SAM_LOGS.match(line)
    return (match.group(1), match.group(2), match.group(3) or "") if match else None


def _s3_line(line: str) -> tuple[str | None, str, str] | None:
    match = S3_EXPORT.match(line)
    return (None, match.group(1), match.group(2) or "") if match else None


def _prefixed(
    opened: Opened,
    stats: SourceStats,
    split: Splitter,
    environment: str | None = None,
    what: str = "event",
) -> Iterator[LogEvent]:
    """Events whose first line carries a prefix; unprefixed lines continue the current event."""
    start = 0
    stream: str | None = None
    stamp = ""
    parts: list[str] = []
    size = 0

    def finish() -> LogEvent | None:
        if size > MAX_EVENT_CHARS:
            stats.skip(start, f"event longer than {MAX_EVENT_CHARS} characters: the rest of its "
                              "lines were dropped")
        while len(parts) > 1 and not parts[-1].strip():
            parts.pop()
        if parts and not parts[0].strip() and len(parts) > 1:
            parts.pop(0)  # `tail --format json`: the JSON starts on the next line
        try:
            timestamp_ms = iso_to_ms(stamp)
        except ValueError:
            stats.skip(start, f"bad timestamp {stamp!r}")
            return None
        return LogEvent(
            source=opened.name,
            line=start,
            environment=stream if stream is not None else environment,
            timestamp_ms=timestamp_ms,
            message="\n".join(parts),
        )

    for number, raw in enumerate(opened.text(), 1):
        line = strip_ansi(raw.rstrip("\n"))
        found = split(line)
        if found is None:
            if parts:
                size += len(line) + 1
                if size <= MAX_EVENT_CHARS:
                    parts.append(line)
            elif line.strip():
                stats.skip(number, f"line before the first {what} has no prefix")
            continue
        if parts:
            event = finish()
            if event is not None:
                yield event
        start, (stream, stamp, first) = number, found
        parts, size = [first], len(first)
    if parts:
        event = finish()
        if event is not None:
            yield event


def read_tail(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """`aws logs tail` output: `<iso µs +00:00> <stream> <message>` or `<iso s> <message>`."""
    yield from _prefixed(opened, stats, _tail_line, what="tail event")


def read_sam_logs(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """`sam logs` output: `<stream> <iso µs, no zone> <message>`."""
    yield from _prefixed(opened, stats, _sam_line, what="sam logs event")


def read_s3_export(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """A CloudWatch export object: `<iso ms Z> <message>`; the stream is the object's folder."""
    environment = stream_from_export_path(opened.path)
    yield from _prefixed(opened, stats, _s3_line, environment=environment, what="exported event")


def bare_lines(
    lines: Iterable[str], source: str, environment: str | None, at_line: int | None = None
) -> Iterator[LogEvent]:
    """One event per non-blank line; known second lines (XRAY, Runtime.ExitError) are joined to
    the line before, as they were one CloudWatch event. `at_line` pins every event to one line
    of the file (lines decoded out of a field, e.g. `LogResult`)."""
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = strip_ansi(raw.rstrip("\r\n"))
        if not line.strip():
            continue
        if parts and _continues(parts[0], parts[-1], line.lstrip()):
            parts.append(line.lstrip())
            continue
        if parts:
            yield LogEvent(source, at_line or start, environment, None, "\n".join(parts))
        start, parts = number, [line]
    if parts:
        yield LogEvent(source, at_line or start, environment, None, "\n".join(parts))


def read_plain_text(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """Platform and app lines pasted from the console: no stream, usually no timestamps."""
    yield from bare_lines(opened.text(), opened.name, None)


def rie_environment(path: Path | None) -> str:
    """RIE stdout has no stream name: one file is one environment, named by the file's stem."""
    if path is None:
        return "stdin"
    name = path.name
    for suffix in (".gz", ".log", ".txt", ".out"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def read_rie(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """Runtime Interface Emulator stdout (its own START/END/REPORT layout, the runtime's output
    and possibly RIE's `(rapid)` stderr lines, which the message parser treats as non-Lambda)."""
    yield from bare_lines(opened.text(), opened.name, rie_environment(opened.path))


def read_json_log_lines(opened: Opened, stats: SourceStats) -> Iterator[LogEvent]:
    """CloudWatch JSON-log-format lines (`{"time","type":"platform.*","record"}` or app JSON),
    one per line; every line is a message, its `time`/`timestamp` the event time when present."""
    for number, raw in enumerate(opened.text(), 1):
        line = strip_ansi(raw.strip())
        if not line:
            continue
        timestamp_ms = None
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                stamp = value.get("time", value.get("timestamp"))
                try:
                    timestamp_ms = any_time_ms(stamp) if stamp is not None else None
                except (ValueError, OverflowError):
                    timestamp_ms = None
        yield LogEvent(opened.name, number, None, timestamp_ms, line)
