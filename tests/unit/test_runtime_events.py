"""Event-shape classification: faas.trigger, source and record count, never the content."""

from __future__ import annotations

import json

import pytest

from lifecycle_trace.runtime.events import classify_event


def records(source: str, n: int, key: str = "eventSource") -> bytes:
    return json.dumps({"Records": [{key: source, "body": '{"eventSource": "x"}'}] * n}).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (records("aws:sqs", 3), ("pubsub", "aws:sqs", 3)),
        (records("aws:sns", 2, key="EventSource"), ("pubsub", "aws:sns", 2)),
        (records("aws:kinesis", 5), ("pubsub", "aws:kinesis", 5)),
        (records("aws:s3", 1), ("datasource", "aws:s3", 1)),
        (records("aws:dynamodb", 4), ("datasource", "aws:dynamodb", 4)),
        (b'{"httpMethod":"GET","requestContext":{"resourcePath":"/x"},"body":null}',
         ("http", "aws:apigateway", None)),
        (b'{"version":"2.0","routeKey":"GET /x","requestContext":{"http":{"method":"GET"}}}',
         ("http", "aws:apigateway", None)),
        (b'{"requestContext":{"domainName":"abc.lambda-url.us-east-1.on.aws","http":{}}}',
         ("http", "aws:lambda-url", None)),
        (b'{"requestContext":{"elb":{"targetGroupArn":"arn"}},"httpMethod":"GET"}',
         ("http", "aws:elb", None)),
        (b'{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}',
         ("timer", "aws:events", None)),
        (b'{"source":"my.app","detail-type":"OrderPlaced","detail":{"id":1}}',
         ("pubsub", "aws:events", None)),
        (b'{"awslogs":{"data":"H4sI"}}', ("pubsub", "aws:logs", None)),
        (b'{"hello":"world"}', ("other", None, None)),
        (b"", ("other", None, None)),
        (b"\x00\xff binary", ("other", None, None)),
        (b'"just a string"', ("other", None, None)),
    ],
)  # fmt: skip
def test_classify_event(body: bytes, expected: tuple) -> None:
    assert classify_event(body) == expected


def test_count_covers_the_whole_event_not_only_the_sniffed_head() -> None:
    body = records("aws:sqs", 2000)  # far beyond the sniffed bytes
    assert classify_event(body) == ("pubsub", "aws:sqs", 2000)
