"""Contract: what the wrapper's `jsonl` exporter writes, `ingest.otlp` reads back exactly."""

from __future__ import annotations

import pytest

from lifecycle_trace import schema
from lifecycle_trace.ingest import otlp
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import PhaseSpan, StuckMarker
from lifecycle_trace.runtime.exporters import JsonlSpanExporter
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent
from lifecycle_trace.runtime.spans import build_resource, init_spans, invocation_spans, stuck_spans

STREAM = "2026/11/26/[$LATEST]5e0d2c1b4a39487f8e6d5c4b3a291807"
T0 = 1_795_687_200_000_000_000
RID = "c0ffee00-1234-4abc-9def-0123456789ab"


def test_jsonl_exporter_output_reads_back(tmp_path):
    resource = build_resource({"AWS_LAMBDA_LOG_STREAM_NAME": STREAM,
                               "AWS_LAMBDA_FUNCTION_NAME": "orders-api",
                               "AWS_LAMBDA_FUNCTION_VERSION": "12",
                               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
    init = InitPhase(instance=STREAM, function="orders-api", version="12", start_ns=T0,
                     init_ms=412.5)
    invocation = InvocationPhases(
        request_id=RID, instance=STREAM, function="orders-api", version="12", cold=True,
        start_ns=T0 + 420_000_000, poll_wait_ms=7.5, handler_ms=100.25, response_ms=0.5,
        post_response_ms=250.0, outcome="success",
        trace_id="1-6745f0a1-c3b2a19e8d7c6b5a49382716", parent_span_id="53995c3f42cd8ad8",
        invocation_span_id="1111222233334444", handler_span_id="5555666677778888",
        event_payload='{"card": "4111 1111 1111 1111"}')
    stuck = StuckEvent(kind=schema.STUCK_STOPPED_POLLING, instance=STREAM,
                       request_id="deadbeef-0000-4000-8000-000000000001",
                       start_ns=T0 + 5_000_000_000, elapsed_ms=1500.0)
    path = tmp_path / "spans.jsonl"
    exporter = JsonlSpanExporter(str(path))
    spans = [*init_spans(init, resource), *invocation_spans(invocation, resource),
             *stuck_spans(stuck, resource)]
    # a BatchSpanProcessor exports in end order: children before their invocation span
    for span in sorted(spans, key=lambda s: (s.end_time, s.name == schema.SPAN_INVOCATION)):
        exporter.export([span])
    exporter.shutdown()

    stats = SourceStats(path=str(path), format="otlp-json")
    data = path.read_bytes()
    assert otlp.detect(data)
    records = list(otlp.parse(data, str(path), stats))
    assert stats.skipped == 0
    phases = {r.phase: r for r in records if isinstance(r, PhaseSpan)}
    assert set(phases) == set(schema.PHASE_SPANS)
    expected = {schema.SPAN_INIT: 412.5, schema.SPAN_POLL_WAIT: 7.5,
                schema.SPAN_INVOCATION: 350.75, schema.SPAN_HANDLER: 100.25,
                schema.SPAN_RESPONSE: 0.5, schema.SPAN_POST_RESPONSE: 250.0,
                schema.SPAN_STUCK: 1500.0}
    for phase, duration in expected.items():
        assert phases[phase].duration_ms == pytest.approx(duration, abs=1e-5), phase
        assert phases[phase].environment == STREAM and phases[phase].function == "orders-api"
    for phase in (schema.SPAN_POLL_WAIT, schema.SPAN_INVOCATION, schema.SPAN_HANDLER,
                  schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE):
        assert phases[phase].request_id == RID
        assert phases[phase].trace_id == "1-6745f0a1-c3b2a19e8d7c6b5a49382716"
    assert phases[schema.SPAN_INIT].cold is True and phases[schema.SPAN_INIT].request_id is None
    assert phases[schema.SPAN_INVOCATION].cold is True
    assert phases[schema.SPAN_INVOCATION].outcome == "success"
    assert phases[schema.SPAN_INVOCATION].attributes[schema.ATTR_FAAS_VERSION] == "12"
    assert phases[schema.SPAN_INVOCATION].attributes[otlp.ATTR_PARENT_SPAN_ID] == \
        "53995c3f42cd8ad8"
    assert "4111" not in repr(records)
    (marker,) = [r for r in records if isinstance(r, StuckMarker)]
    assert marker.kind == schema.STUCK_STOPPED_POLLING and marker.elapsed_ms == 1500.0
    assert marker.request_id == "deadbeef-0000-4000-8000-000000000001"
