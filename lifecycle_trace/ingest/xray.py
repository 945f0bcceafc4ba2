"""X-Ray `batch-get-traces` output -> lifecycle records.

Input: the AWS CLI's output (one pretty-printed `{"Traces":[...],"UnprocessedTraceIds":[]}`),
several such objects one per line (`lctrace collect traces`), or bare segment documents one per
line (as sent to the X-Ray daemon, header lines allowed). Each `Segments[].Document` is a JSON
*string*; segments arrive in no order. `UnprocessedTraceIds` are counted as skipped.

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

The lctrace wrapper's `xray` exporter sends its own spans as (sub)segments annotated
`lctrace_span`; wherever they appear (own documents, or nested by X-Ray into the function
segment) they become PhaseSpans of dialect `lctrace`, next to Lambda's own (dialect `xray`).
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
from lifecycle_trace.ingest.otlp import PHASES, json_documents
from lifecycle_trace.records import (
    LCTRACE,
    MAX_APP_TEXT,
    XRAY,
    PhaseSpan,
    PlatformNote,
    Record,
    StuckMarker,
)

SERVICE_ORIGIN = "AWS::Lambda"
FUNCTION_ORIGIN = "AWS::Lambda::Function"
SUBSEGMENT_PHASES = {
    "Initialization": schema.SPAN_INIT,
    "Invocation": schema.SPAN_HANDLER,
    "Overhead": schema.SPAN_POST_RESPONSE,
    "Restore": schema.SPAN_RESTORE,
}
ANNOTATION_SPAN = "lctrace_span"
"""Annotation naming the lctrace span a wrapper-written X-Ray (sub)segment is."""
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
_DAEMON_HEADER = re.compile(
    rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"format"\s*:\s*"json"\s*,\s*"version"\s*:\s*1\s*\}\s*\Z'
)
_MAX_DEPTH = 32


def detect(head: bytes) -> bool:
    """True for `batch-get-traces` output, or bare segment documents one per line (as sent to
    the X-Ray daemon, with or without its `{"format":"json","version":1}` header lines)."""
    if _DETECT_BATCH.match(head):
        return True
    lines = head.split(b"\n", 2)
    first = lines[1] if len(lines) > 1 and _DAEMON_HEADER.match(lines[0]) else lines[0]
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
    # keys used for joins must be strings (or absent): never let a list reach a dict key
    document = {**document, **{key: None for key in ("trace_id", "parent_id", "name", "origin")
                               if not isinstance(document.get(key), str)}}
    if document["trace_id"] is None and isinstance(trace_id, str):
        document["trace_id"] = trace_id
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
        elif value == {"format": "json", "version": 1}:
            continue  # the X-Ray daemon protocol header before each document
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
) -> Iterator[Record]:
    doc = segment.doc
    service_doc = service.doc if service is not None else {}
    request_id = _aws(service_doc).get("request_id")
    request_id = request_id if isinstance(request_id, str) and request_id else None
    name = service_doc.get("name") or doc.get("name")
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
        name = sub.get("name") if isinstance(sub, dict) else None
        phase = SUBSEGMENT_PHASES.get(name) if isinstance(name, str) else None
        if phase is None or phase in {p for _, p in lifecycle.values()} or _lctrace_phase(sub):
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
    yield from _walk([(*other, request_id) for other in others], common, stats, segment.line)


def _lctrace_phase(doc: object) -> str | None:
    """The lctrace span a document is (the wrapper's `xray` exporter annotates `lctrace_span`)."""
    annotations = doc.get("annotations") if isinstance(doc, dict) else None
    name = annotations.get(ANNOTATION_SPAN) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) and name in PHASES else None


