"""OTLP/JSON trace lines -> lifecycle records.

Reads what the lctrace wrapper's `jsonl` exporter and the OpenTelemetry Collector file exporter
write: one `ExportTraceServiceRequest` per line (a pretty-printed or concatenated document is read
too). Spans named in `schema.PHASE_SPANS` (and `lambda.restore`) become `PhaseSpan`s; a
`lambda.stuck` span also becomes a `StuckMarker`, so a hang shows up whether the marker line or
the span reached the user.

Foreign spans (the function's own: SDK calls, HTTP clients, ...) are not lifecycle phases but are
kept as one `PlatformNote(kind="otel.span")` each — counted, never an error — with the request id
inherited from the phase span they nest under and, in `text`, which phase that was: a DynamoDB
call under `lambda.post_response` is the evidence for work done after responding.

A child span that lacks `faas.invocation_id` inherits it from its parent (the wrapper's
`lambda.handler` under `lambda.invocation`). Children usually end, and so are exported, before
their parent, so such a span waits until its parent is read (or the input ends).

Parsing is plain `json` rather than `google.protobuf.json_format.Parse`: OTLP/JSON writes ids as
hex where protobuf JSON expects base64 (a 32-hex id decodes "successfully" to 24 wrong bytes), one
bad field makes `json_format` reject the whole request instead of one span, and it is slow:
measured on SDK-written wrapper lines (2 cores, 2026-11), `json_format.ParseDict` alone took
38 us/span against 11 us/span for this whole parser (`json.loads` itself: 1.5 us/span).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lifecycle_trace import schema
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import LCTRACE, MAX_APP_TEXT, PhaseSpan, PlatformNote, StuckMarker

FOREIGN_SPAN = "otel.span"
"""`PlatformNote.kind` of a span that is not a lifecycle phase."""

PHASES = frozenset((*schema.PHASE_SPANS, schema.SPAN_RESTORE))

# attributes added to PhaseSpan.attributes besides the span's own
ATTR_SPAN_ID = "otel.span_id"
ATTR_PARENT_SPAN_ID = "otel.parent_span_id"
ATTR_STATUS_CODE = "otel.status_code"  # OK | ERROR (absent when UNSET)
ATTR_STATUS_DESCRIPTION = "otel.status_description"
RESOURCE_KEPT = (
    schema.ATTR_FAAS_VERSION,
    schema.ATTR_MAX_MEMORY,
    schema.ATTR_CLOUD_REGION,
    schema.ATTR_CLOUD_RESOURCE_ID,
    "cloud.account.id",
    "service.name",
)
"""Resource attributes copied onto each PhaseSpan (the record has no field for them)."""

_STATUS_NAMES = {0: None, 1: "OK", 2: "ERROR", "STATUS_CODE_UNSET": None,
                 "STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_XRAY_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_DETECT = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"(?:resourceSpans|resource_spans)"\s*:')
_LINE_START_OBJECT = re.compile(r"\n(?=\{)")
_DECODER = json.JSONDecoder()
_PAYLOAD_KEY = re.compile(r"payload|(?:^|\.)body(?:$|\.)")
"""Attribute keys that may hold event or response bodies (opt-in wrapper attributes): not kept."""


def detect(head: bytes) -> bool:
    """True when the input starts like an OTLP/JSON `ExportTraceServiceRequest`."""
    return _DETECT.match(head) is not None


class _Malformed(ValueError):
    """A field that is not what OTLP/JSON says it is; the message names the field."""


def json_documents(data: bytes, stats: SourceStats) -> Iterator[tuple[int, object]]:
    """(line, value) for each top-level JSON value: one per line, or pretty-printed documents
    one after another. A value that does not decode is counted (`stats.skip`) and reading
    resumes at the next line that starts with `{`."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    pos, line, size = 0, 1, len(text)
    while pos < size:
        # skip whitespace, counting newlines
        while pos < size and text[pos] in " \t\r\n":
            if text[pos] == "\n":
                line += 1
            pos += 1
        if pos >= size:
            return
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                reason = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            else:
                reason = "nested too deep"
            stats.skip(line, f"expected a JSON document, not JSON ({reason})")
            match = _LINE_START_OBJECT.search(text, pos)
            end = match.end() if match else size
            line += text.count("\n", pos, end)
            pos = end
            continue
        yield line, value
        line += text.count("\n", pos, end)
        pos = end


