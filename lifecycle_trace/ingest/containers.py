"""CloudWatch Logs JSON containers -> `LogEvent`s (reference §4.1, §4.2, §4.4).

`aws logs filter-log-events` / `get-log-events` output (one document or pages concatenated),
`lctrace collect` JSONL, subscription payloads (decoded, Lambda-trigger envelope, Kinesis records,
Firehose concatenations with or without delimiters) and Telemetry API batches. Every reader takes
an opened input and its `SourceStats`, yields events (or records, for Telemetry) in file order,
and counts what it could not read.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zlib
from collections.abc import Iterator

from lifecycle_trace import records
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.jsonstream import (
    DocumentEnd,
    DocumentStart,
    Element,
    Field,
    Malformed,
    walk,
)
from lifecycle_trace.ingest.opening import Opened
from lifecycle_trace.ingest.values import number_ms, stream_from_name

Item = LogEvent | records.Record

_EVENTS = frozenset({"events"})
_LOG_EVENTS = frozenset({"logEvents"})
_ENVELOPES = frozenset({"Records", "records", "logEvents"})
_ENVELOPE = "lctrace.envelope"  # marks a walked object as an envelope, not a malformed payload
_ENVELOPE_KEYS = frozenset({"Records", "records", "awslogs", "invocationId", "deliveryStreamArn"})
_PAYLOAD_KEYS = frozenset({"messageType", "logGroup", "logStream", _ENVELOPE})


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_event(
    value: object,
    *,
    source: str,
    line: int,
    stream: str | None,
    group: str | None,
    stats: SourceStats,
) -> LogEvent | None:
    """One CloudWatch event object (`{timestamp, message, logStreamName?, ...}`) as a LogEvent,
    or None (counted) when it has no message or a non-numeric timestamp."""
    if type(value) is not dict:
        stats.skip(line, f"log event is not a JSON object: {_short(value)}")
        return None
    message = value.get("message")
    if type(message) is not str:
        stats.skip(line, "log event without a 'message' string")
        return None
    timestamp = value.get("timestamp")
    if type(timestamp) is int and -(2**53) < timestamp < 2**53:  # the common case, first
        timestamp_ms: float | None = float(timestamp)
    elif timestamp is None:
        timestamp_ms = None
    else:
        try:
            timestamp_ms = number_ms(timestamp)
        except ValueError:
            stats.skip(line, f"log event 'timestamp' is not epoch ms: {_short(timestamp)}")
            return None
    own_stream = value.get("logStreamName")
    own_group = value.get("logGroupName")
    return LogEvent(
        source,
        line,
        own_stream if type(own_stream) is str and own_stream else stream,
        timestamp_ms,
        message,
        own_group if type(own_group) is str and own_group else group,
    )


def read_events_document(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """`filter-log-events` / `get-log-events` output: `{"events": [...], ...}`, any number of
    pages, streamed event by event. Events without a stream take it from the file name."""
    fallback = stream_from_name(opened.path)
    for item in walk(opened.text(), _EVENTS):
        if isinstance(item, Malformed):
            stats.skip(item.line, item.reason)
        elif isinstance(item, Element):
            if item.key is None and not isinstance(item.value, dict):
                stats.skip(item.line, "expected a JSON object with an 'events' list")
                continue
            event = to_event(  # an `events` element, or a bare event (`--query events` output)
                item.value, source=opened.name, line=item.line, stream=fallback, group=None,
                stats=stats,
            )
            if event is not None:
                yield event


def read_events_jsonl(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """One event object per line (`lctrace collect`, `sam logs --output json`,
    `aws logs tail --format none`)."""
    fallback = stream_from_name(opened.path)
    for number, line in enumerate(opened.text(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            values = [json.loads(text)]
        except json.JSONDecodeError as error:
            if error.msg != "Extra data":
                stats.skip(number, f"bad JSON line ({error.msg})")
                continue
            values = _concatenated(text, number, stats)  # `{...}{...}` on one line
        except (ValueError, RecursionError) as error:
            stats.skip(number, f"bad JSON line ({error})")
            continue
        for value in values:
            event = to_event(
                value, source=opened.name, line=number, stream=fallback, group=None, stats=stats
            )
            if event is not None:
                yield event


def _concatenated(text: str, line: int, stats: SourceStats) -> list[object]:
    """The JSON values of one line holding several (objects written without a newline)."""
    values: list[object] = []
    for item in walk(io.StringIO(text), None):
        if isinstance(item, Malformed):
            stats.skip(line, f"bad JSON in line ({item.reason})")
        elif isinstance(item, Element):
            values.append(item.value)
    return values


def _decode_data(data: object) -> bytes:
    """base64 of gzip (or zlib, or plain) JSON -> bytes; ValueError with a reason otherwise."""
    if not isinstance(data, str):
        raise ValueError(f"'data' is not a base64 string: {_short(data)}")
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"bad base64 in 'data' ({error})") from None
    if raw.startswith(b"\x1f\x8b") or raw[:1] == b"\x78":
        try:
            return _inflate(raw)
        except zlib.error as error:
            raise ValueError(f"'data' is not valid gzip/zlib ({error})") from None
    if raw.lstrip()[:1] in (b"{", b"["):
        return raw
    raise ValueError("'data' decodes to neither gzip, zlib nor JSON")


MAX_PAYLOAD_BYTES = 64 << 20
"""Largest decompressed subscription payload (real ones are about 1 MB): a bound, not a limit
AWS sets, so a corrupt or hostile record cannot inflate without end."""


def _inflate(raw: bytes) -> bytes:
    """gzip (one or more members) or zlib data, inflated up to MAX_PAYLOAD_BYTES."""
    parts: list[bytes] = []
    size = 0
    while raw:
        inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        part = inflater.decompress(raw, MAX_PAYLOAD_BYTES - size + 1)
        size += len(part)
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"'data' inflates beyond {MAX_PAYLOAD_BYTES} bytes")
        if not inflater.eof:
            raise ValueError("'data' is truncated gzip/zlib")
        parts.append(part)
        raw = inflater.unused_data
    return b"".join(parts)


def _payloads(
    items: Iterator, *, source: str, stats: SourceStats, at_line: int | None = None
) -> Iterator[LogEvent]:
    """Subscription payloads (`{messageType, logGroup, logStream, logEvents}`) from walked items.

    `at_line` is the line of the envelope when the payload was decoded from base64 (its own lines
    mean nothing in the file). CONTROL_MESSAGE payloads are counted in `stats.control`.
    """
    fields: dict[str, object] = {}
    pending: list[Element] = []
    start = at_line or 1

    def flush() -> Iterator[LogEvent]:
        if not pending and not fields:
            return
        kind = fields.get("messageType")
        if kind == "CONTROL_MESSAGE":
            stats.control += 1
        elif not pending and not fields.keys() & _PAYLOAD_KEYS:
            stats.skip(start, "JSON object is not a subscription payload (no 'logEvents')")
        else:
            stream, group = fields.get("logStream"), fields.get("logGroup")
            for element in pending:
                event = to_event(
                    element.value,
                    source=source,
                    line=at_line or element.line,
                    stream=stream if isinstance(stream, str) and stream else None,
                    group=group if isinstance(group, str) and group else None,
                    stats=stats,
                )
                if event is not None:
                    yield event
        fields.clear()
        pending.clear()

    for item in items:
        if isinstance(item, LogEvent):
            yield item
        elif isinstance(item, Malformed):
            prefix = "in decoded payload: " if at_line else ""
            stats.skip(at_line or item.line, prefix + item.reason)
        elif isinstance(item, DocumentStart):
            yield from flush()
            start = at_line or item.line
        elif isinstance(item, Field):
            fields[item.key] = item.value
        elif isinstance(item, Element) and item.key == "logEvents":
            pending.append(item)
        elif isinstance(item, Element):
            stats.skip(at_line or item.line, "expected a subscription payload object")
        elif isinstance(item, DocumentEnd):
            yield from flush()
    yield from flush()


def _decoded_payloads(
    data: object, *, source: str, line: int, stats: SourceStats
) -> Iterator[LogEvent]:
    try:
        raw = _decode_data(data)
    except ValueError as error:
        stats.skip(line, str(error))
        return
    text = io.StringIO(raw.decode("utf-8", "replace"))
    yield from _payloads(walk(text, _LOG_EVENTS), source=source, stats=stats, at_line=line)


def read_subscription(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """Decoded subscription payloads: one, or many concatenated (Firehose/S3, with or without a
    delimiter). Also accepts the Lambda-trigger, Kinesis and Firehose-transformation envelopes,
    so a forced format still reads a file of any of these shapes."""
    items = walk(opened.text(), _ENVELOPES)
    yield from _payloads(_unwrap(items, opened.name, stats), source=opened.name, stats=stats)


def _unwrap(items: Iterator, source: str, stats: SourceStats) -> Iterator:
    """Pass walked items through, replacing envelope records by their decoded payload events."""
    for item in items:
        if isinstance(item, Element | Field) and item.key in _ENVELOPE_KEYS:
            yield Field(item.line, _ENVELOPE, True)
        if isinstance(item, Element) and item.key in ("Records", "records"):
            record = item.value
            data = None
            if isinstance(record, dict):
                kinesis = record.get("kinesis")
                data = kinesis.get("data") if isinstance(kinesis, dict) else record.get("data")
            if data is None:
                stats.skip(item.line, f"{item.key}[] entry without kinesis.data/data")
                continue
            yield from _decoded_payloads(data, source=source, line=item.line, stats=stats)
        elif isinstance(item, Field) and item.key == "awslogs":
            envelope = item.value
            data = envelope.get("data") if isinstance(envelope, dict) else None
            yield from _decoded_payloads(data, source=source, line=item.line, stats=stats)
        else:
            yield item


def read_invoke_result(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """`aws lambda invoke --log-type Tail` output: `LogResult` is base64 of the invocation's log
    tail (text or JSON-format lines, no stream, no times)."""
    from lifecycle_trace.ingest.textlogs import bare_lines

    for item in walk(opened.text(), None):
        if isinstance(item, Malformed):
            stats.skip(item.line, item.reason)
            continue
        value = item.value if isinstance(item, Element) else None
        result = value.get("LogResult") if isinstance(value, dict) else None
        if not isinstance(result, str):
            stats.skip(item.line, "invoke output without a 'LogResult' string")
            continue
        try:
            text = base64.b64decode(result, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as error:
            stats.skip(item.line, f"bad base64 in 'LogResult' ({error})")
            continue
        yield from bare_lines(text.splitlines(), opened.name, None, at_line=item.line)


def read_telemetry(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """Telemetry API batches: JSON arrays of `{time, type, record}` (one or several, or single
    objects), each event handed to the platform parser as dialect TELEMETRY."""
    from lifecycle_trace.ingest.platform import parse_platform_object

    for item in walk(opened.text(), None):
        if isinstance(item, Malformed):
            stats.skip(item.line, item.reason)
            continue
        value = item.value if isinstance(item, Element) else None
        if not isinstance(value, dict):
            stats.skip(item.line, f"telemetry event is not a JSON object: {_short(value)}")
            continue
        yield from parse_platform_object(
            value,
            source=opened.name,
            line=item.line,
            environment=None,
            dialect=records.TELEMETRY,
            stats=stats,
        )