def _lctrace_records(
    doc: dict, phase: str, common: dict, request_id: str | None
) -> Iterator[PhaseSpan | StuckMarker]:
    """One wrapper span sent through X-Ray: FaaS attributes are annotations (`faas_...`), the
    lctrace ones are metadata in the `lctrace` namespace."""
    annotations = doc["annotations"]
    metadata = doc.get("metadata")
    meta = metadata.get("lctrace") if isinstance(metadata, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    own = annotations.get("faas_invocation_id")
    request_id = own if isinstance(own, str) and own else request_id
    start, end = _number(doc.get("start_time")), _number(doc.get("end_time"))
    cold, outcome = annotations.get("faas_coldstart"), meta.get(schema.ATTR_OUTCOME)
    attributes = {key: value for key, value in {**annotations, **meta}.items()
                  if isinstance(value, (str, int, float, bool)) and "payload" not in key}
    fields = {**common, "request_id": request_id, "dialect": LCTRACE,
              "timestamp_ms": round(start * 1000.0, 3) if start else None}
    duration = _ms(start, end) if start else None
    yield PhaseSpan(**fields, phase=phase, duration_ms=duration,
                    cold=cold if isinstance(cold, bool) else None,
                    outcome=outcome if isinstance(outcome, str) else None,
                    attributes={**attributes, ATTR_SEGMENT_ID: doc.get("id")})
    if phase == schema.SPAN_STUCK:
        kind, elapsed = meta.get(schema.ATTR_STUCK_KIND), _number(meta.get(schema.ATTR_ELAPSED_MS))
        yield StuckMarker(**fields, kind=kind if isinstance(kind, str) else "",
                          elapsed_ms=elapsed if elapsed is not None else duration,
                          text=f"X-Ray {schema.SPAN_STUCK} subsegment {doc.get('id')}")


def _walk(found: list, common: dict, stats: SourceStats, line: int) -> Iterator[Record]:
    """Subsegments outermost first: the wrapper's spans become PhaseSpans, the function's own
    (SDK calls, `## handler`) PlatformNotes saying which phase they ran under."""
    pending = deque(found)  # (subsegment, parent phase, depth, where, request id)
    while pending:
        sub, parent_name, depth, where, request_id = pending.popleft()
        if not isinstance(sub, dict) or not isinstance(sub.get("name"), str):
            stats.skip(line, f"{where}: expected a subsegment with a name")
            continue
        phase = _lctrace_phase(sub)
        if phase is not None:
            spans = list(_lctrace_records(sub, phase, common, request_id))
            request_id, parent_name = spans[0].request_id, phase
            yield from spans
        else:
            start, end = _number(sub.get("start_time")), _number(sub.get("end_time"))
            start_ms = round(start * 1000.0, 3) if start is not None and start > 0 else None
            took = ""
            if start_ms is not None and end is not None and end >= start:
                took = f" {(end - start) * 1000.0:.3f} ms"
            label = SUBSEGMENT_PHASES.get(parent_name, parent_name)
            namespace = sub.get("namespace")
            namespace = namespace if isinstance(namespace, str) else "subsegment"
            text = f"{namespace}: {sub['name']}{took} under {label}"
            yield PlatformNote(**{**common, "request_id": request_id}, timestamp_ms=start_ms,
                               kind=NOTE_SUBSEGMENT, name=sub["name"][:MAX_APP_TEXT],
                               state=_state(sub), text=text[:MAX_APP_TEXT])
        nested = sub.get("subsegments")
        if depth < _MAX_DEPTH and isinstance(nested, list):
            pending.extend((child, parent_name, depth + 1, f"{where}.subsegments[{i}]", request_id)
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


def parse(data: bytes, source: str, stats: SourceStats) -> Iterator[Record]:
    """Yield lifecycle records from X-Ray trace documents (see the module docstring)."""
    segments = _unique(_read_segments(data, stats))
    services: dict[tuple[object, object], _Segment] = {}
    by_trace: dict[object, list[_Segment]] = {}
    for segment in segments:
        if segment.doc.get("origin") == SERVICE_ORIGIN:
            services[(segment.doc.get("trace_id"), segment.doc["id"])] = segment
            by_trace.setdefault(segment.doc.get("trace_id"), []).append(segment)
    for segment in segments:
        if _lctrace_phase(segment.doc) is not None:  # a wrapper span sent as its own document
            common = dict(source=source, line=segment.line, environment=None, function=None)
            yield from _walk([(segment.doc, None, 0, segment.where, None)], common, stats,
                             segment.line)
        elif segment.doc.get("origin") == FUNCTION_ORIGIN:
            service = _service_of(segment, services, by_trace)
            yield from _function_records(segment, service, source, stats)
        else:
            yield _segment_note(segment, source)
