"""Contract: the wrapper's `xray` exporter (real aws-xray-sdk UDP emitter) -> `ingest.xray`.

Two shapes reach `lctrace analyze`: the documents as sent to the daemon (captured here on a UDP
socket on 127.0.0.1), and `batch-get-traces` output, where X-Ray has nested the wrapper's
independent subsegments into Lambda's function segment (their `parent_id`).
"""

from __future__ import annotations

import json
import socket

import pytest

from lifecycle_trace import schema
from lifecycle_trace.ingest import xray
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import LCTRACE, XRAY, PhaseSpan
from lifecycle_trace.runtime.exporters import XraySpanExporter
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases
from lifecycle_trace.runtime.spans import build_resource, init_spans, invocation_spans

STREAM = "2026/11/26/[$LATEST]5e0d2c1b4a39487f8e6d5c4b3a291807"
T0 = 1_795_687_200_000_000_000
RID = "c0ffee00-1234-4abc-9def-0123456789ab"
TRACE = "1-6745f0a1-c3b2a19e8d7c6b5a49382716"
FUNCTION_SEGMENT = "53995c3f42cd8ad8"  # the `Parent` Lambda hands the runtime


@pytest.fixture(scope="module")
def datagrams() -> list[bytes]:
    """What the real exporter sends for one cold invocation (init + phases)."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    resource = build_resource({"AWS_LAMBDA_LOG_STREAM_NAME": STREAM,
                               "AWS_LAMBDA_FUNCTION_NAME": "orders-api"})
    init = InitPhase(instance=STREAM, function="orders-api", version="12", start_ns=T0,
                     init_ms=412.5)
    invocation = InvocationPhases(
        request_id=RID, instance=STREAM, function="orders-api", version="12", cold=True,
        start_ns=T0 + 420_000_000, poll_wait_ms=7.5, handler_ms=100.25, response_ms=0.5,
        post_response_ms=250.0, trace_id=TRACE, parent_span_id=FUNCTION_SEGMENT,
        invocation_span_id="1111222233334444", handler_span_id="5555666677778888")
    exporter = XraySpanExporter(f"127.0.0.1:{receiver.getsockname()[1]}")
    try:
        result = exporter.export([*init_spans(init, resource),
                                  *invocation_spans(invocation, resource)])
        assert result.name == "SUCCESS"
        received = [receiver.recv(65536) for _ in range(3)]  # init, poll_wait, invocation
    finally:
        receiver.close()
    return received


def parse(data: bytes) -> tuple[list, SourceStats]:
    stats = SourceStats(path="xray", format="xray")
    return list(xray.parse(data, "xray", stats)), stats


def test_daemon_documents_read_back(datagrams):
    data = b"\n".join(datagrams)  # each datagram: header line + one document
    assert xray.detect(data)
    records, stats = parse(data)
    assert stats.skipped == 0
    spans = {r.phase: r for r in records if isinstance(r, PhaseSpan)}
    assert set(spans) == {schema.SPAN_INIT, schema.SPAN_POLL_WAIT, schema.SPAN_INVOCATION,
                          schema.SPAN_HANDLER, schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE}
    expected = {schema.SPAN_INIT: 412.5, schema.SPAN_POLL_WAIT: 7.5,
                schema.SPAN_INVOCATION: 350.75, schema.SPAN_HANDLER: 100.25,
                schema.SPAN_RESPONSE: 0.5, schema.SPAN_POST_RESPONSE: 250.0}
    for phase, duration in expected.items():
        assert spans[phase].duration_ms == pytest.approx(duration, abs=1e-3), phase
        assert spans[phase].dialect == LCTRACE
    assert spans[schema.SPAN_INIT].request_id is None and spans[schema.SPAN_INIT].cold is True
    for phase in set(expected) - {schema.SPAN_INIT}:
        assert spans[phase].request_id == RID, phase
    assert spans[schema.SPAN_INVOCATION].outcome == "success"
    assert spans[schema.SPAN_INVOCATION].attributes[schema.ATTR_BILLED_MS] == 351


def test_wrapper_subsegments_nested_in_lambdas_function_segment(datagrams):
    """batch-get-traces after X-Ray merged the wrapper's subsegments into Lambda's segments."""
    documents = [json.loads(d.split(b"\n", 1)[1]) for d in datagrams]
    init_segment = next(d for d in documents if "parent_id" not in d)
    nested = [d for d in documents if d.get("parent_id") == FUNCTION_SEGMENT]
    start, end = 1_795_687_200.420, 1_795_687_200.77075
    service = {"id": "0aa11bb22cc33dd4", "name": "orders-api", "origin": "AWS::Lambda",
               "trace_id": TRACE, "start_time": start - 0.002, "end_time": end + 0.001,
               "aws": {"request_id": RID}, "http": {"response": {"status": 200}}}
    function = {"id": FUNCTION_SEGMENT, "name": "orders-api", "origin": "AWS::Lambda::Function",
                "trace_id": TRACE, "parent_id": service["id"], "start_time": start,
                "end_time": end, "subsegments": [
                    {"id": "0bb22cc33dd44ee5", "name": "Invocation", "start_time": start,
                     "end_time": start + 0.1003},
                    {"id": "0cc33dd44ee55ff6", "name": "Overhead", "start_time": start + 0.1008,
                     "end_time": end},
                    *nested]}
    batch = {"Traces": [{"Id": TRACE, "Segments": [
        {"Id": d["id"], "Document": json.dumps(d)} for d in (function, service)]},
        {"Id": init_segment["trace_id"], "Segments": [
            {"Id": init_segment["id"], "Document": json.dumps(init_segment)}]}],
        "UnprocessedTraceIds": []}
    records, stats = parse(json.dumps(batch, indent=4).encode())
    assert stats.skipped == 0
    spans = [r for r in records if isinstance(r, PhaseSpan)]
    lambda_said = {r.phase: r.duration_ms for r in spans if r.dialect == XRAY}
    wrapper_said = {r.phase: r.duration_ms for r in spans if r.dialect == LCTRACE}
    assert lambda_said == pytest.approx({schema.SPAN_INVOCATION: 350.75,
                                         schema.SPAN_HANDLER: 100.3,
                                         schema.SPAN_POST_RESPONSE: 249.95}, abs=1e-3)
    assert wrapper_said == pytest.approx({
        schema.SPAN_INIT: 412.5, schema.SPAN_POLL_WAIT: 7.5, schema.SPAN_INVOCATION: 350.75,
        schema.SPAN_HANDLER: 100.25, schema.SPAN_RESPONSE: 0.5,
        schema.SPAN_POST_RESPONSE: 250.0}, abs=1e-3)
    assert {r.request_id for r in spans if r.phase != schema.SPAN_INIT} == {RID}
    # the wrapper's init segment (origin AWS::Lambda::Function, name "lctrace") is not taken
    # for a Lambda function segment
    assert len([r for r in spans if r.phase == schema.SPAN_INVOCATION]) == 2
