"""X-Ray collection against botocore's `Stubber` (requests checked against the real API
model): the function filter expression moto cannot evaluate, 6-hour summary windows,
pagination, batches of 5 ids and the retry of unprocessed ids."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from lifecycle_trace.collect.traces import (
    collect_traces,
    function_filter_expression,
    touches_function,
)

FUNCTION = "orders-api"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
T0 = 1_700_000_000_000  # ms


def trace(trace_id: str, name: str = FUNCTION) -> dict:
    document = {"id": "a1b2c3d4e5f60718", "name": name, "trace_id": trace_id,
                "start_time": 1.7E9, "end_time": 1.7000000012E9,
                "origin": "AWS::Lambda::Function",
                "aws": {"function_arn": ARN.replace(FUNCTION, name)}}
    return {"Id": trace_id, "Duration": 1.2, "LimitExceeded": False,
            "Segments": [{"Id": "a1b2c3d4e5f60718", "Document": json.dumps(document)}]}


def ids(count: int) -> list[str]:
    return [f"1-6553f100-{index:024x}" for index in range(count)]


@pytest.fixture
def xray():
    client = boto3.client("xray", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def summaries(trace_ids: list[str], token: str | None = None) -> dict:
    page: dict = {"TraceSummaries": [{"Id": trace_id} for trace_id in trace_ids]}
    if token:
        page["NextToken"] = token
    return page


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_filter_expression_selects_the_function_node() -> None:
    assert function_filter_expression(FUNCTION) == (
        'service(id(name: "orders-api", type: "AWS::Lambda::Function"))')
    assert function_filter_expression(f"{ARN}:live") == function_filter_expression(FUNCTION)


def test_touches_function_reads_origin_and_name_or_arn() -> None:
    assert touches_function(trace("1-1-1"), FUNCTION)
    assert not touches_function(trace("1-1-1", name="orders-api-v2"), FUNCTION)
    renamed = trace("1-1-2")
    document = json.loads(renamed["Segments"][0]["Document"]) | {"name": "custom"}
    renamed["Segments"][0]["Document"] = json.dumps(document)
    assert touches_function(renamed, FUNCTION)  # by function_arn
    assert not touches_function({"Segments": [{"Document": "{not json"}]}, FUNCTION)


def test_summaries_are_listed_in_six_hour_windows_with_pages_then_fetched_in_fives(xray):
    client, stubber = xray
    hour = 3_600_000
    start, end = T0, T0 + 13 * hour  # 13 h: windows of 6, 6 and 1 hours
    found = ids(12)
    expression = function_filter_expression(FUNCTION)
    windows = [(start, start + 6 * hour), (start + 6 * hour, start + 12 * hour),
               (start + 12 * hour, end)]
    pages = {0: [summaries(found[:4], "p2"), summaries(found[4:7])],
             1: [summaries(found[7:11] + found[:1])], 2: [summaries(found[11:])]}
    for index, (left, right) in enumerate(windows):
        for number, page in enumerate(pages[index]):
            expected = {"StartTime": at(left), "EndTime": at(right), "Sampling": False,
                        "FilterExpression": expression}
            if number:
                expected["NextToken"] = "p2"
            stubber.add_response("get_trace_summaries", page, expected)
    for batch in (found[0:5], found[5:10], found[10:12]):
        stubber.add_response("batch_get_traces",
                             {"Traces": [trace(t) for t in batch], "UnprocessedTraceIds": []},
                             {"TraceIds": batch})
    out = io.BytesIO()
    stats = collect_traces(client, out, function=FUNCTION, start_ms=start, end_ms=end)
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert [[t["Id"] for t in line["Traces"]] for line in lines] == [
        found[0:5], found[5:10], found[10:12]]
    assert (stats.ids_found, stats.traces, stats.batches) == (12, 12, 3)


def test_unprocessed_ids_are_asked_for_once_more(xray):
    client, stubber = xray
    found = ids(3)
    stubber.add_response("get_trace_summaries", summaries(found),
                         {"StartTime": ANY, "EndTime": ANY, "Sampling": False,
                          "FilterExpression": ANY})
    stubber.add_response("batch_get_traces", {"Traces": [trace(found[0])],
                                              "UnprocessedTraceIds": found[1:]},
                         {"TraceIds": found})
    stubber.add_response("batch_get_traces", {"Traces": [trace(found[1])],
                                              "UnprocessedTraceIds": found[2:]},
                         {"TraceIds": found[1:]})
    out = io.BytesIO()
    stats = collect_traces(client, out, function=FUNCTION, start_ms=T0, end_ms=T0 + 60_000)
    assert stats.traces == 2 and stats.unprocessed == [found[2]]
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert [line["UnprocessedTraceIds"] for line in lines] == [found[1:], found[2:]]


def test_batch_pages_are_followed_and_other_functions_left_out(xray):
    client, stubber = xray
    found = ids(2)
    stubber.add_response("get_trace_summaries", summaries(found),
                         {"StartTime": ANY, "EndTime": ANY, "Sampling": False})
    stubber.add_response("batch_get_traces", {"Traces": [trace(found[0])],
                                              "NextToken": "more"}, {"TraceIds": found})
    stubber.add_response("batch_get_traces",
                         {"Traces": [trace(found[1], name="someone-else")]},
                         {"TraceIds": found, "NextToken": "more"})
    out = io.BytesIO()
    done: set[str] = set()
    stats = collect_traces(client, out, function=FUNCTION, start_ms=T0, end_ms=T0 + 60_000,
                           filter_expression=None, done_ids=done)
    assert (stats.traces, stats.skipped_other) == (1, 1)
    assert done == set(found)
    assert len(out.getvalue().decode().splitlines()) == 1  # the empty page is not written


def test_ids_already_written_are_not_fetched_again(xray):
    client, stubber = xray
    found = ids(6)
    stubber.add_response("get_trace_summaries", summaries(found),
                         {"StartTime": ANY, "EndTime": ANY, "Sampling": False,
                          "FilterExpression": ANY})
    stubber.add_response("batch_get_traces", {"Traces": [trace(t) for t in found[5:]]},
                         {"TraceIds": found[5:]})
    stats = collect_traces(client, io.BytesIO(), function=FUNCTION, start_ms=T0,
                           end_ms=T0 + 60_000, done_ids=set(found[:5]))
    assert stats.traces == 1 and stats.ids_done == 6
