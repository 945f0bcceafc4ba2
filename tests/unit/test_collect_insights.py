"""Logs Insights collection: the query text, and the loop driven by recorded response shapes.

moto runs StartQuery/GetQueryResults but ignores `filter` and never reports `statistics` or
real `@timestamp` strings, so these responses are replayed with botocore's own `Stubber`
(which checks every request and response against the real API model).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from lifecycle_trace.collect.errors import AwsRequestError
from lifecycle_trace.collect.insights import (
    LIFECYCLE_QUERY,
    ROW_LIMIT,
    build_query,
    collect_insights,
)

ROOT = Path(__file__).resolve().parents[2]
GROUP = "/aws/lambda/orders-api"


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def recorded() -> list[dict]:
    data = json.loads((ROOT / "tests/fixtures/collect/insights-get-query-results.json").read_text())
    return data["windows"]


def expect_query(stubber: Stubber, start: int, end: int, query_id: str, *, limit: int,
                 responses: list[dict]) -> None:
    stubber.add_response("start_query", {"queryId": query_id}, {
        "logGroupNames": [GROUP], "startTime": start, "endTime": end,
        "queryString": build_query(limit), "limit": limit})
    for response in responses:
        stubber.add_response("get_query_results", response, {"queryId": query_id})


def test_shipped_query_file_is_the_query_lctrace_runs() -> None:
    shipped = (ROOT / "collectors/insights/lifecycle-fields.query").read_text()
    assert shipped == LIFECYCLE_QUERY
    assert build_query(ROW_LIMIT) == LIFECYCLE_QUERY


def test_query_selects_the_lifecycle_fields_and_lines() -> None:
    fields = LIFECYCLE_QUERY.splitlines()[0].removeprefix("fields ").split(", ")
    assert fields == ["@timestamp", "@logStream", "@log", "@requestId", "@type", "@duration",
                      "@billedDuration", "@initDuration", "@memorySize", "@maxMemoryUsed",
                      "@message"]
    assert '| filter @type = "REPORT"' in LIFECYCLE_QUERY
    patterns = re.findall(r"@message like /(.+?)/\n", LIFECYCLE_QUERY)
    wanted = {
        "INIT_START Runtime Version: python:3.12.v18": True,
        "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout": True,
        "RESTORE_REPORT Restore Duration: 511.25 ms": True,
        "2020-03-05T16:30:39.999Z 1a2b Task timed out after 3.00 seconds": True,
        "RequestId: 1a2b Error: Runtime exited with error: signal: killed\nRuntime.ExitError":
            True,
        '{"time":"2024-01-01T00:00:00Z","type":"platform.initReport","record":{}}': True,
        '{"lctrace": "stuck", "kind": "no_response", "request_id": "1a2b"}': True,
        "START RequestId: 1a2b Version: $LATEST": False,
        "2020-03-05T16:30:36.113Z\t1a2b\tINFO\thello from the handler": False,
    }
    for message, kept in wanted.items():
        assert any(re.search(p, message) for p in patterns) is kept, message


def test_stream_filter_is_added_after_the_fields_line() -> None:
    from lifecycle_trace.collect.insights import with_stream_filter

    query = with_stream_filter(LIFECYCLE_QUERY, r"^\d{4}/\d{2}/\d{2}/orders\[")
    lines = query.splitlines()
    assert lines[0].startswith("fields @timestamp")
    assert lines[1] == r"| filter @logStream like /^\d{4}\/\d{2}\/\d{2}\/orders\[/"
    assert "\n".join(lines[2:]) + "\n" == LIFECYCLE_QUERY.partition("\n")[2]
    assert with_stream_filter(LIFECYCLE_QUERY, None) == LIFECYCLE_QUERY


def test_build_query_sets_the_row_limit() -> None:
    assert build_query(250).rstrip().endswith("| limit 250")
    assert build_query(250).count("| limit") == 1
    assert build_query(7, "fields @message").endswith("fields @message\n| limit 7\n")


def test_recorded_rows_are_written_verbatim_one_window_per_line(logs) -> None:
    client, stubber = logs
    first, second = recorded()
    expect_query(stubber, 1651524000, 1651527600, "q1", limit=ROW_LIMIT, responses=[
        {"status": "Scheduled", "results": []}, {"status": "Running", "results": []}, first])
    out = io.BytesIO()
    sleeps: list[float] = []
    stats = collect_insights(client, out, log_groups=[GROUP], start_s=1651524000,
                             end_s=1651527600, sleep=sleeps.append)
    (line,) = out.getvalue().decode().splitlines()
    assert json.loads(line) == first
    assert sleeps == [1.0, 1.0]  # polled until Complete
    assert (stats.rows, stats.queries, stats.records_scanned) == (2, 1, 7.0)
    assert second  # used below


def test_full_windows_are_split_and_boundary_rows_written_once(logs) -> None:
    client, stubber = logs
    first, second = recorded()
    # 0..100 comes back full (recordsMatched above the rows returned): split into halves.
    full = {**first, "statistics": {**first["statistics"], "recordsMatched": 9.0}}
    expect_query(stubber, 0, 100, "q1", limit=3, responses=[full])
    expect_query(stubber, 0, 50, "q2", limit=3, responses=[first])
    # 50..100 shares second 50 with 0..50 and repeats its last row (same @ptr): dropped.
    repeated = {**second, "results": [first["results"][1], *second["results"]]}
    expect_query(stubber, 50, 100, "q3", limit=3, responses=[repeated])
    out = io.BytesIO()
    stats = collect_insights(client, out, log_groups=[GROUP], start_s=0, end_s=100,
                             row_limit=3, sleep=lambda s: None)
    pages = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert [page["results"] for page in pages] == [first["results"], second["results"]]
    assert (stats.rows, stats.queries, stats.windows_split, stats.truncated_windows) == (
        3, 3, 1, [])


def test_a_one_second_window_that_stays_full_is_reported_as_truncated(logs) -> None:
    client, stubber = logs
    first, _ = recorded()
    expect_query(stubber, 10, 11, "q1", limit=2, responses=[first])
    stats = collect_insights(client, io.BytesIO(), log_groups=[GROUP], start_s=10, end_s=11,
                             row_limit=2, sleep=lambda s: None)
    assert stats.truncated_windows == [[10, 11]] and stats.rows == 2


def test_failed_query_is_an_error_naming_it(logs) -> None:
    client, stubber = logs
    expect_query(stubber, 0, 10, "q-bad", limit=ROW_LIMIT,
                 responses=[{"status": "Failed", "results": []}])
    with pytest.raises(AwsRequestError, match=r"Logs Insights query q-bad ended Failed"):
        collect_insights(client, io.BytesIO(), log_groups=[GROUP], start_s=0, end_s=10,
                         sleep=lambda s: None)


def test_a_window_that_times_out_on_aws_is_split(logs) -> None:
    client, stubber = logs
    first, second = recorded()
    expect_query(stubber, 0, 100, "q1", limit=ROW_LIMIT,
                 responses=[{"status": "Timeout", "results": []}])
    expect_query(stubber, 0, 50, "q2", limit=ROW_LIMIT, responses=[first])
    expect_query(stubber, 50, 100, "q3", limit=ROW_LIMIT, responses=[second])
    stats = collect_insights(client, io.BytesIO(), log_groups=[GROUP], start_s=0, end_s=100,
                             sleep=lambda s: None)
    assert (stats.rows, stats.windows_split) == (3, 1)
    expect_query(stubber, 7, 8, "q4", limit=ROW_LIMIT,
                 responses=[{"status": "Timeout", "results": []}])
    with pytest.raises(AwsRequestError, match="ended Timeout"):
        collect_insights(client, io.BytesIO(), log_groups=[GROUP], start_s=7, end_s=8,
                         sleep=lambda s: None)


def test_ctrl_c_while_waiting_stops_the_query_on_aws(logs) -> None:
    client, stubber = logs
    expect_query(stubber, 0, 10, "q-long", limit=ROW_LIMIT,
                 responses=[{"status": "Running", "results": []}])
    stubber.add_response("stop_query", {"success": True}, {"queryId": "q-long"})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_insights(client, io.BytesIO(), log_groups=[GROUP], start_s=0, end_s=10,
                         sleep=interrupt)


def test_result_pages_are_followed(logs) -> None:
    client, stubber = logs
    first, second = recorded()
    expect_query(stubber, 0, 10, "q1", limit=ROW_LIMIT,
                 responses=[{**first, "nextToken": "page-2"}])
    stubber.add_response("get_query_results", second, {"queryId": "q1", "nextToken": "page-2"})
    out = io.BytesIO()
    collect_insights(client, out, log_groups=[GROUP], start_s=0, end_s=10, sleep=lambda s: None)
    (line,) = out.getvalue().decode().splitlines()
    assert json.loads(line)["results"] == first["results"] + second["results"]


def test_analyze_reads_what_the_insights_collector_writes(logs, tmp_path: Path) -> None:
    """Our output (one get-query-results object per line) is what `analyze` reads."""
    ingest = pytest.importorskip("lifecycle_trace.ingest")
    from lifecycle_trace.records import Report

    client, stubber = logs
    first, second = recorded()
    full = {**first, "statistics": {**first["statistics"], "recordsMatched": 9.0}}
    expect_query(stubber, 0, 100, "q1", limit=3, responses=[full])
    expect_query(stubber, 0, 50, "q2", limit=3, responses=[first])
    expect_query(stubber, 50, 100, "q3", limit=3, responses=[second])
    output = tmp_path / "insights.jsonl"
    with output.open("wb") as out:
        collect_insights(client, out, log_groups=[GROUP], start_s=0, end_s=100, row_limit=3,
                         sleep=lambda s: None)
    (source,) = ingest.read_sources([output])
    assert source.stats.skipped == 0, source.stats.errors
    reports = {r.request_id: r for r in source.records if isinstance(r, Report)}
    assert set(reports) == {"f612fbaf-0a5c-4c2e-9d5a-6cb3f1d2a7e1",
                            "0b4c7e2a-9f35-4d8e-a1c6-3e2f7b9d5a04"}
