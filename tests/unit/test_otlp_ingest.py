"""OTLP/JSON trace lines -> PhaseSpan / StuckMarker / PlatformNote records."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from lifecycle_trace import schema
from lifecycle_trace.ingest import otlp
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import LCTRACE, PhaseSpan, PlatformNote, Record, StuckMarker

ENV = "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef"
RID = "3d1f0c2e-5b6a-4e7d-8c9b-0a1b2c3d4e5f"


def parse(data: bytes, name: str = "spans.jsonl") -> tuple[list[Record], SourceStats]:
    stats = SourceStats(path=name, format="otlp-json")
    return list(otlp.parse(data, name, stats)), stats


def to_otlp_json(spans) -> str:
    """What the Collector file exporter writes: OTLP/JSON with hex ids (the test's own
    conversion, independent of lifecycle_trace.report.otlp)."""
    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(request, separators=(",", ":"))


@pytest.fixture(scope="module")
def sdk_spans():
    """Every lifecycle phase as the real OTel SDK records it: init, then poll_wait and an
    invocation whose children carry no invocation id (they must inherit it), then a stuck one."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({
        schema.ATTR_INSTANCE: ENV, schema.ATTR_FAAS_NAME: "orders-api",
        schema.ATTR_FAAS_VERSION: "7", schema.ATTR_CLOUD_REGION: "eu-west-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("lifecycle_trace.runtime")
    t0 = 1_795_687_200_000_000_000
    ms = 1_000_000
    tracer.start_span(schema.SPAN_INIT, start_time=t0,
                      attributes={schema.ATTR_COLDSTART: True}).end(end_time=t0 + 412 * ms)
    tracer.start_span(schema.SPAN_POLL_WAIT, start_time=t0 + 412 * ms,
                      attributes={schema.ATTR_INVOCATION_ID: RID}).end(end_time=t0 + 415 * ms)
    invocation = tracer.start_span(schema.SPAN_INVOCATION, start_time=t0 + 415 * ms, attributes={
        schema.ATTR_INVOCATION_ID: RID, schema.ATTR_COLDSTART: True,
        schema.ATTR_OUTCOME: "error", schema.ATTR_ERROR_TYPE: "Runtime.HandlerError"})
    from opentelemetry.trace import set_span_in_context

    ctx = set_span_in_context(invocation)
    handler = tracer.start_span(schema.SPAN_HANDLER, context=ctx, start_time=t0 + 415 * ms)
    handler.set_status(Status(StatusCode.ERROR, "Runtime.HandlerError"))
    handler.end(end_time=t0 + 515_250_000)
    tracer.start_span(schema.SPAN_RESPONSE, context=ctx,
                      start_time=t0 + 515_250_000).end(end_time=t0 + 516 * ms)
    post = tracer.start_span(schema.SPAN_POST_RESPONSE, context=ctx, start_time=t0 + 516 * ms)
    # the function's own span, started after the response went out (billed, invisible in logs)
    tracer.start_span("flush-metrics", context=set_span_in_context(post),
                      start_time=t0 + 517 * ms).end(end_time=t0 + 600 * ms)
    post.end(end_time=t0 + 601 * ms)
    invocation.end(end_time=t0 + 601 * ms)
    tracer.start_span(schema.SPAN_STUCK, start_time=t0 + 900 * ms, attributes={
        schema.ATTR_INVOCATION_ID: "9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a",
        schema.ATTR_STUCK_KIND: schema.STUCK_STOPPED_POLLING,
        schema.ATTR_ELAPSED_MS: 2000.0}).end(end_time=t0 + 2900 * ms)
    return exporter.get_finished_spans()


