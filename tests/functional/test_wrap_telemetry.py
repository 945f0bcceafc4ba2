"""Records -> SDK spans -> exporters, with the SDK's InMemorySpanExporter and lctrace's own
jsonl/X-Ray exporters; bounded flush and queue behaviour of the deferred sinks."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lifecycle_trace import schema
from lifecycle_trace.runtime.exporters import JsonlSpanExporter, XraySpanExporter
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent
from lifecycle_trace.runtime.spanexport import SpanSink
from lifecycle_trace.runtime.telemetry import DeferredSink, Telemetry

ENV = {
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]abc",
    "AWS_LAMBDA_FUNCTION_NAME": "fn",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_REGION": "eu-west-1",
}
ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def record(**overrides) -> InvocationPhases:  # type: ignore[no-untyped-def]
    values = dict(
        request_id="r1",
        instance="2026/11/26/[$LATEST]abc",
        function="fn",
        version="1",
        cold=True,
        start_ns=1_700_000_000_000_000_000,
        poll_wait_ms=3.0,
        handler_ms=20.0,
        response_ms=0.5,
        post_response_ms=2.0,
        trace_id=ROOT,
        parent_span_id="53995c3f42cd8ad8",
        invocation_span_id="1111111111111111",
        handler_span_id="2222222222222222",
        trigger="pubsub",
        event_source="aws:sqs",
        record_count=2,
        event_bytes=10,
        response_bytes=7,
        function_arn="arn:aws:lambda:eu-west-1:1:function:fn",
    )
    values.update(overrides)
    return InvocationPhases(**values)


def test_invocation_spans_follow_the_span_table() -> None:
    memory = InMemorySpanExporter()
    sink = SpanSink([("jsonl", memory)], ENV, 64)
    sink.on_invocation(record())
    sink.flush(1000)
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {
        schema.SPAN_POLL_WAIT,
        schema.SPAN_INVOCATION,
        schema.SPAN_HANDLER,
        schema.SPAN_RESPONSE,
        schema.SPAN_POST_RESPONSE,
    }
    inv = spans[schema.SPAN_INVOCATION]
    assert inv.context.trace_id == int("5759e988bd862e3fe1be46a994272793", 16)
    assert inv.context.span_id == int("1" * 16, 16)
    assert inv.parent.span_id == int("53995c3f42cd8ad8", 16) and inv.parent.is_remote
    assert spans[schema.SPAN_HANDLER].context.span_id == int("2" * 16, 16)
    for name in (schema.SPAN_HANDLER, schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE):
        assert spans[name].parent.span_id == inv.context.span_id
    start = 1_700_000_000_000_000_000
    assert inv.start_time == start and inv.end_time == start + 22_500_000
    assert spans[schema.SPAN_RESPONSE].start_time == start + 20_000_000
    assert spans[schema.SPAN_POLL_WAIT].end_time == start
    assert spans[schema.SPAN_POLL_WAIT].start_time == start - 3_000_000
    attrs = inv.attributes
    assert attrs[schema.ATTR_COLDSTART] is True and attrs[schema.ATTR_TRIGGER] == "pubsub"
    assert attrs[schema.ATTR_INVOCATION_ID] == "r1"
    assert attrs[schema.ATTR_EVENT_SOURCE] == "aws:sqs" and attrs[schema.ATTR_RECORD_COUNT] == 2
    assert attrs[schema.ATTR_CLOUD_RESOURCE_ID].endswith(":function:fn")
    resource = inv.resource.attributes
    assert resource[schema.ATTR_INSTANCE] == "2026/11/26/[$LATEST]abc"
    assert resource[schema.ATTR_MAX_MEMORY] == 512 * 1024 * 1024
    assert resource[schema.ATTR_CLOUD_REGION] == "eu-west-1"
    assert resource["service.name"] == "fn"


def test_user_resource_attributes_win(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lifecycle_trace.runtime.spans import build_resource

    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,faas.name=alias")
    env = dict(
        ENV,
        OTEL_SERVICE_NAME="checkout",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,faas.name=alias",
    )
    attrs = build_resource(env).attributes
    assert attrs["service.name"] == "checkout" and attrs["faas.name"] == "alias"
    assert attrs["deployment.environment"] == "prod"
    assert attrs[schema.ATTR_INSTANCE] == "2026/11/26/[$LATEST]abc"  # not set by the user: ours


def test_error_outcome_sets_span_status_and_stuck_nests_under_invocation() -> None:
    memory = InMemorySpanExporter()
    sink = SpanSink([("jsonl", memory)], ENV, 64)
    sink.on_invocation(
        record(
            outcome="crash", error_type="Runtime.ExitError", response_ms=None, post_response_ms=None
        )
    )
    sink.on_stuck(
        StuckEvent(
            kind="no_response",
            instance="i",
            request_id="r1",
            start_ns=5,
            elapsed_ms=10.0,
            trace_id=ROOT,
            parent_span_id="1" * 16,
        )
    )
    sink.on_init(InitPhase(instance="i", function="fn", version="1", start_ns=1, init_ms=2.0))
    sink.flush(1000)
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert schema.SPAN_RESPONSE not in spans and schema.SPAN_POST_RESPONSE not in spans
    assert spans[schema.SPAN_INVOCATION].status.description == "Runtime.ExitError"
    stuck = spans[schema.SPAN_STUCK]
    assert stuck.parent.span_id == int("1" * 16, 16)
    assert stuck.attributes[schema.ATTR_STUCK_KIND] == "no_response"
    assert spans[schema.SPAN_INIT].end_time == 2_000_001


def test_jsonl_line_is_an_otlp_json_export_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "out.jsonl"
    sink = SpanSink([("jsonl", JsonlSpanExporter(str(path)))], ENV, 64)
    sink.on_invocation(record())
    sink.flush(1000)
    sink.on_invocation(record(request_id="r2", cold=False))
    sink.flush(1000)
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # one ExportTraceServiceRequest per flush
    request = json.loads(lines[0])
    (resource_spans,) = request["resourceSpans"]
    keys = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
    assert keys["faas.max_memory"] == {"intValue": str(512 * 1024 * 1024)}
    (scope_spans,) = resource_spans["scopeSpans"]
    spans = {s["name"]: s for s in scope_spans["spans"]}
    inv = spans[schema.SPAN_INVOCATION]
    assert inv["traceId"] == "5759e988bd862e3fe1be46a994272793"
    assert inv["spanId"] == "1" * 16 and inv["parentSpanId"] == "53995c3f42cd8ad8"
    assert inv["kind"] == 2 and inv["startTimeUnixNano"] == "1700000000000000000"
    attrs = {a["key"]: a["value"] for a in inv["attributes"]}
    assert attrs[schema.ATTR_COLDSTART] == {"boolValue": True}
    assert attrs[schema.ATTR_RECORD_COUNT] == {"intValue": "2"}


def test_xray_exporter_nests_children_under_the_lambda_parent() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    sink = SpanSink([("xray", XraySpanExporter(f"127.0.0.1:{daemon.getsockname()[1]}"))], ENV, 64)
    sink.on_invocation(record())
    sink.flush(1000)
    documents = []
    for _ in range(2):  # poll_wait and the invocation (with its children)
        header, _, body = daemon.recv(65536).partition(b"\n")
        documents.append(json.loads(body))
    daemon.close()
    inv = next(d for d in documents if d["name"] == schema.SPAN_INVOCATION)
    assert inv["type"] == "subsegment" and inv["parent_id"] == "53995c3f42cd8ad8"
    assert inv["trace_id"] == ROOT and inv["id"] == "1" * 16
    assert [s["name"] for s in inv["subsegments"]] == [
        schema.SPAN_HANDLER,
        schema.SPAN_RESPONSE,
        schema.SPAN_POST_RESPONSE,
    ]
    assert inv["subsegments"][0]["id"] == "2" * 16
    assert inv["annotations"]["faas_invocation_id"] == "r1"


def test_xray_exporter_respects_sampled_0() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    sink = SpanSink([("xray", XraySpanExporter(f"127.0.0.1:{daemon.getsockname()[1]}"))], ENV, 64)
    unsampled_root = "1-5759e988-000000000000000000000001"
    sink.on_invocation(record(request_id="skip", sampled=False, trace_id=unsampled_root))
    sink.on_invocation(record(request_id="keep", sampled=True))
    sink.flush(1000)
    received = []
    with contextlib.suppress(TimeoutError):
        while True:
            received.append(json.loads(daemon.recv(65536).partition(b"\n")[2]))
    daemon.close()
    ids = {d.get("annotations", {}).get("faas_invocation_id") for d in received}
    assert ids == {"keep"}
    assert all(d["trace_id"] == ROOT for d in received)


class _BlockingExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.batches: list = []  # type: ignore[type-arg]

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.release.wait(30)
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS


def test_flush_of_a_stalled_network_exporter_is_bounded() -> None:
    stalled = _BlockingExporter()
    sink = SpanSink([("otlp", stalled)], ENV, 64)
    sink.on_invocation(record())
    sink.flush(20)  # returns although the export is still blocked
    assert not stalled.release.is_set()
    sink.on_invocation(record(request_id="r2"))
    sink.flush(20)  # the first export is still stuck: no second wait
    assert sink.flusher is not None
    assert (sink.flusher.timeouts, sink.flusher.skipped) == (1, 1)
    stalled.release.set()
    deadline = time.monotonic() + 10
    while sink.flusher.done < sink.flusher.requested and time.monotonic() < deadline:
        time.sleep(0.01)
    exported = [s for call in stalled.batches for s in call if s.name == schema.SPAN_INVOCATION]
    assert len(exported) == 2  # nothing queued during the stall was lost
    sink.on_invocation(record(request_id="r3"))
    sink.flush(2000)  # healthy again: this flush waits for the export
    assert sink.flusher.timeouts == 1
    assert stalled.batches[-1][0].attributes[schema.ATTR_INVOCATION_ID] == "r3"


def test_deferred_sink_queues_in_order_and_drops_beyond_its_bound() -> None:
    gate = threading.Event()
    memory = InMemorySpanExporter()

    def factory() -> SpanSink:
        gate.wait(10)
        return SpanSink([("jsonl", memory)], ENV, 64)

    deferred = DeferredSink("test", factory, queue_size=2)
    for i in range(4):
        deferred.on_invocation(record(request_id=f"r{i}"))
    assert deferred.dropped == 2
    gate.set()
    deferred.shutdown(2000)
    ids = [
        s.attributes[schema.ATTR_INVOCATION_ID]
        for s in memory.get_finished_spans()
        if s.name == schema.SPAN_INVOCATION
    ]
    assert ids == ["r0", "r1"]


def test_telemetry_survives_a_failing_sink() -> None:
    class Broken:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken")

    got: list = []  # type: ignore[type-arg]

    class Good:
        def on_invocation(self, rec) -> None:  # type: ignore[no-untyped-def]
            got.append(rec)

        def flush(self, timeout_ms: int) -> None:
            pass

    telemetry = Telemetry([Broken(), Good()])
    telemetry.on_invocation(record())
    telemetry.flush(10)
    assert len(got) == 1 and telemetry.errors == 2


def test_zero_flush_timeout_still_writes_local_exporters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "out.jsonl"
    telemetry = Telemetry([SpanSink([("jsonl", JsonlSpanExporter(str(path)))], ENV, 64)])
    telemetry.on_invocation(record())
    telemetry.flush(0)  # LCTRACE_FLUSH_TIMEOUT_MS=0: never wait, but do write
    assert len(path.read_text().splitlines()) == 1


def _shape(spans):  # type: ignore[no-untyped-def]
    """Spans without their random ids: name, parent name, times, attributes, status."""
    by_id = {s.context.span_id: s.name for s in spans}
    return sorted(
        (
            s.name,
            by_id.get(s.parent.span_id, "remote") if s.parent else None,
            s.context.trace_id,
            s.start_time,
            s.end_time,
            tuple(sorted(s.attributes.items())),
            s.status.status_code,
        )
        for s in spans
    )


def test_posted_spans_are_built_early_and_exported_with_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """poll_wait/handler/response are built (and encoded) when the response is answered;
    all five go out in one export at the next poll - the same spans as a single build."""
    early, whole = InMemorySpanExporter(), InMemorySpanExporter()
    split_sink = SpanSink([("jsonl", early)], ENV, 64)
    telemetry = Telemetry([split_sink])
    assert telemetry.wants_posted
    telemetry.on_posted(record(post_response_ms=None))
    assert early.get_finished_spans() == ()  # nothing written before the flush
    split_sink.on_invocation(record())
    split_sink.flush(1000)
    reference = SpanSink([("jsonl", whole)], ENV, 64)
    reference.on_invocation(record())
    reference.flush(1000)
    assert len(early.get_finished_spans()) == 5
    assert _shape(early.get_finished_spans()) == _shape(whole.get_finished_spans())
    # a record never announced (e.g. a 413 answer) still gets all five spans
    split_sink.on_invocation(record(request_id="r2"))
    split_sink.flush(1000)
    assert len(early.get_finished_spans()) == 10
    # the jsonl exporter encodes the early spans ahead: still one line, the same request
    from lifecycle_trace.runtime.exporters import encode_request

    class Keeping(JsonlSpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            self.kept = list(spans)
            return super().export(spans)

    path = tmp_path / "spans.jsonl"
    keeping = Keeping(str(path))
    sink = SpanSink([("jsonl", keeping)], ENV, 64)
    sink.on_posted(record(post_response_ms=None))
    sink.on_invocation(record())
    sink.flush(1000)
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == encode_request(keeping.kept) and len(keeping.kept) == 5
    assert keeping._prepared == {}


def test_xray_gets_each_invocation_in_one_export() -> None:
    """X-Ray nests children only within one export: no early export with it configured."""
    memory = InMemorySpanExporter()
    sink = SpanSink([("jsonl", memory), ("xray", InMemorySpanExporter())], ENV, 64)
    assert not Telemetry([sink]).wants_posted
    sink.on_posted(record(post_response_ms=None))
    assert memory.get_finished_spans() == ()


def test_jsonl_line_is_the_compact_dump_of_the_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The line is spliced from a cached resource text: same bytes as dumping the request."""
    from lifecycle_trace.runtime.exporters import (
        encode_line,
        encode_request,
        span_to_otlp_json,
        span_to_otlp_text,
    )
    from lifecycle_trace.runtime.spans import build_resource, init_spans, invocation_spans

    resource = build_resource(ENV)
    other = build_resource({**ENV, "AWS_LAMBDA_FUNCTION_NAME": "other"})
    init = InitPhase(instance="i", function="fn", version="1", start_ns=1, init_ms=2.0)
    odd = record(
        request_id="r\u00e9\n2",
        outcome="error",
        error_type='Fn."x"',
        proxy_overhead_ms=float("nan"),
        record_count=None,
        post_response_ms=None,
        sampled=False,
    )
    spans = [
        *invocation_spans(record(), resource),
        *invocation_spans(odd, resource),
        *init_spans(init, other),
    ]
    for span in spans:  # written directly, not through json.dumps: the same text
        assert span_to_otlp_text(span) == json.dumps(span_to_otlp_json(span), separators=(",", ":"))
    for batch in (spans, spans[:2], spans[-1:]):
        assert encode_line(batch) == json.dumps(encode_request(batch), separators=(",", ":"))
    path = tmp_path / "spans.jsonl"
    exporter = JsonlSpanExporter(str(path))
    exporter.export(spans)
    exporter.shutdown()
    assert path.read_text() == json.dumps(encode_request(spans), separators=(",", ":")) + "\n"
