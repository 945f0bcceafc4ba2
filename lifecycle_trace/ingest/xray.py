"""X-Ray `batch-get-traces` output -> lifecycle records.

Input: the AWS CLI's output (one pretty-printed `{"Traces":[...],"UnprocessedTraceIds":[]}`),
several such objects one per line (`lctrace collect traces`), or bare segment documents one per
line. Each `Segments[].Document` is a JSON *string*; segments arrive in no order.

Per traced invoke Lambda writes two segments (reference §5):
- `AWS::Lambda` (the service): request id, function name, status, whole-request time;
- `AWS::Lambda::Function` (its child, `parent_id` = the service segment id): the invoke, with
  subsegments `Initialization` (cold start; starts *before* this segment), `Invocation` (the
  handler), `Overhead` (response sent -> next invoke signal) and `Restore` (SnapStart).

The function segment becomes a `lambda.invocation` PhaseSpan and its lifecycle subsegments
become `lambda.init`, `lambda.handler`, `lambda.post_response` and `lambda.restore`, all carrying
the request id of their service segment (X-Ray does not name the log stream, so `environment` is
None: the analysis joins by request id). Everything else is kept as one `PlatformNote` each and
counted: the service segment (`xray.segment`, with its HTTP status: a throttled request has no
function segment and no log line at all), other services' segments (`xray.segment`) and the
function's own subsegments (`xray.subsegment`, request id attached, `text` says which phase they
ran under).
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from lifecycle_trace import schema
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.ingest.otlp import json_documents
from lifecycle_trace.records import MAX_APP_TEXT, XRAY, PhaseSpan, PlatformNote

SERVICE_ORIGIN = "AWS::Lambda"
FUNCTION_ORIGIN = "AWS::Lambda::Function"
SUBSEGMENT_PHASES = {
    "Initialization": schema.SPAN_INIT,
    "Invocation": schema.SPAN_HANDLER,
    "Overhead": schema.SPAN_POST_RESPONSE,
    "Restore": schema.SPAN_RESTORE,
}
NOTE_SEGMENT = "xray.segment"
NOTE_SUBSEGMENT = "xray.subsegment"

# X-Ray-only attributes on the PhaseSpans (the record has no field for them)
ATTR_ORIGIN = "aws.xray.origin"
ATTR_SEGMENT_ID = "aws.xray.segment_id"
ATTR_SERVICE_MS = "aws.xray.service_ms"
"""Duration of the `AWS::Lambda` segment: the whole request as the Lambda service saw it."""
ATTR_PRE_INIT_MS = "aws.xray.pre_init_ms"
"""`AWS::Lambda` start -> `Initialization` start: placement and code download, in no log line."""
ATTR_HTTP_STATUS = "http.response.status_code"

_DETECT_BATCH = re.compile(
    rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"(?:Traces|UnprocessedTraceIds|NextToken)"\s*:'
)
_DETECT_DOCUMENT = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{[^\n]*"trace_id"\s*:\s*"1-[0-9a-fA-F]{8}-')
_MAX_DEPTH = 32


def detect(head: bytes) -> bool:
    """True for `batch-get-traces` output or a line of bare X-Ray segment documents."""
    if _DETECT_BATCH.match(head):
        return True
    first = head.split(b"\n", 1)[0]
    return _DETECT_DOCUMENT.match(first) is not None and b'"start_time"' in first


class _Malformed(ValueError):
    """A field that is not what X-Ray writes; the message names the field."""


@dataclass(slots=True)
class _Segment:
    line: int
    where: str
    doc: dict
    start: float
    end: float | None


def _seconds(doc: dict, key: str, where: str, required: bool) -> float | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Malformed(f"{where}.{key}: expected epoch seconds, got {value!r:.40}")
    if value <= 0:
        raise _Malformed(f"{where}.{key}: expected epoch seconds, got {value!r:.40}")
    return float(value)


def _segment(document: object, line: int, where: str, trace_id: object) -> _Segment:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (json.JSONDecodeError, RecursionError):
            raise _Malformed(f"{where}: Document is not a JSON segment") from None
    if not isinstance(document, dict):
        raise _Malformed(f"{where}: expected a segment document object")
    if not isinstance(document.get("id"), str):
        raise _Malformed(f"{where}.id: expected a segment id")
    if not isinstance(document.get("trace_id"), str) and isinstance(trace_id, str):
        document = {**document, "trace_id": trace_id}
    start = _seconds(document, "start_time", where, required=True)
    end = _seconds(document, "end_time", where, required=False)
    return _Segment(line, where, document, start, end)  # type: ignore[arg-type]


def _read_segments(data: bytes, stats: SourceStats) -> list[_Segment]:
    """Every well-formed segment in the input; malformed ones counted."""
    segments: list[_Segment] = []
    for line, value in json_documents(data, stats):
        if isinstance(value, dict) and "Traces" in value:
            traces = value.get("Traces")
            if not isinstance(traces, list):
                stats.skip(line, "Traces: expected a list of traces")
                continue
            for t_index, trace in enumerate(traces):
                where_trace = f"Traces[{t_index}]"
                raw_segments = trace.get("Segments") if isinstance(trace, dict) else None
                if not isinstance(raw_segments, list):
                    stats.skip(line, f"{where_trace}.Segments: expected a list of segments")
                    continue
                for s_index, raw in enumerate(raw_segments):
                    where = f"{where_trace}.Segments[{s_index}].Document"
                    try:
                        if not isinstance(raw, dict):
                            raise _Malformed(f"{where_trace}.Segments[{s_index}]: expected object")
                        segments.append(_segment(raw.get("Document"), line, where, trace.get("Id")))
                    except _Malformed as exc:
                        stats.skip(line, str(exc))
            unprocessed = value.get("UnprocessedTraceIds")
            for trace_id in unprocessed if isinstance(unprocessed, list) else ():
                stats.skip(line, f"UnprocessedTraceIds: X-Ray did not return {trace_id!r:.60}")
        elif isinstance(value, dict) and "trace_id" in value and "id" in value:
            try:
                segments.append(_segment(value, line, "segment", None))
            except _Malformed as exc:
                stats.skip(line, str(exc))
        else:
            stats.skip(line, "expected `aws xray batch-get-traces` output ({\"Traces\": [...]})")
    return segments


def _unique(segments: list[_Segment]) -> list[_Segment]:
    """One segment per (trace, id); a complete copy wins over an in-progress one."""
    chosen: dict[tuple[object, str], _Segment] = {}
    for segment in segments:
        key = (segment.doc.get("trace_id"), segment.doc["id"])
        if key not in chosen or (chosen[key].end is None and segment.end is not None):
            chosen[key] = segment
    return sorted(chosen.values(), key=lambda s: (s.start, s.line))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _ms(start: float, end: float | None) -> float | None:
    return None if end is None or end < start else round((end - start) * 1000.0, 3)


def _error_type(doc: dict) -> str | None:
    """The first exception type in `cause` (never its message: that may carry data)."""
    cause = doc.get("cause")
    exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
    if isinstance(exceptions, list):
        for exception in exceptions:
            kind = exception.get("type") if isinstance(exception, dict) else None
            if isinstance(kind, str) and kind:
                return kind[:MAX_APP_TEXT]
    return None


def _state(doc: dict) -> str | None:
    """throttle | fault | error | None (X-Ray's flags, most severe first)."""
    for flag in ("throttle", "fault", "error"):
        if doc.get(flag) is True:
            return flag
    return None


def _outcome(doc: dict, end: float | None, failed: str) -> str | None:
    if doc.get("in_progress") is True or end is None:
        return None
    return failed if _state(doc) in ("fault", "error") else "success"


def _version(arn: object) -> str | None:
    """The qualifier of `arn:aws:lambda:<region>:<account>:function:<name>:<qualifier>`."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    return parts[7] if len(parts) == 8 and parts[7] else None


def _aws(doc: dict) -> dict:
    aws = doc.get("aws")
    return aws if isinstance(aws, dict) else {}


def _http_status(doc: dict) -> int | None:
    http = doc.get("http")
    response = http.get("response") if isinstance(http, dict) else None
    status = response.get("status") if isinstance(response, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _service_of(segment: _Segment, services: dict, by_trace: dict) -> _Segment | None:
    """The `AWS::Lambda` segment a function segment belongs to: its parent, else the only
    service segment of the same function in the trace."""
    trace_id, doc = segment.doc.get("trace_id"), segment.doc
    parent = services.get((trace_id, doc.get("parent_id")))
    if parent is not None:
        return parent
    same = [s for s in by_trace.get(trace_id, ()) if s.doc.get("name") == doc.get("name")]
    return same[0] if len(same) == 1 else None


def _function_records(
    segment: _Segment, service: _Segment | None, source: str, stats: SourceStats
) -> Iterator[PhaseSpan | PlatformNote]:
    doc = segment.doc
    service_doc = service.doc if service is not None else {}
    request_id = _aws(service_doc).get("request_id")
    request_id = request_id if isinstance(request_id, str) and request_id else None
    name = service_doc.get("name", doc.get("name"))
    function = name if isinstance(name, str) and name else None
    arn = _aws(doc).get("function_arn", service_doc.get("resource_arn"))
    trace_id = doc.get("trace_id") if isinstance(doc.get("trace_id"), str) else None
    base: dict[str, object] = {}
    if isinstance(arn, str):
        base[schema.ATTR_CLOUD_RESOURCE_ID] = arn
    if _version(arn):
        base[schema.ATTR_FAAS_VERSION] = _version(arn)
    if service is not None:
        base[ATTR_SERVICE_MS] = _ms(service.start, service.end)
        if _http_status(service_doc) is not None:
            base[ATTR_HTTP_STATUS] = _http_status(service_doc)
    common = dict(source=source, line=segment.line, environment=None, request_id=request_id,
                  function=function, dialect=XRAY)

    lifecycle: dict[str, tuple[_Segment, str]] = {}
    others: list[tuple[object, str, int, str]] = []  # (subsegment, parent name, depth, where)
    subsegments = doc.get("subsegments")
    for index, sub in enumerate(subsegments if isinstance(subsegments, list) else ()):
        where = f"{segment.where}.subsegments[{index}]"
        phase = SUBSEGMENT_PHASES.get(sub.get("name")) if isinstance(sub, dict) else None
        if phase is None or phase in {p for _, p in lifecycle.values()}:
            others.append((sub, schema.SPAN_INVOCATION, 0, where))
            continue
        try:
            start = _seconds(sub, "start_time", where, required=True)
            end = _seconds(sub, "end_time", where, required=False)
        except _Malformed as exc:
            stats.skip(segment.line, str(exc))
            continue
        lifecycle[sub["name"]] = (_Segment(segment.line, where, sub, start, end), phase)  # type: ignore[arg-type]
        nested = sub.get("subsegments")
        for n_index, child in enumerate(nested if isinstance(nested, list) else ()):
            others.append((child, sub["name"], 1, f"{where}.subsegments[{n_index}]"))
    cold = "Initialization" in lifecycle or "Restore" in lifecycle

    def span(part: _Segment, phase: str, failed: str, extra: dict) -> PhaseSpan:
        attributes = {**base, ATTR_ORIGIN: part.doc.get("origin", FUNCTION_ORIGIN),
                      ATTR_SEGMENT_ID: part.doc.get("id"), **extra}
        error_type = _error_type(part.doc)
        if error_type:
            attributes[schema.ATTR_ERROR_TYPE] = error_type
        return PhaseSpan(**common, timestamp_ms=round(part.start * 1000.0, 3), phase=phase,
                         duration_ms=_ms(part.start, part.end), trace_id=trace_id, cold=cold,
                         outcome=_outcome(part.doc, part.end, failed),
                         attributes={k: v for k, v in attributes.items() if v is not None})

    yield span(segment, schema.SPAN_INVOCATION, "error", {})
    for sub_name, (part, phase) in sorted(lifecycle.items(), key=lambda item: item[1][0].start):
        extra: dict[str, object] = {}
        if sub_name == "Initialization" and service is not None and part.start >= service.start:
            extra[ATTR_PRE_INIT_MS] = round((part.start - service.start) * 1000.0, 3)
        failed = "init_error" if phase == schema.SPAN_INIT else "error"
        yield span(part, phase, failed, extra)
    yield from _subsegment_notes(others, common, stats, segment.line)


def _subsegment_notes(
    found: list, common: dict, stats: SourceStats, line: int
) -> Iterator[PlatformNote]:
    """The function's own subsegments (SDK calls, `## handler`), outermost first."""
    pending = deque(found)
    while pending:
        sub, parent_name, depth, where = pending.popleft()
        if not isinstance(sub, dict) or not isinstance(sub.get("name"), str):
            stats.skip(line, f"{where}: expected a subsegment with a name")
            continue
        start, end = _number(sub.get("start_time")), _number(sub.get("end_time"))
        start_ms = round(start * 1000.0, 3) if start is not None and start > 0 else None
        took = ""
        if start_ms is not None and end is not None and end >= start:
            took = f" {(end - start) * 1000.0:.3f} ms"
        phase = SUBSEGMENT_PHASES.get(parent_name, parent_name)
        namespace = sub.get("namespace") if isinstance(sub.get("namespace"), str) else "subsegment"
        text = f"{namespace}: {sub['name']}{took} under {phase}"
        yield PlatformNote(**common, timestamp_ms=start_ms, kind=NOTE_SUBSEGMENT,
                           name=sub["name"][:MAX_APP_TEXT], state=_state(sub),
                           text=text[:MAX_APP_TEXT])
        nested = sub.get("subsegments")
        if depth < _MAX_DEPTH and isinstance(nested, list):
            pending.extend((child, parent_name, depth + 1, f"{where}.subsegments[{i}]")
                           for i, child in enumerate(nested))


def _segment_note(segment: _Segment, source: str) -> PlatformNote:
    """A service segment (`AWS::Lambda`) or another service's segment, kept as a note."""
    doc = segment.doc
    origin = doc.get("origin") if isinstance(doc.get("origin"), str) else "segment"
    name = doc.get("name") if isinstance(doc.get("name"), str) else ""
    request_id = _aws(doc).get("request_id")
    status = _http_status(doc)
    took = _ms(segment.start, segment.end)
    text = f"{origin} {name}" + (f" {took:.3f} ms" if took is not None else " in progress")
    if status is not None:
        text += f" status {status}"
    return PlatformNote(
        source=source, line=segment.line, environment=None,
        timestamp_ms=round(segment.start * 1000.0, 3),
        request_id=request_id if isinstance(request_id, str) and request_id else None,
        function=(name or None) if origin == SERVICE_ORIGIN else None, dialect=XRAY,
        kind=NOTE_SEGMENT, name=origin[:MAX_APP_TEXT], state=_state(doc) or (
            str(status) if status is not None else None), text=text[:MAX_APP_TEXT],
    )


def parse(data: bytes, source: str, stats: SourceStats) -> Iterator[PhaseSpan | PlatformNote]:
    """Yield lifecycle records from X-Ray trace documents (see the module docstring)."""
    segments = _unique(_read_segments(data, stats))
    services: dict[tuple[object, object], _Segment] = {}
    by_trace: dict[object, list[_Segment]] = {}
    for segment in segments:
        if segment.doc.get("origin") == SERVICE_ORIGIN:
            services[(segment.doc.get("trace_id"), segment.doc["id"])] = segment
            by_trace.setdefault(segment.doc.get("trace_id"), []).append(segment)
    for segment in segments:
        if segment.doc.get("origin") == FUNCTION_ORIGIN:
            service = _service_of(segment, services, by_trace)
            yield from _function_records(segment, service, source, stats)
        else:
            yield _segment_note(segment, source)
