"""Invocations table -> OTLP/JSON span lines, read back by lifecycle_trace.ingest.otlp."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lifecycle_trace import schema
from lifecycle_trace.ingest import otlp
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import PhaseSpan
from lifecycle_trace.report.otlp import INVOCATIONS_PER_LINE, invocations_to_otlp_json

ENV_A = "2026/11/26/[$LATEST]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ENV_B = "2026/11/26/[$LATEST]bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
T0 = pd.Timestamp("2026-11-26T10:00:00.123Z")


def table() -> pd.DataFrame:
    """The analysis' invocations columns, with the gaps real logs leave (NaN, None, NaT)."""
    rows = [
        dict(request_id="cold-1", environment=ENV_A, start=T0, end=T0 + pd.Timedelta("121ms"),
             duration_ms=120.55, billed_ms=422.0, memory_mb=512, max_memory_mb=88,
             init_ms=300.25, restore_ms=np.nan, cold=True, status="success", error_type=None,
             trace_id="1-5759e988-bd862e3fe1be46a994272793", poll_wait_ms=np.nan,
             handler_ms=110.5, response_ms=0.75, post_response_ms=9.3),
        dict(request_id="warm-2", environment=ENV_A, start=T0 + pd.Timedelta("5s"), end=pd.NaT,
             duration_ms=3000.0, billed_ms=3000.0, memory_mb=512, max_memory_mb=90,
             init_ms=np.nan, restore_ms=np.nan, cold=False, status="timeout",
             error_type="Sandbox.Timedout", trace_id=None, poll_wait_ms=4870.0,
             handler_ms=np.nan, response_ms=np.nan, post_response_ms=np.nan),
        dict(request_id="snap-3", environment=ENV_B, start=T0 + pd.Timedelta("9s"),
             end=T0 + pd.Timedelta("9.3s"), duration_ms=306.34, billed_ms=610.0, memory_mb=3009,
             max_memory_mb=155, init_ms=np.nan, restore_ms=511.25, cold=True, status="crash",
             error_type=None, trace_id=np.nan, poll_wait_ms=np.nan, handler_ms=np.nan,
             response_ms=np.nan, post_response_ms=np.nan),
    ]
    frame = pd.DataFrame(rows)
    frame["function"] = "orders-api"
    frame["version"] = ["$LATEST", "$LATEST", "56"]
    return frame


def write(invocations: pd.DataFrame, environments: pd.DataFrame | None = None) -> tuple[int, str]:
    out = io.StringIO()
    count = invocations_to_otlp_json(invocations, environments, out)
    return count, out.getvalue()


def read_back(text: str) -> list[PhaseSpan]:
    stats = SourceStats(path="spans.jsonl", format="otlp-json")
    records = list(otlp.parse(text.encode(), "spans.jsonl", stats))
    assert stats.skipped == 0, stats.errors
    return [r for r in records if isinstance(r, PhaseSpan)]


def test_round_trip_keeps_request_ids_and_durations():
    count, text = write(table())
    spans = read_back(text)
    assert count == len(spans)
    got = {(s.request_id, s.phase): s for s in spans}
    assert set(got) == {
        ("cold-1", schema.SPAN_INVOCATION), ("cold-1", schema.SPAN_INIT),
        ("cold-1", schema.SPAN_HANDLER), ("cold-1", schema.SPAN_RESPONSE),
        ("cold-1", schema.SPAN_POST_RESPONSE),
        ("warm-2", schema.SPAN_INVOCATION), ("warm-2", schema.SPAN_POLL_WAIT),
        ("snap-3", schema.SPAN_INVOCATION), ("snap-3", schema.SPAN_RESTORE),
    }
    expected = {("cold-1", schema.SPAN_INVOCATION): 120.55, ("cold-1", schema.SPAN_INIT): 300.25,
                ("cold-1", schema.SPAN_HANDLER): 110.5, ("cold-1", schema.SPAN_RESPONSE): 0.75,
                ("cold-1", schema.SPAN_POST_RESPONSE): 9.3,
                ("warm-2", schema.SPAN_INVOCATION): 3000.0,
                ("warm-2", schema.SPAN_POLL_WAIT): 4870.0,
                ("snap-3", schema.SPAN_INVOCATION): 306.34, ("snap-3", schema.SPAN_RESTORE): 511.25}
    for key, duration in expected.items():
        assert got[key].duration_ms == pytest.approx(duration, abs=1e-6), key
    cold = got[("cold-1", schema.SPAN_INVOCATION)]
    assert cold.timestamp_ms == pytest.approx(T0.value / 1e6)
    assert cold.environment == ENV_A and cold.function == "orders-api"
    assert cold.cold is True and cold.outcome == "success"
    assert cold.trace_id == "1-5759e988-bd862e3fe1be46a994272793"
    assert cold.attributes[schema.ATTR_BILLED_MS] == 422.0
    assert cold.attributes[schema.ATTR_MAX_MEMORY_USED] == 88.0
    assert cold.attributes[schema.ATTR_MAX_MEMORY] == 512 * 1024 * 1024
    # init ends where the invocation starts; post-response ends where it ends
    init = got[("cold-1", schema.SPAN_INIT)]
    assert init.timestamp_ms + init.duration_ms == pytest.approx(cold.timestamp_ms, abs=1e-6)
    post = got[("cold-1", schema.SPAN_POST_RESPONSE)]
    assert post.timestamp_ms + post.duration_ms == pytest.approx(
        cold.timestamp_ms + cold.duration_ms, abs=1e-6)
    timeout = got[("warm-2", schema.SPAN_INVOCATION)]
    assert timeout.outcome == "timeout" and timeout.cold is False
    assert timeout.attributes[otlp.ATTR_STATUS_CODE] == "ERROR"
    assert timeout.attributes[otlp.ATTR_STATUS_DESCRIPTION] == "Sandbox.Timedout"
    crash = got[("snap-3", schema.SPAN_INVOCATION)]
    assert crash.attributes[otlp.ATTR_STATUS_CODE] == "ERROR"
    assert crash.attributes[schema.ATTR_FAAS_VERSION] == "56" and crash.environment == ENV_B
    # all spans of one invocation share its trace; without an X-Ray id the trace id still
    # starts with the invocation's epoch seconds (the X-Ray layout)
    assert {s.trace_id for s in spans if s.request_id == "warm-2"} == {timeout.trace_id}
    seconds = format(int((T0 + pd.Timedelta("5s")).timestamp()), "08x")
    assert re.fullmatch(rf"1-{seconds}-[0-9a-f]{{24}}", timeout.trace_id)
    assert timeout.trace_id != crash.trace_id


