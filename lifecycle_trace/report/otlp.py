"""Invocations reconstructed from logs -> OTLP/JSON spans (`lctrace analyze --format otlp`).

So teams without the wrapper can see their lifecycle in any tracing UI: per invocation a
`lambda.invocation` span (REPORT's Duration, status error on error/timeout/crash) with, where the
table knows them, `lambda.init` / `lambda.restore` (ending where the invocation starts),
`lambda.poll_wait`, `lambda.handler`, `lambda.response` and `lambda.post_response` children.

Spans are the OpenTelemetry SDK's own `ReadableSpan`s, encoded by the OTLP exporter's
`encode_spans` and `json_format.MessageToDict`, then made OTLP/JSON: trace and span ids as hex
(protobuf JSON gives base64), int64 as strings, enums as integers — one `ExportTraceServiceRequest`
per line, one resource (execution environment) per line, as the Collector file exporter writes.

Ids are deterministic, so writing the same logs twice gives the same spans: the trace id is the
invocation's X-Ray trace id when the logs had one (`XRAY TraceId`), else the X-Ray id layout (8
hex of epoch seconds, then 24 hex of a hash of the request id) so the spans could go to X-Ray too;
span ids hash the request id and span name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterator
from typing import TextIO

import pandas as pd
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from lifecycle_trace import schema

SCOPE = InstrumentationScope("lifecycle_trace.report.otlp", "0.1.0")
INVOCATIONS_PER_LINE = 100
"""Invocations per written line (a line holds one environment's spans, up to this many)."""
FAILED = ("error", "timeout", "crash")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _value(row: dict, column: str) -> object:
    """The row's value, None when the column is absent or the value missing (NaN, NaT, NA)."""
    value = row.get(column)
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # list-like values
        return value
    return value


def _ms(row: dict, column: str) -> float | None:
    value = _value(row, column)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _ns(row: dict, column: str) -> int | None:
    value = _value(row, column)
    if value is None:
        return None
    try:
        return int(pd.Timestamp(value).value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _hash(text: str, hex_digits: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:hex_digits], 16) or 1


def trace_id_for(xray_trace_id: object, request_id: str, start_ns: int) -> int:
    """The X-Ray trace id as an OTel id when valid, else `<epoch s><hash of request id>`."""
    if isinstance(xray_trace_id, str):
        root = xray_trace_id.split(";")[0].removeprefix("Root=")
        parts = root.split("-")
        if len(parts) == 3 and parts[0] == "1" and len(parts[1]) == 8 and len(parts[2]) == 24:
            try:
                return int(parts[1] + parts[2], 16) or _hash(request_id, 32)
            except ValueError:
                pass
    seconds = max(0, start_ns // 1_000_000_000) & 0xFFFFFFFF
    return (seconds << 96) | _hash(request_id, 24)


def _span(name: str, trace_id: int, key: str, parent: SpanContext | None, resource: Resource,
          start_ns: int, end_ns: int, attributes: dict, status: Status | None = None,
          kind: SpanKind = SpanKind.INTERNAL) -> ReadableSpan:
    context = SpanContext(trace_id, _hash(f"{key}/{name}", 16), is_remote=False,
                          trace_flags=_SAMPLED)
    return ReadableSpan(
        name=name, context=context, parent=parent, resource=resource,
        attributes={k: v for k, v in attributes.items() if v is not None},
        kind=kind, status=status or Status(StatusCode.UNSET),
        start_time=start_ns, end_time=max(start_ns, end_ns), instrumentation_scope=SCOPE,
    )


def _resource(environment: object, row: dict) -> Resource:
    attributes: dict[str, object] = {
        schema.ATTR_CLOUD_PROVIDER: "aws",
        schema.ATTR_CLOUD_PLATFORM: "aws_lambda",
    }
    if isinstance(environment, str) and environment:
        attributes[schema.ATTR_INSTANCE] = environment
    function = _value(row, "function")
    if isinstance(function, str) and function:
        attributes[schema.ATTR_FAAS_NAME] = function
        attributes["service.name"] = function
    version = _value(row, "version")
    if version is not None:
        attributes[schema.ATTR_FAAS_VERSION] = str(version)
    memory_mb = _ms(row, "memory_mb")
    if memory_mb is not None:
        attributes[schema.ATTR_MAX_MEMORY] = int(memory_mb) * 1024 * 1024  # semconv: bytes
    return Resource(attributes)  # type: ignore[arg-type]


def invocation_spans(row: dict, resource: Resource) -> list[ReadableSpan]:
    """The spans of one invocation row (empty when the row has no time to place them at)."""
    request_id = _value(row, "request_id")
    duration_ms = _ms(row, "duration_ms")
    start_ns, end_ns = _ns(row, "start"), _ns(row, "end")
    if start_ns is None and end_ns is not None and duration_ms is not None:
        start_ns = end_ns - round(duration_ms * 1e6)
    if start_ns is None or not isinstance(request_id, str) or not request_id:
        return []
    if duration_ms is not None:
        end_ns = start_ns + round(duration_ms * 1e6)
    elif end_ns is None or end_ns < start_ns:
        end_ns = start_ns
    xray = _value(row, "trace_id")
    trace_id = trace_id_for(xray, request_id, start_ns)
    status_name = _value(row, "status")
    error_type = _value(row, "error_type")
    cold_value = _value(row, "cold")
    cold = bool(cold_value) if cold_value is not None else None
    billed = _ms(row, "billed_ms")
    max_used = _ms(row, "max_memory_mb")
    status = None
    if status_name in FAILED:
        status = Status(StatusCode.ERROR, str(error_type or status_name))
    ids = {schema.ATTR_INVOCATION_ID: request_id}
    root = _span(schema.SPAN_INVOCATION, trace_id, request_id, None, resource, start_ns, end_ns, {
        **ids,
        schema.ATTR_COLDSTART: cold,
        schema.ATTR_OUTCOME: str(status_name) if status_name is not None else None,
        schema.ATTR_ERROR_TYPE: str(error_type) if error_type is not None else None,
        schema.ATTR_BILLED_MS: billed,
        schema.ATTR_MAX_MEMORY_USED: max_used,
        schema.ATTR_XRAY_TRACE_ID: xray if isinstance(xray, str) and xray else None,
    }, status=status, kind=SpanKind.SERVER)
    parent = root.context
    spans = [root]

    def child(name: str, begin: int, finish: int, extra: dict | None = None) -> None:
        spans.append(_span(name, trace_id, request_id, parent, resource, begin, finish,
                           {**ids, **(extra or {})}))

    init_ms, restore_ms = _ms(row, "init_ms"), _ms(row, "restore_ms")
    if cold is not False and init_ms is not None:  # a row saying warm wins over a stray init
        child(schema.SPAN_INIT, start_ns - round(init_ms * 1e6), start_ns,
              {schema.ATTR_COLDSTART: True})
    if restore_ms is not None:
        child(schema.SPAN_RESTORE, start_ns - round(restore_ms * 1e6), start_ns)
    poll_wait_ms = _ms(row, "poll_wait_ms")
    if poll_wait_ms is not None:
        child(schema.SPAN_POLL_WAIT, start_ns - round(poll_wait_ms * 1e6), start_ns)
    handler_ms, response_ms = _ms(row, "handler_ms"), _ms(row, "response_ms")
    if handler_ms is not None:
        handler_end = start_ns + round(handler_ms * 1e6)
        child(schema.SPAN_HANDLER, start_ns, handler_end)
        if response_ms is not None:
            child(schema.SPAN_RESPONSE, handler_end, handler_end + round(response_ms * 1e6))
    post_ms = _ms(row, "post_response_ms")
    if post_ms is not None:
        child(schema.SPAN_POST_RESPONSE, end_ns - round(post_ms * 1e6), end_ns)
    return spans


def _init_only_spans(environments: pd.DataFrame | None, done: set, resources: dict) -> Iterator:
    """`lambda.init` of environments whose init no invocation row carried (an init that failed,
    or ran without a logged invocation): placed at the environment's first sighting."""
    if environments is None or "environment" not in environments or "init_ms" not in environments:
        return
    time_column = next((c for c in ("init_start", "first_seen", "start") if c in environments),
                       None)
    if time_column is None:
        return
    for row in environments.to_dict("records"):
        environment = _value(row, "environment")
        init_ms, start_ns = _ms(row, "init_ms"), _ns(row, time_column)
        if environment in done or init_ms is None or start_ns is None:
            continue
        key = f"init:{environment}"
        resource = resources.get(environment) or _resource(environment, row)
        trace_id = trace_id_for(None, key, start_ns)
        yield resource, [_span(schema.SPAN_INIT, trace_id, key, None, resource, start_ns,
                               start_ns + round(init_ms * 1e6), {schema.ATTR_COLDSTART: True})]


def _otlp_json_line(spans: list[ReadableSpan]) -> str:
    """One ExportTraceServiceRequest in OTLP/JSON (hex ids, int64 strings, integer enums)."""
    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in _ID_KEYS:
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(request, separators=(",", ":"))


def invocations_to_otlp_json(
    invocations: pd.DataFrame, environments: pd.DataFrame | None, out: TextIO
) -> int:
    """Write every invocation (and init) as OTLP/JSON span lines to `out`; return the number
    of spans written. Missing optional columns are tolerated; rows without a request id or any
    time are not written."""
    written = 0
    rows = invocations.to_dict("records") if invocations is not None else []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (_value(row, "environment"), _value(row, "function"), _value(row, "version"))
        groups.setdefault(key, []).append(row)
    resources: dict[object, Resource] = {}
    done: set = set()
    for (environment, _, _), members in groups.items():
        resource = _resource(environment, members[0])
        resources.setdefault(environment, resource)
        for first in range(0, len(members), INVOCATIONS_PER_LINE):
            spans = []
            for row in members[first:first + INVOCATIONS_PER_LINE]:
                built = invocation_spans(row, resource)
                if any(span.name == schema.SPAN_INIT for span in built):
                    done.add(environment)
                spans.extend(built)
            if spans:
                out.write(_otlp_json_line(spans) + "\n")
                written += len(spans)
    for _resource_used, spans in _init_only_spans(environments, done, resources):
        out.write(_otlp_json_line(spans) + "\n")
        written += len(spans)
    return written
