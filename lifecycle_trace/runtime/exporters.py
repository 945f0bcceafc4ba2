"""lctrace's own `SpanExporter`s: OTLP/JSON lines (`jsonl`) and X-Ray segments (`xray`).

`jsonl` writes one `ExportTraceServiceRequest` per line in the OTLP/JSON encoding (hex ids,
int64 as strings, enums as numbers) - the format of the OpenTelemetry Collector's file
exporter, so `lctrace analyze` and the Collector's `otlpjsonfile` receiver read it back.
`xray` turns the same spans into segments and subsegments with aws-xray-sdk's models and sends
them with its UDP emitter to `AWS_XRAY_DAEMON_ADDRESS`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attrs: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attrs or {}).items()]


def span_to_otlp_json(span: ReadableSpan) -> dict[str, Any]:
    """One span in the OTLP/JSON encoding."""
    ctx = span.context
    out: dict[str, Any] = {
        "traceId": format(ctx.trace_id, "032x"),
        "spanId": format(ctx.span_id, "016x"),
        "name": span.name,
        "kind": span.kind.value + 1,  # OTLP enums start at UNSPECIFIED=0
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": _attributes(span.attributes),
        "status": {"code": span.status.status_code.value},
    }
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.status.description:
        out["status"]["message"] = span.status.description
    return out


_encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses for str (C)
_encode_special = json.JSONEncoder().iterencode
_INFINITIES = (float("inf"), float("-inf"))
_ATTR_PREFIX: dict[str, str] = {}


def _value_text(value: Any) -> str:
    """`_any_value(value)` as compact JSON text."""
    if isinstance(value, bool):
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, int):
        return '{"intValue":' + _encode_str(str(value)) + "}"
    if isinstance(value, float):
        if value != value or value in _INFINITIES:
            return '{"doubleValue":' + "".join(_encode_special(value)) + "}"
        return '{"doubleValue":' + float.__repr__(value) + "}"
    if isinstance(value, (list, tuple)):
        return '{"arrayValue":{"values":[' + ",".join(map(_value_text, value)) + "]}}"
    return '{"stringValue":' + _encode_str(str(value)) + "}"


def span_to_otlp_text(span: ReadableSpan) -> str:
    """`span_to_otlp_json(span)` as compact JSON text, written directly: the jsonl exporter
    encodes every span before the `/next` it belongs to is forwarded."""
    ctx = span.context
    attributes = []
    for key, value in (span.attributes or {}).items():
        prefix = _ATTR_PREFIX.get(key)
        if prefix is None:
            prefix = _ATTR_PREFIX.setdefault(key, '{"key":' + _encode_str(key) + ',"value":')
        attributes.append(prefix + _value_text(value) + "}")
    text = (
        '{"traceId":"' + format(ctx.trace_id, "032x")
        + '","spanId":"' + format(ctx.span_id, "016x")
        + '","name":' + _encode_str(span.name)
        + ',"kind":' + str(span.kind.value + 1)
        + ',"startTimeUnixNano":' + _encode_str(str(span.start_time))
        + ',"endTimeUnixNano":' + _encode_str(str(span.end_time))
        + ',"attributes":[' + ",".join(attributes)
        + '],"status":{"code":' + str(span.status.status_code.value)
    )  # fmt: skip
    if span.status.description:
        text += ',"message":' + _encode_str(span.status.description)
    text += "}"
    if span.parent is not None:
        text += ',"parentSpanId":"' + format(span.parent.span_id, "016x") + '"'
    return text + "}"


_RESOURCES: dict[int, tuple[Any, dict[str, Any]]] = {}


def _resource_json(resource: Any) -> dict[str, Any]:
    """A resource's OTLP/JSON form, encoded once (the wrapper has one resource for its life)."""
    cached = _RESOURCES.get(id(resource))
    if cached is None or cached[0] is not resource:
        cached = (resource, {"attributes": _attributes(resource.attributes)})
        if len(_RESOURCES) > 16:
            _RESOURCES.clear()
        _RESOURCES[id(resource)] = cached
    return cached[1]


