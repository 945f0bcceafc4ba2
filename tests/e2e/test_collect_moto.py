"""`lctrace collect` against moto in server mode on 127.0.0.1: real boto3, real HTTP.

Seeded with the shipped samples (PutLogEvents across several streams and groups, X-Ray
documents of §5 via PutTraceSegments), collected back, compared with the originals.
moto limits (stated, tested elsewhere): GetTraceSummaries has no FilterExpression support (the
unit tests check ours with botocore's Stubber); Logs Insights ignores `filter` and discovered
fields and returns epoch-ms `@timestamp` (the windowing is tested here, the query text and real
result shapes in tests/unit/test_collect_insights.py).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifecycle_trace.collect import cache
from lifecycle_trace.collect.errors import AwsAccessDeniedError, AwsNotFoundError
from lifecycle_trace.collect.insights import InsightsQuery, collect_insights_to_file
from lifecycle_trace.collect.logs import LogsQuery, collect_logs_to_file
from lifecycle_trace.collect.output import sidecar_path
from lifecycle_trace.collect.session import AwsTarget
from lifecycle_trace.collect.traces import TracesQuery, collect_traces_to_file
from tests.e2e import moto_server

pytestmark = pytest.mark.e2e
moto_endpoint = moto_server.moto_endpoint

DATADOG = "datadog-forwarder__cloudwatch_log_lambda_invocation.json"
KINESIS = "powertools-python__kinesisStreamCloudWatchLogsEvent.json"
SNAPSTART = "docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"
SNAPSTART_GROUP = "/aws/lambda/squareup-ivr-snapstart"


@dataclass
class Seeded:
    """What the tests put into moto: events per log group, per stream, in order."""

    groups: dict[str, dict[str, list[tuple[int, str]]]]
    sources: dict[str, Path]  # log group -> the sample file it came from

    def span_ms(self, group: str) -> tuple[int, int]:
        stamps = [ts for events in self.groups[group].values() for ts, _ in events]
        return min(stamps), max(stamps) + 1


def _subscription_payloads(samples: Path) -> list[tuple[dict, Path]]:
    payloads = [(json.loads((samples / DATADOG).read_text()), samples / DATADOG)]
    for record in json.loads((samples / KINESIS).read_text())["Records"]:
        data = gzip.decompress(base64.b64decode(record["kinesis"]["data"]))
        payloads.append((json.loads(data), samples / KINESIS))
    return payloads


def _sam_logs(samples: Path) -> list[tuple[str, int, str]]:
    events = []
    for line in (samples / SNAPSTART).read_text().splitlines():
        if not line.strip():
            continue
        stream, stamp, message = line.split(" ", 2)
        moment = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
        events.append((stream, round(moment.timestamp() * 1000), message))
    return events


def _put(
    endpoint: moto_server.MotoEndpoint, group: str, stream: str, events: list[tuple[int, str]]
) -> None:
    logs = endpoint.client("logs")
    existing = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    if not any(g["logGroupName"] == group for g in existing):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    with moto_server.historic_clock(events[-1][0]):
        result = logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": ts, "message": message} for ts, message in events],
        )
    assert "rejectedLogEventsInfo" not in result, result


@pytest.fixture(scope="module")
def seeded(moto_endpoint: moto_server.MotoEndpoint, samples_dir: Path) -> Seeded:
    moto_endpoint.reset()
    groups: dict[str, dict[str, list[tuple[int, str]]]] = defaultdict(dict)
    sources: dict[str, Path] = {}
    for payload, path in _subscription_payloads(samples_dir):
        events = [(e["timestamp"], e["message"]) for e in payload["logEvents"]]
        groups[payload["logGroup"]][payload["logStream"]] = events
        sources[payload["logGroup"]] = path
    for stream, stamp, message in _sam_logs(samples_dir):
        groups[SNAPSTART_GROUP].setdefault(stream, []).append((stamp, message))
    sources[SNAPSTART_GROUP] = samples_dir / SNAPSTART
    for group, streams in groups.items():
        for stream, events in streams.items():
            assert events == sorted(events, key=lambda e: e[0])
            _put(moto_endpoint, group, stream, events)
    return Seeded(dict(groups), sources)


def _read_jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode().splitlines()]


def _by_stream(lines: list[dict]) -> dict[str, list[tuple[int, str]]]:
    streams: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in lines:
        streams[line["logStreamName"]].append((line["timestamp"], line["message"]))
    return dict(streams)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_collected_logs_round_trip_every_stream_and_page(
    moto_endpoint, seeded: Seeded, tmp_path: Path, suffix: str
) -> None:
    logs = moto_endpoint.client("logs")
    for index, (group, streams) in enumerate(sorted(seeded.groups.items())):
        start, end = seeded.span_ms(group)
        output = tmp_path / f"group{index}{suffix}"
        stats = collect_logs_to_file(logs, output, LogsQuery(group, start, end), page_size=4)
        lines = _read_jsonl(output)
        assert _by_stream(lines) == streams, group
        assert {line["logGroupName"] for line in lines} == {group}
        assert all(
            set(line)
            == {"logGroupName", "logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
            for line in lines
        )
        expected = sum(len(events) for events in streams.values())
        assert stats.events == expected and stats.streams == set(streams)
        assert stats.pages == -(-expected // 4)  # every page followed
        assert not sidecar_path(output).exists()


def test_time_range_bounds_are_half_open(moto_endpoint, seeded: Seeded, tmp_path: Path) -> None:
    events = seeded.groups[SNAPSTART_GROUP]
    stream, sequence = next(iter(events.items()))
    cut = sequence[10][0]
    output = tmp_path / "half.jsonl"
    collect_logs_to_file(
        moto_endpoint.client("logs"), output, LogsQuery(SNAPSTART_GROUP, sequence[0][0], cut)
    )
    assert _by_stream(_read_jsonl(output)) == {stream: [e for e in sequence if e[0] < cut]}


def test_interrupted_collection_resumes_to_the_same_file(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    logs = moto_endpoint.client("logs")
    start, end = seeded.span_ms(SNAPSTART_GROUP)
    query = LogsQuery(SNAPSTART_GROUP, start, end)
    reference = tmp_path / "full.jsonl.gz"
    collect_logs_to_file(logs, reference, query, page_size=5)

    output = tmp_path / "cut.jsonl.gz"

    def ctrl_c_on_third_page(stats) -> None:
        if stats.pages == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_logs_to_file(logs, output, query, page_size=5, progress=ctrl_c_on_third_page)
    state = json.loads(sidecar_path(output).read_text())
    assert state["cursor"] and state["totals"]["events"] == 15
    assert len(_read_jsonl(output)) == 15  # what was written is kept, and is valid gzip

    stats = collect_logs_to_file(logs, output, None, resume=True, page_size=5)
    assert gzip.decompress(output.read_bytes()) == gzip.decompress(reference.read_bytes())
    assert stats.events == 47 and not sidecar_path(output).exists()


def test_unknown_log_group_and_denied_access_are_one_line_errors(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    from moto import settings

    target = AwsTarget(endpoint_url=moto_endpoint.url)
    output = tmp_path / "missing.jsonl"
    with pytest.raises(AwsNotFoundError, match="no such thing"):
        cache.run_collection(
            collect_logs_to_file,
            moto_endpoint.client("logs"),
            output,
            LogsQuery("/aws/lambda/nope", 0, 10),
            target=target,
            described="log group /aws/lambda/nope",
            not_found="no such thing",
        )
    assert not output.exists() and not sidecar_path(output).exists()

    iam = moto_endpoint.client("iam")
    iam.create_user(UserName="reader-without-logs")
    key = iam.create_access_key(UserName="reader-without-logs")["AccessKey"]
    import boto3

    denied = boto3.client(
        "logs",
        endpoint_url=moto_endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # moto checks IAM policies from now on
    try:
        with pytest.raises(AwsAccessDeniedError) as caught:
            cache.run_collection(
                collect_logs_to_file,
                denied,
                output,
                LogsQuery(SNAPSTART_GROUP, 0, 10),
                target=target,
                described=f"log group {SNAPSTART_GROUP}",
                not_found="-",
            )
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
    message = str(caught.value)
    assert "\n" not in message and "logs:FilterLogEvents" in message
    assert message.startswith(f"access denied log group {SNAPSTART_GROUP}")


def test_insights_windows_split_until_every_row_fits(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    """moto runs StartQuery/GetQueryResults (ignoring `filter`), enough to test the windowing:
    a window that returns `row_limit` rows is split, and rows on a shared boundary second are
    written once."""
    events = [e for s in seeded.groups[SNAPSTART_GROUP].values() for e in s]
    per_two_seconds = max(
        sum(1 for ts, _ in events if s * 1000 <= ts <= (s + 1) * 1000)
        for s in {ts // 1000 for ts, _ in events}
    )
    start_s, end_s = events[0][0] // 1000, events[-1][0] // 1000 + 1
    output = tmp_path / "insights.jsonl"
    stats = collect_insights_to_file(
        moto_endpoint.client("logs"),
        output,
        InsightsQuery([SNAPSTART_GROUP], start_s, end_s, row_limit=per_two_seconds + 1),
        poll_s=0,
    )
    pages = _read_jsonl(output)
    rows = [{c["field"]: c["value"] for c in row} for page in pages for row in page["results"]]
    assert sorted((int(r["@timestamp"]), r["@message"]) for r in rows) == sorted(events)
    assert stats.windows_split >= 1 and stats.rows == len(events) == 47
    assert all(page["status"] == "Complete" for page in pages)
    assert not stats.truncated_windows


def _segment_documents() -> list[dict]:
    """§5's real 2023 documents (cold start) plus a warm invoke and another function."""
    function = "todo-list-app-dev-postTask"
    arn = f"arn:aws:lambda:us-east-1:263792328682:function:{function}"
    cold = "1-64373507-1fa10d7929b63ad548165c89"
    warm = "1-64373540-0a1b2c3d4e5f60718293a4b5"
    other = "1-64373541-aaaaaaaaaaaaaaaaaaaaaaaa"
    docs = [
        {
            "id": "4bbc4805c7f1f5bc",
            "name": function,
            "start_time": 1.681339655866e9,
            "trace_id": cold,
            "end_time": 1.681339657484e9,
            "parent_id": "7e4173d577ff5be2",
            "http": {"response": {"status": 200}},
            "aws": {"request_id": "516a738f-f972-4d5a-9be9-eb1f3e3e0667"},
            "origin": "AWS::Lambda",
            "resource_arn": arn,
        },
        {
            "id": "64db57830f6fd454",
            "name": function,
            "start_time": 1.6813396573927343e9,
            "trace_id": cold,
            "end_time": 1.6813396574838803e9,
            "parent_id": "4bbc4805c7f1f5bc",
            "aws": {
                "account_id": "263792328682",
                "function_arn": arn,
                "resource_names": [function],
            },
            "origin": "AWS::Lambda::Function",
            "subsegments": [
                {
                    "id": "651be02de1388c7e",
                    "name": "Invocation",
                    "start_time": 1.6813396573929079e9,
                    "end_time": 1.6813396574830668e9,
                },
                {
                    "id": "6b1089d8bb667884",
                    "name": "Initialization",
                    "start_time": 1.6813396566117659e9,
                    "end_time": 1.6813396573918788e9,
                },
                {
                    "id": "ac27eb0115114f56",
                    "name": "Overhead",
                    "start_time": 1.6813396574831686e9,
                    "end_time": 1.6813396574835873e9,
                },
            ],
        },
        {
            "id": "5ccd5916a2b3c4d5",
            "name": function,
            "start_time": 1.681339712100e9,
            "trace_id": warm,
            "end_time": 1.681339712150e9,
            "origin": "AWS::Lambda",
            "aws": {"request_id": "0f0e0d0c-0b0a-4909-8807-060504030201"},
            "resource_arn": arn,
        },
        {
            "id": "6ddd5916a2b3c4d6",
            "name": "another-function",
            "start_time": 1.681339713e9,
            "trace_id": other,
            "end_time": 1.6813397131e9,
            "origin": "AWS::Lambda::Function",
        },
    ]
    return docs