def test_lines_are_otlp_json_export_requests_one_environment_each():
    _, text = write(table())
    lines = text.splitlines()
    assert len(lines) == 2
    for line in lines:
        request = json.loads(line)
        (resource_spans,) = request["resourceSpans"]
        resource = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
        assert resource[schema.ATTR_CLOUD_PROVIDER] == {"stringValue": "aws"}
        assert resource[schema.ATTR_CLOUD_PLATFORM] == {"stringValue": "aws_lambda"}
        assert resource[schema.ATTR_FAAS_NAME] == {"stringValue": "orders-api"}
        assert resource[schema.ATTR_INSTANCE]["stringValue"] in (ENV_A, ENV_B)
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                # OTLP/JSON, not protobuf JSON: hex ids, int64 as strings, integer enums
                assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
                assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
                assert re.fullmatch(r"[0-9a-f]{16}", span.get("parentSpanId", "0" * 16))
                assert isinstance(span["startTimeUnixNano"], str)
                assert isinstance(span["kind"], int)
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        # and it is a valid ExportTraceServiceRequest
        ParseDict(request, ExportTraceServiceRequest())


def test_output_is_deterministic_and_children_point_at_their_invocation():
    _, first = write(table())
    _, second = write(table())
    assert first == second
    spans = read_back(first)
    roots = {s.request_id: s.attributes[otlp.ATTR_SPAN_ID] for s in spans
             if s.phase == schema.SPAN_INVOCATION}
    for span in spans:
        if span.phase != schema.SPAN_INVOCATION:
            assert span.attributes[otlp.ATTR_PARENT_SPAN_ID] == roots[span.request_id]
    assert len({s.attributes[otlp.ATTR_SPAN_ID] for s in spans}) == len(spans)


def test_minimal_columns_and_rows_without_time():
    frame = pd.DataFrame({
        "request_id": ["a", "b", "c"],
        "start": [T0, pd.NaT, pd.NaT],
        "end": [pd.NaT, T0 + pd.Timedelta("2s"), pd.NaT],
        "duration_ms": [12.5, 40.0, 7.0],
        "init_ms": [np.nan, 80.0, np.nan],  # no `cold` column: init_ms alone means cold
    })
    count, text = write(frame)
    spans = read_back(text)
    assert count == 3
    assert {(s.request_id, s.phase, s.duration_ms) for s in spans} == {
        ("a", schema.SPAN_INVOCATION, 12.5), ("b", schema.SPAN_INVOCATION, 40.0),
        ("b", schema.SPAN_INIT, 80.0)}
    b = next(s for s in spans if s.request_id == "b" and s.phase == schema.SPAN_INVOCATION)
    assert b.timestamp_ms == pytest.approx((T0 + pd.Timedelta("2s")).value / 1e6 - 40.0)
    assert all(s.environment is None for s in spans)
    assert b.cold is None


def test_init_of_an_environment_no_invocation_carried():
    environments = pd.DataFrame({
        "environment": [ENV_A, "2026/11/26/[$LATEST]cccccccccccccccccccccccccccccccc"],
        "function": ["orders-api", "orders-api"],
        "first_seen": [T0 - pd.Timedelta("1s"), T0 + pd.Timedelta("20s")],
        "init_ms": [300.25, 9999.0],
    })
    invocations = table()
    invocations.loc[1, "init_ms"] = 55.0  # a warm row with a stray init: not drawn
    _, text = write(invocations, environments)
    inits = [s for s in read_back(text) if s.phase == schema.SPAN_INIT]
    # ENV_A's init came with its cold invocation; the failed one stands alone
    assert sorted((s.environment, s.request_id, s.duration_ms) for s in inits) == [
        (ENV_A, "cold-1", 300.25),
        ("2026/11/26/[$LATEST]cccccccccccccccccccccccccccccccc", None, 9999.0)]


def test_large_environments_are_split_into_lines():
    count = INVOCATIONS_PER_LINE * 2 + 7
    starts = T0 + pd.to_timedelta(np.arange(count) * 100, unit="ms")
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(count)], "environment": ENV_A,
                          "start": starts, "duration_ms": 5.0, "status": "success"})
    written, text = write(frame)
    assert written == count
    assert len(text.splitlines()) == 3
    assert {s.request_id for s in read_back(text)} == {f"r{i}" for i in range(count)}


def test_empty_table_writes_nothing():
    assert write(pd.DataFrame(columns=["request_id", "start", "duration_ms"])) == (0, "")