def any_value(value: object) -> object:
    """An OTLP/JSON `AnyValue` as a Python value; payload-shaped values (bytes, key-value lists)
    come back as None, strings are cut to `MAX_APP_TEXT` characters."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        text = value["stringValue"]
        return text[:MAX_APP_TEXT] if isinstance(text, str) else None
    if "boolValue" in value:
        flag = value["boolValue"]
        return flag if isinstance(flag, bool) else None
    if "intValue" in value:
        number = value["intValue"]
        if isinstance(number, bool):
            return None
        try:
            return int(number)
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, bool):
            return None
        try:
            return float(number)
        except (TypeError, ValueError):
            return None
    if "arrayValue" in value:
        array = value["arrayValue"]
        items = array.get("values") if isinstance(array, dict) else None
        if not isinstance(items, list):
            return None
        return [any_value(item) for item in items[:64]]
    return None


def attributes(items: object) -> dict[str, object]:
    """An OTLP/JSON `KeyValue` list as a dict (entries that are not key-value pairs dropped)."""
    out: dict[str, object] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def hex_id(value: object, size: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lower-case hex: OTLP/JSON writes hex, protobuf
    JSON (`json_format`) writes base64; both are read. All-zero or wrong-sized ids are None."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 2 * size and _HEX.fullmatch(value):
        out = value.lower()
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != size:
            return None
        out = raw.hex()
    return None if out.strip("0") == "" else out


def xray_trace_id(hex_trace: str | None, attrs: dict[str, object]) -> str | None:
    """The X-Ray form `1-<8 hex>-<24 hex>`: from `aws.xray.trace_id` when the span carries one,
    else derived from the OTel id (how the X-Ray propagator maps them)."""
    given = attrs.get(schema.ATTR_XRAY_TRACE_ID)
    if isinstance(given, str):
        root = given.split(";")[0].removeprefix("Root=").strip().lower()
        if _XRAY_ID.fullmatch(root):
            return root
    if hex_trace is None:
        return None
    return f"1-{hex_trace[:8]}-{hex_trace[8:]}"


def _nanos(span: dict, key: str, where: str) -> int | None:
    value = span.get(key)
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise _Malformed(f"{where}.{key}: expected nanoseconds since epoch, got {value!r:.40}")
    try:
        nanos = int(value)
    except (TypeError, ValueError, OverflowError):
        raise _Malformed(
            f"{where}.{key}: expected nanoseconds since epoch, got {value!r:.40}"
        ) from None
    if nanos < 0:
        raise _Malformed(f"{where}.{key}: negative time {nanos}")
    return nanos


@dataclass(slots=True)
class _Span:
    """One span read from a request, before its request id is known."""

    line: int
    name: str
    trace_id: str | None
    span_id: str | None
    parent_id: str | None
    start_ns: int | None
    end_ns: int | None
    attrs: dict[str, object]
    resource: dict[str, object]
    scope: str | None
    status: str | None
    status_message: str | None
    request_id: str | None = None
    parent_name: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _status(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    code = value.get("code", 0)
    name = _STATUS_NAMES.get(code) if isinstance(code, (int, str)) else None
    message = value.get("message")
    return name, message[:MAX_APP_TEXT] if isinstance(message, str) and message else None


def _spans_of(request: object, line: int, stats: SourceStats) -> Iterator[_Span]:
    """Every well-formed span of one request; a malformed span is counted and skipped."""
    if not isinstance(request, dict):
        kind = type(request).__name__
        raise _Malformed(f"expected an ExportTraceServiceRequest object, got {kind}")
    resource_spans = request.get("resourceSpans", request.get("resource_spans"))
    if not isinstance(resource_spans, list):
        raise _Malformed("resourceSpans: expected a list (is this an OTLP/JSON trace export?)")
    for r_index, resource_span in enumerate(resource_spans):
        if not isinstance(resource_span, dict):
            stats.skip(line, f"resourceSpans[{r_index}]: expected an object")
            continue
        resource_obj = resource_span.get("resource")
        resource = attributes(resource_obj.get("attributes")
                              if isinstance(resource_obj, dict) else None)
        scope_spans = resource_span.get("scopeSpans", resource_span.get("scope_spans"))
        if scope_spans is None:  # OTLP before 1.0 (old Collector files)
            scope_spans = resource_span.get("instrumentationLibrarySpans", [])
        if not isinstance(scope_spans, list):
            stats.skip(line, f"resourceSpans[{r_index}].scopeSpans: expected a list")
            continue
        for s_index, scope_span in enumerate(scope_spans):
            where_scope = f"resourceSpans[{r_index}].scopeSpans[{s_index}]"
            spans = scope_span.get("spans", []) if isinstance(scope_span, dict) else None
            if not isinstance(spans, list):
                stats.skip(line, f"{where_scope}: expected an object with a spans list")
                continue
            scope_obj = scope_span.get("scope", scope_span.get("instrumentationLibrary"))
            scope_name = scope_obj.get("name") if isinstance(scope_obj, dict) else None
            for index, raw in enumerate(spans):
                where = f"{where_scope}.spans[{index}]"
                try:
                    yield _read_span(raw, where, line, resource, scope_name)
                except _Malformed as exc:
                    stats.skip(line, str(exc))


def _read_span(raw: object, where: str, line: int, resource: dict, scope: object) -> _Span:
    if not isinstance(raw, dict):
        raise _Malformed(f"{where}: expected a span object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _Malformed(f"{where}.name: expected a span name")
    start_ns = _nanos(raw, "startTimeUnixNano", where)
    end_ns = _nanos(raw, "endTimeUnixNano", where)
    if start_ns is None and name in PHASES:
        raise _Malformed(f"{where}.startTimeUnixNano: a {name} span needs a start time")
    status, message = _status(raw.get("status"))
    return _Span(
        line=line,
        name=name,
        trace_id=hex_id(raw.get("traceId"), 16),
        span_id=hex_id(raw.get("spanId"), 8),
        parent_id=hex_id(raw.get("parentSpanId"), 8),
        start_ns=start_ns,
        end_ns=end_ns,
        attrs=attributes(raw.get("attributes")),
        resource=resource,
        scope=scope if isinstance(scope, str) else None,
        status=status,
        status_message=message,
    )


class _Resolver:
    """Hands out spans once their request id is known: their own `faas.invocation_id`, else
    their parent's (keyed by trace and span id). Spans whose parent has not been read yet wait."""

    def __init__(self) -> None:
        self.known: dict[tuple[str | None, str], tuple[str | None, str]] = {}
        self.waiting: dict[tuple[str | None, str], list[_Span]] = {}

    def add(self, span: _Span) -> Iterator[_Span]:
        own = span.attrs.get(schema.ATTR_INVOCATION_ID)
        if isinstance(own, str) and own:
            span.request_id = own
        elif span.parent_id is not None:
            parent = self.known.get((span.trace_id, span.parent_id))
            if parent is None:
                self.waiting.setdefault((span.trace_id, span.parent_id), []).append(span)
                return
            span.request_id, span.parent_name = parent
        yield from self._release(span)

    def _release(self, span: _Span) -> Iterator[_Span]:
        stack = [span]
        while stack:
            done = stack.pop()
            yield done
            if done.span_id is None:
                continue
            key = (done.trace_id, done.span_id)
            self.known[key] = (done.request_id, done.name)
            for child in self.waiting.pop(key, ()):
                if child.request_id is None:
                    child.request_id = done.request_id
                child.parent_name = done.name
                stack.append(child)

    def flush(self) -> Iterator[_Span]:
        """Spans whose parent never appeared, in input order, without an inherited id."""
        rest = sorted((s for group in self.waiting.values() for s in group), key=lambda s: s.line)
        self.waiting = {}
        for span in rest:
            yield from self._release(span)


