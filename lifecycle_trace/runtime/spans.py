"""Phase records -> OpenTelemetry SDK spans (ARCHITECTURE.md span table, FaaS conventions).

Imported off the cold-start path (by telemetry's loader thread): it pulls in the SDK. Span ids
of `lambda.invocation` and `lambda.handler` were chosen by the lifecycle when the event was
delivered (the runtime received the handler's id as `Parent`), so spans are built directly as
`ReadableSpan`s with those ids rather than through a tracer that would pick its own.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from lifecycle_trace import schema
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

SCOPE = InstrumentationScope("lifecycle_trace.runtime", "0.1.0")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def build_resource(environ: Mapping[str, str]) -> Resource:
    """The execution environment as an OTel resource. What the user sets in
    OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME wins over what Lambda's variables say."""
    attrs: dict[str, object] = {
        schema.ATTR_CLOUD_PROVIDER: "aws",
        schema.ATTR_CLOUD_PLATFORM: "aws_lambda",
        schema.ATTR_INSTANCE: environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
    }
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if name:
        attrs["service.name"] = name
        attrs[schema.ATTR_FAAS_NAME] = name
    if environ.get("AWS_LAMBDA_FUNCTION_VERSION"):
        attrs[schema.ATTR_FAAS_VERSION] = environ["AWS_LAMBDA_FUNCTION_VERSION"]
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        attrs[schema.ATTR_CLOUD_REGION] = region
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        attrs[schema.ATTR_MAX_MEMORY] = int(memory) * 1024 * 1024  # semconv: bytes
    if environ.get("AWS_LAMBDA_LOG_GROUP_NAME"):
        attrs["aws.log.group.names"] = (environ["AWS_LAMBDA_LOG_GROUP_NAME"],)
    user_keys = {
        item.split("=", 1)[0].strip()
        for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
        if "=" in item
    }
    if environ.get("OTEL_SERVICE_NAME"):
        user_keys.add("service.name")
    ours = {key: value for key, value in attrs.items() if key not in user_keys}
    # SDK defaults + OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME, then what the user did not set
    return Resource.create({}).merge(Resource(ours))  # type: ignore[arg-type]


def xray_to_otel_trace_id(root: str) -> int:
    """`1-5759e988-bd862e3fe1be46a994272793` -> the 128-bit OTel trace id (the X-Ray
    propagator's mapping); one derived from `root` when it is not an X-Ray root."""
    parts = root.split("-")
    if len(parts) == 3 and len(parts[1]) == 8 and len(parts[2]) == 24:
        try:
            return int(parts[1] + parts[2], 16)
        except ValueError:
            pass
    if root:  # the same id for every span of the invocation, however many calls build them
        return int.from_bytes(hashlib.blake2b(root.encode(), digest_size=16).digest(), "big") or 1
    return random.getrandbits(128) or 1


def _context(trace_id: int, span_hex: str | None, remote: bool = False) -> SpanContext:
    span_id = int(span_hex, 16) if span_hex else (random.getrandbits(64) or 1)
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=_SAMPLED)


def _status(outcome: str, error_type: str | None) -> Status:
    if outcome in ("success",):
        return Status(StatusCode.UNSET)
    return Status(StatusCode.ERROR, error_type or outcome)


def _span(
    name, ctx, parent, resource, attrs, start_ns, end_ns, kind=SpanKind.INTERNAL, status=None
):  # type: ignore[no-untyped-def]
    return ReadableSpan(
        name=name,
        context=ctx,
        parent=parent,
        resource=resource,
        attributes={k: v for k, v in attrs.items() if v is not None},
        kind=kind,
        status=status or Status(StatusCode.UNSET),
        start_time=start_ns,
        end_time=max(end_ns, start_ns),
        instrumentation_scope=SCOPE,
    )


def _ns(ms: float | None) -> int:
    return int((ms or 0.0) * 1e6)


def init_spans(phase: InitPhase, resource: Resource) -> list[ReadableSpan]:
    trace_id = random.getrandbits(128) or 1
    attrs = {
        schema.ATTR_OUTCOME: phase.outcome,
        schema.ATTR_ERROR_TYPE: phase.error_type,
        "lctrace.initialization_type": phase.initialization_type,
        schema.ATTR_COLDSTART: True,
    }
    end = phase.start_ns + _ns(phase.init_ms)
    status = _status(phase.outcome, phase.error_type)
    return [
        _span(
            schema.SPAN_INIT,
            _context(trace_id, None),
            None,
            resource,
            attrs,
            phase.start_ns,
            end,
            status=status,
        )
    ]


def _frame(rec: InvocationPhases):  # type: ignore[no-untyped-def]
    """What every span of one invocation shares: trace id, the remote parent, the
    invocation span's context, phase boundaries (ns) and the status."""
    trace_id = xray_to_otel_trace_id(rec.trace_id or "")
    remote = _context(trace_id, rec.parent_span_id, remote=True) if rec.parent_span_id else None
    inv_ctx = _context(trace_id, rec.invocation_span_id)
    start = rec.start_ns
    handler_end = start + _ns(rec.handler_ms)
    response_end = handler_end + _ns(rec.response_ms)
    end = response_end + _ns(rec.post_response_ms)
    status = _status(rec.outcome, rec.error_type)
    return trace_id, remote, inv_ctx, start, handler_end, response_end, end, status


