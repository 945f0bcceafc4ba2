"""X-Ray `batch-get-traces` output -> PhaseSpan / PlatformNote records."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_trace import schema
from lifecycle_trace.ingest import xray
from lifecycle_trace.ingest.base import SourceStats
from lifecycle_trace.records import XRAY, PhaseSpan, PlatformNote, Record, StuckMarker
from tests.unit.test_otlp_ingest import _mutate, json_values

COLD_RID = "516a738f-f972-4d5a-9be9-eb1f3e3e0667"


def parse(data: bytes, name: str = "traces.json") -> tuple[list[Record], SourceStats]:
    stats = SourceStats(path=name, format="xray")
    return list(xray.parse(data, name, stats)), stats


def spans_by_phase(records: list[Record], request_id: str) -> dict[str, PhaseSpan]:
    out: dict[str, PhaseSpan] = {}
    for record in records:
        if isinstance(record, PhaseSpan) and record.request_id == request_id:
            assert record.phase not in out, f"duplicate {record.phase}"
            out[record.phase] = record
    return out


@pytest.fixture(scope="module")
def traces_dir(fixtures_dir):
    return fixtures_dir / "traces"


def test_cold_start_from_the_reference_documents(traces_dir):
    data = (traces_dir / "xray-cold-start.json").read_bytes()
    assert xray.detect(data[:65536])
    records, stats = parse(data)
    assert stats.skipped == 0
    spans = spans_by_phase(records, COLD_RID)
    assert set(spans) == {schema.SPAN_INVOCATION, schema.SPAN_INIT, schema.SPAN_HANDLER,
                          schema.SPAN_POST_RESPONSE}
    assert spans[schema.SPAN_INIT].duration_ms == pytest.approx(780.1, abs=0.05)
    assert spans[schema.SPAN_HANDLER].duration_ms == pytest.approx(90.2, abs=0.05)
    assert spans[schema.SPAN_POST_RESPONSE].duration_ms == pytest.approx(0.42, abs=0.005)
    assert spans[schema.SPAN_INVOCATION].duration_ms == pytest.approx(91.146, abs=0.001)
    init = spans[schema.SPAN_INIT]
    # Initialization starts before the function segment it belongs to
    assert init.timestamp_ms < spans[schema.SPAN_INVOCATION].timestamp_ms
    assert init.timestamp_ms == pytest.approx(1_681_339_656_611.766, abs=0.001)
    # AWS::Lambda start -> Initialization start: placement + code download
    assert init.attributes[xray.ATTR_PRE_INIT_MS] == pytest.approx(745.766, abs=0.001)
    assert init.attributes[xray.ATTR_SERVICE_MS] == pytest.approx(1618.0)
    for span in spans.values():
        assert span.cold is True and span.outcome == "success"
        assert span.environment is None and span.dialect == XRAY
        assert span.function == "todo-list-app-dev-postTask"
        assert span.trace_id == "1-64373507-1fa10d7929b63ad548165c89"
    (service,) = [r for r in records if isinstance(r, PlatformNote)]
    assert service.kind == xray.NOTE_SEGMENT and service.name == xray.SERVICE_ORIGIN
    assert service.request_id == COLD_RID and service.state == "200"


def test_warm_error_foreign_segments_and_unprocessed_ids(traces_dir):
    records, stats = parse((traces_dir / "xray-warm-and-error.json").read_bytes())
    warm = spans_by_phase(records, "8f5a2b61-3c3e-4a0c-9d7e-1b2c3d4e5f60")
    assert set(warm) == {schema.SPAN_INVOCATION, schema.SPAN_HANDLER, schema.SPAN_POST_RESPONSE}
    assert all(span.cold is False for span in warm.values())
    assert warm[schema.SPAN_HANDLER].duration_ms == pytest.approx(123.6, abs=0.001)
    assert warm[schema.SPAN_POST_RESPONSE].duration_ms == pytest.approx(1.8, abs=0.001)
    failed = spans_by_phase(records, "0b7d3c1e-9e2f-4b8a-a1c4-5d6e7f809a1b")
    assert failed[schema.SPAN_INVOCATION].outcome == "error"
    assert failed[schema.SPAN_HANDLER].outcome == "error"
    assert failed[schema.SPAN_HANDLER].attributes[schema.ATTR_ERROR_TYPE] == "TypeError"
    assert failed[schema.SPAN_POST_RESPONSE].outcome == "success"
    assert "4111" not in repr(records)  # exception messages are never kept
    notes = {(n.kind, n.name): n for n in records if isinstance(n, PlatformNote)}
    ddb = notes[(xray.NOTE_SUBSEGMENT, "DynamoDB")]
    assert ddb.request_id == "8f5a2b61-3c3e-4a0c-9d7e-1b2c3d4e5f60"
    assert "under lambda.handler" in ddb.text and "110.000 ms" in ddb.text
    sibling = notes[(xray.NOTE_SUBSEGMENT, "## index.handler")]
    assert sibling.request_id == "0b7d3c1e-9e2f-4b8a-a1c4-5d6e7f809a1b"
    gateway = notes[(xray.NOTE_SEGMENT, "AWS::ApiGateway::Stage")]
    assert gateway.request_id is None and gateway.function is None
    assert len([n for n in records if isinstance(n, PlatformNote)]) == 5
    assert stats.skipped == 1
    assert "UnprocessedTraceIds" in stats.errors[0] and "1-6437350c-" in stats.errors[0]


def test_snapstart_restore_one_response_per_line(traces_dir):
    data = (traces_dir / "xray-snapstart.jsonl").read_bytes()
    assert xray.detect(data[:200])
    records, stats = parse(data)
    assert stats.skipped == 0
    restored = spans_by_phase(records, "b771fecc-1b53-4faf-922d-1d74357b1676")
    assert set(restored) == {schema.SPAN_INVOCATION, schema.SPAN_RESTORE, schema.SPAN_HANDLER,
                             schema.SPAN_POST_RESPONSE}
    assert restored[schema.SPAN_RESTORE].duration_ms == pytest.approx(511.25, abs=0.001)
    assert restored[schema.SPAN_RESTORE].cold is True
    assert restored[schema.SPAN_INVOCATION].attributes[schema.ATTR_FAAS_VERSION] == "56"
    assert {r.line for r in restored.values()} == {1}
    warm = spans_by_phase(records, "7667964c-05ac-4891-b28c-56f1282ebc1b")
    assert warm[schema.SPAN_INVOCATION].cold is False
    assert {r.line for r in warm.values()} == {2}


def _key(record: Record) -> str:
    return repr((type(record).__name__, record.request_id, getattr(record, "phase", None),
                 getattr(record, "duration_ms", None), getattr(record, "name", None)))


def test_segment_order_does_not_matter_and_repeats_are_merged(traces_dir):
    document = json.loads((traces_dir / "xray-warm-and-error.json").read_bytes())
    expected = sorted(map(_key, parse(json.dumps(document).encode())[0]))
    for trace in document["Traces"]:
        trace["Segments"].reverse()
    line = json.dumps(document)
    # the same traces collected twice (overlapping collection windows)
    records, _ = parse(f"{line}\n{line}\n".encode())
    assert sorted(map(_key, records)) == expected


def _segments(traces_dir) -> tuple[dict, dict]:
    document = json.loads((traces_dir / "xray-cold-start.json").read_bytes())
    docs = [json.loads(s["Document"]) for s in document["Traces"][0]["Segments"]]
    service = next(d for d in docs if d["origin"] == xray.SERVICE_ORIGIN)
    function = next(d for d in docs if d["origin"] == xray.FUNCTION_ORIGIN)
    return service, function


def test_bare_segment_documents_one_per_line(traces_dir):
    service, function = _segments(traces_dir)
    data = f"{json.dumps(function)}\n{json.dumps(service)}\n".encode()
    assert xray.detect(data)
    records, stats = parse(data)
    assert stats.skipped == 0
    assert set(spans_by_phase(records, COLD_RID)) == {
        schema.SPAN_INVOCATION, schema.SPAN_INIT, schema.SPAN_HANDLER, schema.SPAN_POST_RESPONSE}


def test_function_segment_without_its_service_segment(traces_dir):
    service, function = _segments(traces_dir)
    records, _ = parse(json.dumps(function).encode())
    assert {r.request_id for r in records} == {None}
    assert {r.phase for r in records} >= {schema.SPAN_INIT, schema.SPAN_HANDLER}
    # parent id lost, but one service segment of the same function in the trace: joined
    function = {**function, "parent_id": "ffffffffffffffff"}
    records, _ = parse(f"{json.dumps(service)}\n{json.dumps(function)}".encode())
    assert {r.request_id for r in records} == {COLD_RID}


def test_malformed_segments_are_counted_and_the_rest_kept(traces_dir):
    service, function = _segments(traces_dir)
    broken_sub = json.loads(json.dumps(function))
    broken_sub["subsegments"][0]["start_time"] = "yesterday"
    batch = {"Traces": [
        {"Id": "1-64373507-1fa10d7929b63ad548165c89", "Segments": [
            {"Id": "x", "Document": '{"id": "x", "start_time": 1.6E9'},
            {"Id": "y", "Document": json.dumps({"id": "y", "name": "n"})},
            {"Id": service["id"], "Document": json.dumps(service)},
            {"Id": function["id"], "Document": json.dumps(broken_sub)},
        ]},
        {"Id": "1-64373508-000000000000000000000000", "Segments": "none"},
    ]}
    data = f'{json.dumps(batch)}\nnot json at all\n{{"hello": "world"}}\n'.encode()
    records, stats = parse(data, "t.jsonl")
    assert stats.skipped == 6
    assert stats.errors == [
        "t.jsonl:1: Traces[0].Segments[0].Document: Document is not a JSON segment",
        "t.jsonl:1: Traces[0].Segments[1].Document.start_time: expected epoch seconds, got None",
        "t.jsonl:1: Traces[1].Segments: expected a list of segments",
        "t.jsonl:2: expected a JSON document, not JSON (Expecting value at line 2 column 1)",
        "t.jsonl:3: expected `aws xray batch-get-traces` output ({\"Traces\": [...]})",
    ]  # the sixth (kept count only): Traces[0].Segments[3]...subsegments[0].start_time
    # the broken Invocation subsegment is dropped; the other phases of that invoke remain
    assert set(spans_by_phase(records, COLD_RID)) == {
        schema.SPAN_INVOCATION, schema.SPAN_INIT, schema.SPAN_POST_RESPONSE}


@pytest.mark.parametrize(("head", "expected"), [
    (b'{\n    "Traces": [\n        {\n            "Id": "1-6437350a-', True),
    (b'{"UnprocessedTraceIds":[],"Traces":[]}', True),
    (b'{"id":"4bbc4805c7f1f5bc","name":"f","start_time":1.681339655866E9,'
     b'"trace_id":"1-64373507-1fa10d7929b63ad548165c89"}\n', True),
    (b'{"resourceSpans":[]}', False),
    (b'{"message":"{\\"trace_id\\":\\"1-64373507-1fa10d79\\",\\"start_time\\":1}"}', False),
    (b"REPORT RequestId: 8b3a\tDuration: 1.00 ms\n", False),
])
def test_detect(head, expected):
    assert xray.detect(head) is expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0, max_value=4000), replacement=st.sampled_from(
    ['"', "}", "]", "null", "-1", "1e999", '"x"', "[]", "{}", "\n", "true", "E9"]),
    cut=st.integers(min_value=0, max_value=4000))
def test_mutated_or_truncated_input_never_raises(traces_dir, index, replacement, cut):
    text = (traces_dir / "xray-warm-and-error.json").read_text()
    documents = json.loads(text)
    for trace in documents["Traces"]:
        for segment in trace["Segments"]:  # mutate inside the Document strings too
            doc = segment["Document"]
            at = index % len(doc)
            segment["Document"] = doc[:at] + replacement + doc[at + 1:]
    at = index % len(text)
    for data in (json.dumps(documents), text[:at] + replacement + text[at + 1:], text[:cut]):
        stats = SourceStats(path="fuzz", format="xray")
        records = list(xray.parse(data.encode(), "fuzz", stats))
        assert all(isinstance(r, (PhaseSpan, PlatformNote)) for r in records)


def _documents(traces_dir) -> list[dict]:
    docs = []
    for name in ("xray-warm-and-error.json", "xray-cold-start.json"):
        batch = json.loads((traces_dir / name).read_bytes())
        docs += [json.loads(s["Document"]) for t in batch["Traces"] for s in t["Segments"]]
    # a wrapper-written subsegment (lctrace_span annotation) nested in a function segment
    function = next(d for d in docs if d["origin"] == xray.FUNCTION_ORIGIN)
    function["subsegments"].append({"id": "77", "name": "lambda.invocation", "start_time": 1.7E9,
                                   "end_time": 1.7E9, "annotations": {
                                       "lctrace_span": "lambda.invocation",
                                       "faas_invocation_id": "r"},
                                   "metadata": {"lctrace": {"lctrace.outcome": "success"}}})
    return docs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(which=st.integers(min_value=0, max_value=10), path=st.lists(
    st.integers(min_value=0, max_value=40), max_size=7), value=json_values)
def test_structurally_mutated_documents_never_raise(traces_dir, which, path, value):
    docs = _documents(traces_dir)
    index = which % len(docs)
    docs[index] = _mutate(docs[index], path, value)
    batch = {"Traces": [{"Id": "1-64373507-1fa10d7929b63ad548165c89", "Segments": [
        {"Id": str(i), "Document": json.dumps(doc)} for i, doc in enumerate(docs)]}]}
    bare = "\n".join(json.dumps(doc) for doc in docs)
    for data in (json.dumps(batch), bare):
        stats = SourceStats(path="fuzz", format="xray")
        records = list(xray.parse(data.encode(), "fuzz", stats))
        assert all(isinstance(r, (PhaseSpan, PlatformNote, StuckMarker)) for r in records)