def _records(span: _Span, source: str) -> Iterator[PhaseSpan | StuckMarker | PlatformNote]:
    attrs, resource = span.attrs, span.resource
    environment = resource.get(schema.ATTR_INSTANCE)
    environment = environment if isinstance(environment, str) and environment else None
    function = attrs.get(schema.ATTR_FAAS_NAME, resource.get(schema.ATTR_FAAS_NAME))
    function = function if isinstance(function, str) and function else None
    timestamp_ms = span.start_ns / 1e6 if span.start_ns is not None else None
    duration_ms = None
    if span.start_ns is not None and span.end_ns is not None and span.end_ns >= span.start_ns:
        duration_ms = (span.end_ns - span.start_ns) / 1e6
    common = dict(source=source, line=span.line, environment=environment,
                  timestamp_ms=timestamp_ms, request_id=span.request_id, function=function,
                  dialect=LCTRACE)
    if span.name not in PHASES:
        parent = f" under {span.parent_name}" if span.parent_name else ""
        took = f" {duration_ms:.3f} ms" if duration_ms is not None else ""
        text = f"{span.scope or 'unknown scope'}: {span.name}{took}{parent}"
        yield PlatformNote(**common, kind=FOREIGN_SPAN, name=span.name[:MAX_APP_TEXT],
                           state=span.status, text=text[:MAX_APP_TEXT])
        return
    kept = {key: resource[key] for key in RESOURCE_KEPT if resource.get(key) is not None}
    kept.update((key, value) for key, value in attrs.items()
                if value is not None and not _PAYLOAD_KEY.search(key))
    for key, value in ((ATTR_SPAN_ID, span.span_id), (ATTR_PARENT_SPAN_ID, span.parent_id),
                       (ATTR_STATUS_CODE, span.status),
                       (ATTR_STATUS_DESCRIPTION, span.status_message)):
        if value is not None:
            kept[key] = value
    cold = attrs.get(schema.ATTR_COLDSTART)
    if isinstance(cold, str):
        cold = {"true": True, "false": False}.get(cold.lower())
    outcome = attrs.get(schema.ATTR_OUTCOME)
    yield PhaseSpan(
        **common,
        phase=span.name,
        duration_ms=duration_ms,
        trace_id=xray_trace_id(span.trace_id, attrs),
        cold=cold if isinstance(cold, bool) else None,
        outcome=outcome if isinstance(outcome, str) and outcome else None,
        attributes=kept,
    )
    if span.name == schema.SPAN_STUCK:
        kind = attrs.get(schema.ATTR_STUCK_KIND)
        elapsed = attrs.get(schema.ATTR_ELAPSED_MS)
        elapsed_ms = float(elapsed) if isinstance(elapsed, (int, float)) else duration_ms
        yield StuckMarker(
            **common,
            kind=kind if isinstance(kind, str) else "",
            elapsed_ms=elapsed_ms,
            text=f"span {schema.SPAN_STUCK} {span.span_id} in trace {span.trace_id}",
        )


def parse(
    data: bytes, source: str, stats: SourceStats
) -> Iterator[PhaseSpan | StuckMarker | PlatformNote]:
    """Yield lifecycle records from OTLP/JSON trace lines (see the module docstring)."""
    resolver = _Resolver()
    for line, request in json_documents(data, stats):
        try:
            spans = list(_spans_of(request, line, stats))
        except _Malformed as exc:
            stats.skip(line, str(exc))
            continue
        for span in spans:
            for ready in resolver.add(span):
                yield from _records(ready, source)
    for ready in resolver.flush():
        yield from _records(ready, source)