def test_traces_of_one_function_come_back_as_batch_get_traces_pages(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    docs = _segment_documents()
    xray = moto_endpoint.client("xray")
    sent = [json.dumps(doc) for doc in docs]
    assert xray.put_trace_segments(TraceSegmentDocuments=sent)["UnprocessedTraceSegments"] == []
    output = tmp_path / "traces.jsonl"
    # moto answers GetTraceSummaries with a FilterExpression by HTTP 500: send none, and rely on
    # the collector's own check that each trace contains the function's segment.
    stats = collect_traces_to_file(
        xray,
        output,
        TracesQuery(
            "todo-list-app-dev-postTask", 1681339600000, 1681339800000, filter_expression=None
        ),
    )
    pages = _read_jsonl(output)
    traces = {t["Id"]: t for page in pages for t in page["Traces"]}
    assert set(traces) == {docs[0]["trace_id"], docs[2]["trace_id"]}
    documents = sorted(s["Document"] for t in traces.values() for s in t["Segments"])
    assert documents == sorted(sent[:3])  # the Document strings, byte for byte
    assert all(page["UnprocessedTraceIds"] == [] for page in pages)
    assert (stats.traces, stats.segments, stats.skipped_other) == (2, 3, 1)


def test_a_shared_log_group_yields_only_the_functions_streams(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    """Custom log groups may be shared; Lambda then names streams `date/<function>[ver]hex`."""
    from lifecycle_trace.collect.resolve import shared_stream_pattern

    group = "/shared/lambda-logs"
    now_ms = 1700000000000
    ours = [(now_ms + i, f"START RequestId: {i}\n") for i in range(3)]
    theirs = [(now_ms + i, f"START RequestId: other-{i}\n") for i in range(4)]
    _put(moto_endpoint, group, "2023/11/14/orders[$LATEST]" + "a" * 32, ours)
    _put(moto_endpoint, group, "2023/11/14/orders-v2[$LATEST]" + "b" * 32, theirs)
    output = tmp_path / "shared.jsonl"
    stats = collect_logs_to_file(
        moto_endpoint.client("logs"),
        output,
        LogsQuery(group, now_ms, now_ms + 10, stream_pattern=shared_stream_pattern("orders")),
    )
    assert [(line["timestamp"], line["message"]) for line in _read_jsonl(output)] == ours
    assert (stats.events, stats.other_streams) == (3, 4)