def posted_spans(rec: InvocationPhases, resource: Resource) -> list[ReadableSpan]:
    """The spans complete once the response was posted and answered: poll_wait, handler,
    response (`rec` may lack post_response_ms). Exported early, off the `/next` path."""
    trace_id, remote, inv_ctx, start, handler_end, response_end, _, status = _frame(rec)
    common = {schema.ATTR_INVOCATION_ID: rec.request_id}
    spans = []
    if rec.poll_wait_ms is not None:
        spans.append(
            _span(
                schema.SPAN_POLL_WAIT,
                _context(trace_id, None),
                remote,
                resource,
                common,
                start - _ns(rec.poll_wait_ms),
                start,
            )
        )
    spans.append(
        _span(
            schema.SPAN_HANDLER,
            _context(trace_id, rec.handler_span_id),
            inv_ctx,
            resource,
            common,
            start,
            handler_end,
            status=status,
        )
    )
    if rec.response_ms is not None:
        resp_attrs = dict(common)
        resp_attrs[schema.ATTR_RESPONSE_BYTES] = rec.response_bytes
        resp_attrs[schema.ATTR_STATUS_CODE] = rec.upstream_status
        resp_attrs["lctrace.response_payload"] = rec.response_payload
        spans.append(
            _span(
                schema.SPAN_RESPONSE,
                _context(trace_id, None),
                inv_ctx,
                resource,
                resp_attrs,
                handler_end,
                response_end,
            )
        )
    return spans


def closing_spans(rec: InvocationPhases, resource: Resource) -> list[ReadableSpan]:
    """The spans that end with the next poll: invocation and post_response."""
    trace_id, remote, inv_ctx, start, _, response_end, end, status = _frame(rec)
    attrs = {
        schema.ATTR_INVOCATION_ID: rec.request_id,
        schema.ATTR_COLDSTART: rec.cold,
        schema.ATTR_TRIGGER: rec.trigger,
        schema.ATTR_CLOUD_RESOURCE_ID: rec.function_arn,
        schema.ATTR_EVENT_SOURCE: rec.event_source,
        schema.ATTR_RECORD_COUNT: rec.record_count,
        schema.ATTR_EVENT_BYTES: rec.event_bytes,
        schema.ATTR_RESPONSE_BYTES: rec.response_bytes,
        schema.ATTR_OUTCOME: rec.outcome,
        schema.ATTR_ERROR_TYPE: rec.error_type,
        schema.ATTR_PROXY_OVERHEAD_MS: rec.proxy_overhead_ms,
        schema.ATTR_XRAY_TRACE_ID: rec.trace_id,
        "lctrace.deadline_ms": rec.deadline_ms,
        "lctrace.billed_ms": rec.billed_ms,
        "lctrace.event_payload": rec.event_payload,
        "lctrace.xray_sampled": rec.sampled,  # Sampled= of Lambda-Runtime-Trace-Id, if given
    }
    spans = [
        _span(
            schema.SPAN_INVOCATION,
            inv_ctx,
            remote,
            resource,
            attrs,
            start,
            end,
            kind=SpanKind.SERVER,
            status=status,
        )
    ]
    if rec.post_response_ms is not None:
        spans.append(
            _span(
                schema.SPAN_POST_RESPONSE,
                _context(trace_id, None),
                inv_ctx,
                resource,
                {schema.ATTR_INVOCATION_ID: rec.request_id},
                response_end,
                end,
            )
        )
    return spans


def invocation_spans(rec: InvocationPhases, resource: Resource) -> list[ReadableSpan]:
    """poll_wait, then invocation with handler, response and post_response as children."""
    posted = posted_spans(rec, resource)
    closing = closing_spans(rec, resource)
    split = 1 if rec.poll_wait_ms is not None else 0
    return [*posted[:split], closing[0], *posted[split:], *closing[1:]]


def stuck_spans(event: StuckEvent, resource: Resource) -> list[ReadableSpan]:
    if event.trace_id:
        trace_id = xray_to_otel_trace_id(event.trace_id)
        parent = _context(trace_id, event.parent_span_id) if event.parent_span_id else None
    else:
        trace_id, parent = random.getrandbits(128) or 1, None
    attrs = {
        schema.ATTR_STUCK_KIND: event.kind,
        schema.ATTR_ELAPSED_MS: event.elapsed_ms,
        schema.ATTR_INVOCATION_ID: event.request_id,
        "lctrace.deadline_ms": event.deadline_ms,
        schema.ATTR_OUTCOME: "stuck",
    }
    end = event.start_ns + _ns(event.elapsed_ms)
    status = Status(StatusCode.ERROR, event.kind)
    return [
        _span(
            schema.SPAN_STUCK,
            _context(trace_id, None),
            parent,
            resource,
            attrs,
            event.start_ns,
            end,
            status=status,
        )
    ]