def test_sdk_spans_become_phase_spans_with_inherited_request_ids(sdk_spans):
    # children finish (and are exported) before their parent: one span per line, in end order
    data = "\n".join(to_otlp_json([span]) for span in sdk_spans).encode()
    records, stats = parse(data)
    assert stats.skipped == 0
    phases = {r.phase: r for r in records if isinstance(r, PhaseSpan)}
    assert set(phases) == set(schema.PHASE_SPANS)
    for name in (schema.SPAN_POLL_WAIT, schema.SPAN_INVOCATION, schema.SPAN_HANDLER,
                 schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE):
        assert phases[name].request_id == RID, name
    assert phases[schema.SPAN_INIT].request_id is None  # init runs before any invocation
    durations = {name: span.duration_ms for name, span in phases.items()}
    assert durations[schema.SPAN_INIT] == 412.0
    assert durations[schema.SPAN_INVOCATION] == 186.0
    assert durations[schema.SPAN_HANDLER] == 100.25
    assert durations[schema.SPAN_RESPONSE] == 0.75
    assert durations[schema.SPAN_POST_RESPONSE] == 85.0
    invocation = phases[schema.SPAN_INVOCATION]
    assert invocation.environment == ENV and invocation.function == "orders-api"
    assert invocation.cold is True and invocation.outcome == "error"
    assert invocation.timestamp_ms == 1_795_687_200_415.0
    assert invocation.dialect == LCTRACE
    assert invocation.attributes[schema.ATTR_FAAS_VERSION] == "7"
    assert invocation.attributes[schema.ATTR_ERROR_TYPE] == "Runtime.HandlerError"
    assert phases[schema.SPAN_HANDLER].attributes[otlp.ATTR_STATUS_CODE] == "ERROR"
    hex_trace = format(sdk_spans[0].context.trace_id, "032x")
    assert invocation.trace_id in {f"1-{format(s.context.trace_id, '032x')[:8]}-"
                                   f"{format(s.context.trace_id, '032x')[8:]}" for s in sdk_spans}
    assert phases[schema.SPAN_INIT].trace_id == f"1-{hex_trace[:8]}-{hex_trace[8:]}"


def test_foreign_span_is_counted_under_the_phase_it_ran_in(sdk_spans):
    records, _ = parse(to_otlp_json(sdk_spans).encode())
    notes = [r for r in records if isinstance(r, PlatformNote)]
    assert len(notes) == 1
    note = notes[0]
    assert note.kind == otlp.FOREIGN_SPAN and note.name == "flush-metrics"
    assert note.request_id == RID
    assert "under lambda.post_response" in note.text and "83.000 ms" in note.text
    assert not any(isinstance(r, PhaseSpan) and r.phase == "flush-metrics" for r in records)


def test_stuck_span_is_also_a_stuck_marker(sdk_spans):
    records, _ = parse(to_otlp_json(sdk_spans).encode())
    markers = [r for r in records if isinstance(r, StuckMarker)]
    assert len(markers) == 1
    marker = markers[0]
    assert marker.kind == schema.STUCK_STOPPED_POLLING
    assert marker.elapsed_ms == 2000.0
    assert marker.request_id == "9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a"
    assert marker.environment == ENV


def test_collector_file_with_foreign_spans_and_malformed_lines(fixtures_dir):
    path = fixtures_dir / "traces" / "otlp-collector-file.jsonl"
    data = path.read_bytes()
    assert otlp.detect(data[:65536])
    records, stats = parse(data, str(path))
    spans = [r for r in records if isinstance(r, PhaseSpan)]
    notes = [r for r in records if isinstance(r, PlatformNote)]
    first = "7f3c9a52-1b4e-4d8a-9c21-5e6f7a8b9c0d"
    by_phase = {s.phase: s for s in spans if s.request_id == first}
    assert set(by_phase) == {schema.SPAN_INVOCATION, schema.SPAN_HANDLER, schema.SPAN_RESPONSE,
                             schema.SPAN_POST_RESPONSE}
    assert by_phase[schema.SPAN_POST_RESPONSE].duration_ms == 137.5
    assert by_phase[schema.SPAN_HANDLER].duration_ms == 42.125
    # aws.xray.trace_id (a full header here) wins over deriving
    assert by_phase[schema.SPAN_INVOCATION].trace_id == "1-6745f0a1-c3b2a19e8d7c6b5a49382716"
    assert by_phase[schema.SPAN_INVOCATION].cold is False
    # the opt-in payload attribute is never kept
    assert all("lctrace.event_payload" not in s.attributes for s in spans)
    assert "4111" not in repr(records)
    assert sorted((n.name, n.request_id) for n in notes) == [
        ("DynamoDB.PutItem", first), ("orders-api.handler", first)]
    ddb = next(n for n in notes if n.name == "DynamoDB.PutItem")
    assert "under lambda.post_response" in ddb.text
    # line 2 truncated, line 3 one bad span (the rest of the line kept), line 4 not a request
    assert stats.skipped == 3
    assert stats.errors[0].startswith(f"{path}:2: expected a JSON document")
    assert stats.errors[1] == (f"{path}:3: resourceSpans[0].scopeSpans[0].spans[0]."
                               "startTimeUnixNano: expected nanoseconds since epoch, got 'soon'")
    assert stats.errors[2].startswith(f"{path}:4: expected an ExportTraceServiceRequest")
    line3 = {s.phase for s in spans if s.line == 3}
    assert line3 == {schema.SPAN_STUCK, schema.SPAN_POLL_WAIT}
    # line 6: protobuf-JSON flavour (base64 ids, enum names) is read too
    (timeout,) = [s for s in spans if s.line == 6]
    assert timeout.trace_id == "1-11112222-333344445555666677778888"
    assert timeout.outcome == "timeout" and timeout.duration_ms == 3000.0
    assert timeout.attributes[otlp.ATTR_STATUS_CODE] == "ERROR"
    assert timeout.attributes[otlp.ATTR_SPAN_ID] == "9999aaaabbbbcccc"


