"""What triggered an invocation, from the shape of its event - never its content.

`classify_event(body)` looks for the keys AWS event sources put in their payloads and returns
(`faas.trigger`, `lctrace.event_source`, record count). It scans bytes (C-speed `find`/`count`
plus one small regex on the first few KiB) instead of parsing JSON, so a 6 MiB event costs
about a millisecond, and nothing of the payload leaves this function.
"""

from __future__ import annotations

import re

SNIFF_BYTES = 8192  # the keys that tell sources apart sit at the top of every AWS event

_SOURCE_RE = re.compile(rb'"(?:eventSource|EventSource)"\s*:\s*"([^"]{1,64})"')
_EB_SOURCE_RE = re.compile(rb'"source"\s*:\s*"([^"]{1,128})"')
_DETAIL_TYPE_RE = re.compile(rb'"detail-type"\s*:\s*"([^"]{1,128})"')

# eventSource value -> (trigger, canonical source name)
_RECORD_SOURCES = {
    b"aws:sqs": ("pubsub", "aws:sqs"),
    b"aws:sns": ("pubsub", "aws:sns"),
    b"aws:kinesis": ("pubsub", "aws:kinesis"),
    b"aws:kafka": ("pubsub", "aws:kafka"),
    b"SelfManagedKafka": ("pubsub", "aws:kafka"),
    b"aws:mq": ("pubsub", "aws:mq"),
    b"aws:rmq": ("pubsub", "aws:mq"),
    b"aws:s3": ("datasource", "aws:s3"),
    b"aws:dynamodb": ("datasource", "aws:dynamodb"),
    b"aws:ses": ("other", "aws:ses"),
    b"aws:codecommit": ("other", "aws:codecommit"),
}


def classify_event(body: bytes) -> tuple[str, str | None, int | None]:
    """(trigger, event source, record count) for one event body; ("other", None, None) when
    the shape is unknown (including non-JSON and empty bodies)."""
    head = body[:SNIFF_BYTES]
    stripped = head.lstrip()
    if not stripped.startswith(b"{"):
        return "other", None, None
    match = _SOURCE_RE.search(head)
    if match is not None and (b'"Records"' in head or b'"records"' in head):
        trigger, source = _RECORD_SOURCES.get(match.group(1), ("other", None))
        if source is None:
            source = match.group(1).decode("ascii", "replace")
        key = b'"EventSource"' if b'"EventSource"' in head else b'"eventSource"'
        count = body.count(key)
        if source == "aws:kafka":
            count = body.count(b'"offset"') or None
        return trigger, source, count
    if b'"requestContext"' in head:
        if b'"elb"' in head:
            return "http", "aws:elb", None
        if b".lambda-url." in head:
            return "http", "aws:lambda-url", None
        if b'"httpMethod"' in head or b'"routeKey"' in head or b'"http"' in head:
            return "http", "aws:apigateway", None
        if b'"connectionId"' in head:
            return "http", "aws:apigateway", None
    detail_type = _DETAIL_TYPE_RE.search(head)
    if detail_type is not None and b'"detail"' in head:
        source_match = _EB_SOURCE_RE.search(head)
        if detail_type.group(1) == b"Scheduled Event" and (
            source_match is not None and source_match.group(1) == b"aws.events"
        ):
            return "timer", "aws:events", None
        return "pubsub", "aws:events", None
    if b'"awslogs"' in head:
        return "pubsub", "aws:logs", None
    if b'"deliveryStreamArn"' in head:
        return "pubsub", "aws:firehose", body.count(b'"recordId"')
    return "other", None, None