def _by_scope(spans: Sequence[ReadableSpan], encode: Any
              ) -> list[tuple[Any, list[tuple[dict[str, Any], list[Any]]]]]:
    """Spans grouped by resource, then by instrumentation scope (OTLP's nesting), each
    span passed through `encode`: [(resource, [(scope, [encoded span, ...]), ...]), ...]."""
    by_resource: dict[int, tuple[Any, dict[Any, list[Any]]]] = {}
    for span in spans:
        entry = by_resource.setdefault(id(span.resource), (span.resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version) if scope else ("", None)
        entry[1].setdefault(key, []).append(encode(span))
    grouped = []
    for resource, scopes in by_resource.values():
        parts = []
        for (name, version), encoded in scopes.items():
            scope_json: dict[str, Any] = {"name": name}
            if version:
                scope_json["version"] = version
            parts.append((scope_json, encoded))
        grouped.append((resource, parts))
    return grouped


def encode_request(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An ExportTraceServiceRequest: spans grouped by resource, then by scope."""
    return {"resourceSpans": [
        {"resource": _resource_json(resource),
         "scopeSpans": [{"scope": scope, "spans": encoded} for scope, encoded in parts]}
        for resource, parts in _by_scope(spans, span_to_otlp_json)]}


_RESOURCE_TEXT: dict[int, tuple[Any, str]] = {}
_compact = json.JSONEncoder(separators=(",", ":")).encode  # dumps() builds one per call


def _resource_text(resource: Any) -> str:
    """A resource's OTLP/JSON text, encoded once (it is most of every line's bytes)."""
    cached = _RESOURCE_TEXT.get(id(resource))
    if cached is None or cached[0] is not resource:
        cached = (resource, _compact(_resource_json(resource)))
        if len(_RESOURCE_TEXT) > 16:
            _RESOURCE_TEXT.clear()
        _RESOURCE_TEXT[id(resource)] = cached
    return cached[1]


def encode_line(
    spans: Sequence[ReadableSpan], prepared: dict[int, tuple[Any, str]] | None = None
) -> str:
    """`json.dumps(encode_request(spans))` (compact), with each resource's text reused and
    the text of spans in `prepared` (by id; taken out of it) encoded earlier."""

    def text(span: ReadableSpan) -> str:
        early = prepared.pop(id(span), None) if prepared else None
        return early[1] if early is not None and early[0] is span else span_to_otlp_text(span)

    return '{"resourceSpans":[' + ",".join(
        '{"resource":' + _resource_text(resource) + ',"scopeSpans":['
        + ",".join('{"scope":' + _compact(scope) + ',"spans":[' + ",".join(encoded) + "]}"
                   for scope, encoded in parts)
        + "]}"
        for resource, parts in _by_scope(spans, text)) + "]}"  # fmt: skip


PREPARED_LIMIT = 4096  # spans encoded ahead of their export (dropped ones never come back)


class JsonlSpanExporter(SpanExporter):
    """Appends one OTLP/JSON line per export to `path` ('-' = stdout), one write per line."""

    def __init__(self, path: str = "-") -> None:
        self.path = path
        if path == "-":
            self._fd = 1
            self._owned = False
        else:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._owned = True
        self._lock = threading.Lock()
        self._prepared: dict[int, tuple[Any, str]] = {}

    def prepare(self, spans: Sequence[ReadableSpan]) -> None:
        """Encode spans that will be exported later (with the rest of their invocation, in
        one line), so that export has less to do on the `/next` path."""
        if len(self._prepared) > PREPARED_LIMIT:
            self._prepared.clear()
        for span in spans:
            self._prepared[id(span)] = (span, span_to_otlp_text(span))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = encode_line(spans, self._prepared) + "\n"
        data = line.encode()
        try:
            with self._lock:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if self._owned:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._owned = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _seconds(ns: int | None) -> float:
    return (ns or 0) / 1e9


def _xray_trace_id(trace_id: int) -> str:
    hex_id = format(trace_id, "032x")
    return f"1-{hex_id[:8]}-{hex_id[8:]}"


def _xray_key(name: str) -> str:
    """X-Ray annotation keys allow letters, digits and underscores only."""
    return "".join(c if c.isalnum() else "_" for c in name)


class XraySpanExporter(SpanExporter):
    """Sends spans as X-Ray documents through aws-xray-sdk's `UDPEmitter` (non-blocking UDP).

    A span whose parent is not in the batch (the Lambda function segment, given as `Parent` in
    Lambda-Runtime-Trace-Id) becomes an independent subsegment of that parent; a span without
    any parent becomes a segment; spans with a parent in the batch nest under it.
    """

    def __init__(self, daemon_address: str | None = None, name: str = "lctrace") -> None:
        from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

        self.emitter = UDPEmitter(daemon_address or "127.0.0.1:2000")
        self.name = name

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from aws_xray_sdk.core.models.segment import Segment
        from aws_xray_sdk.core.models.subsegment import Subsegment

        try:
            # X-Ray's sampling decision (Sampled=0 in the trace header) holds for our documents
            unsampled = {
                span.context.trace_id
                for span in spans
                if (span.attributes or {}).get("lctrace.xray_sampled") is False
            }
            spans = [span for span in spans if span.context.trace_id not in unsampled]
            ids = {span.context.span_id for span in spans}
            children: dict[int, list[ReadableSpan]] = {}
            roots = []
            for span in spans:
                if span.parent is not None and span.parent.span_id in ids:
                    children.setdefault(span.parent.span_id, []).append(span)
                else:
                    roots.append(span)
            for span in roots:
                trace = _xray_trace_id(span.context.trace_id)
                if span.parent is None:
                    entity = Segment(
                        self.name, entityid=format(span.context.span_id, "016x"), traceid=trace
                    )
                    carrier = entity
                else:
                    carrier = Segment(self.name, traceid=trace)
                    entity = Subsegment(span.name, "local", carrier)
                    entity.id = format(span.context.span_id, "016x")
                    entity.parent_id = format(span.parent.span_id, "016x")
                    entity.trace_id = trace
                self._fill(entity, span)
                self._nest(entity, span, children, carrier, Subsegment)
                self.emitter.send_entity(entity)
        except Exception:  # noqa: BLE001 - an exporter reports failure, never raises
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _fill(self, entity: Any, span: ReadableSpan) -> None:
        entity.start_time = _seconds(span.start_time)
        entity.end_time = _seconds(span.end_time)
        entity.in_progress = False
        if getattr(entity, "type", None) != "subsegment":
            entity.origin = "AWS::Lambda::Function"
        lctrace_meta = {}
        for key, value in (span.attributes or {}).items():
            if isinstance(value, (str, int, float, bool)) and key.startswith("faas."):
                entity.annotations[_xray_key(key)] = value
            else:
                lctrace_meta[key] = value
        entity.annotations["lctrace_span"] = span.name
        if lctrace_meta:
            entity.metadata["lctrace"] = lctrace_meta
        if span.status.status_code.value == 2:
            entity.fault = True

    def _nest(self, entity, span, children, carrier, subsegment_cls) -> None:  # type: ignore[no-untyped-def]
        for child in sorted(
            children.get(span.context.span_id, []), key=lambda s: s.start_time or 0
        ):
            sub = subsegment_cls(child.name, "local", carrier)
            sub.id = format(child.context.span_id, "016x")
            self._fill(sub, child)
            sub.__dict__.pop("type", None)  # embedded subsegments inherit the document's
            sub.__dict__.pop("trace_id", None)
            entity.subsegments.append(sub)
            self._nest(sub, child, children, carrier, subsegment_cls)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