def test_pretty_printed_document_with_uppercase_ids_and_numeric_nanos():
    document = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "faas.instance", "value": {"stringValue": ENV}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
            "name": schema.SPAN_HANDLER, "kind": 1,
            "startTimeUnixNano": 1544712660000000000, "endTimeUnixNano": 1544712660250000000,
            "attributes": [{"key": "faas.invocation_id", "value": {"stringValue": RID}}]}]}]}]}
    text = json.dumps(document, indent=2)
    data = (text + "\n" + text + "\n").encode()
    assert otlp.detect(data)
    records, stats = parse(data)
    assert stats.skipped == 0
    assert [r.line for r in records] == [1, text.count("\n") + 2]
    assert records[0].trace_id == "1-5b8efff7-98038103d269b633813fc60c"
    assert records[0].duration_ms == 250.0 and records[0].environment == ENV


def test_span_whose_parent_never_arrives_is_still_yielded():
    span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "parentSpanId": "00f067aa0ba902b7", "name": schema.SPAN_HANDLER,
            "startTimeUnixNano": "1795687200000000000", "endTimeUnixNano": "1795687200001000000"}
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    records, stats = parse(line.encode())
    assert len(records) == 1 and records[0].request_id is None and stats.skipped == 0
    assert records[0].environment is None and records[0].duration_ms == 1.0


@pytest.mark.parametrize(("head", "expected"), [
    (b'{"resourceSpans":[', True),
    (b'\xef\xbb\xbf\n  {\n "resourceSpans" : [', True),
    (b'{"resource_spans":[]}', True),
    (b'{"Traces":[{"Id":"1-64373507-1fa10d7929b63ad548165c89"', False),
    (b'{"resourceMetrics":[', False),
    (b'{"time":"2024-07-01T08:54:53.932Z","type":"platform.start","record":{}}', False),
    (b"START RequestId: 8b3a Version: $LATEST", False),
    (b"", False),
])
def test_detect(head, expected):
    assert otlp.detect(head) is expected


@pytest.mark.parametrize(("value", "size", "expected"), [
    ("0AF7651916CD43DD8448EB211C80319C", 16, "0af7651916cd43dd8448eb211c80319c"),
    (base64.b64encode(bytes.fromhex("b7ad6b7169203331")).decode(), 8, "b7ad6b7169203331"),
    ("00000000000000000000000000000000", 16, None),
    ("b7ad6b71692033", 8, None),
    ("", 8, None),
    (12, 8, None),
])
def test_hex_id(value, size, expected):
    assert otlp.hex_id(value, size) == expected


def _request(spans: list) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


GOOD = json.loads(_request([{
    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
    "name": schema.SPAN_INVOCATION, "startTimeUnixNano": "1795687200000000000",
    "endTimeUnixNano": "1795687200001000000",
    "attributes": [{"key": "faas.invocation_id", "value": {"stringValue": RID}}]}]))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10,
)


def _mutate(document: object, path: list[int], replacement: object) -> object:
    """Replace one value somewhere inside `document` (chosen by `path`)."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return replacement
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = _mutate(document[key], path[1:], replacement)  # type: ignore[index]
    return copy


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(st.integers(min_value=0, max_value=50), max_size=9), value=json_values,
       cut=st.integers(min_value=0, max_value=400))
def test_mutated_or_truncated_input_never_raises(path, value, cut):
    mutated = json.dumps(_mutate(GOOD, path, value)).encode()
    for data in (mutated, mutated[:cut] + b"\n" + mutated):
        stats = SourceStats(path="fuzz", format="otlp-json")
        records = list(otlp.parse(data, "fuzz", stats))
        assert all(isinstance(r, (PhaseSpan, StuckMarker, PlatformNote)) for r in records)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data):
    stats = SourceStats(path="fuzz", format="otlp-json")
    list(otlp.parse(b'{"resourceSpans":' + data, "fuzz", stats))
    otlp.detect(data)
