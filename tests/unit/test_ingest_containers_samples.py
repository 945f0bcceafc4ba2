"""Every shared sample (real logs from public projects) read through the container layer and the
message layer: what streams, times, messages and records come out."""

from __future__ import annotations

from collections import Counter

import pytest

from lifecycle_trace import records
from lifecycle_trace.ingest import read_container, read_source
from lifecycle_trace.ingest.base import LogEvent

COLDSTART = "datadog-forwarder__cloudwatch_log_coldstart.json"
TIMEOUT = "datadog-forwarder__cloudwatch_log_timeout.json"
INVOCATION = "datadog-forwarder__cloudwatch_log_lambda_invocation.json"
KINESIS = "powertools-python__kinesisStreamCloudWatchLogsEvent.json"
TRIGGER = "powertools-python__cloudWatchLogEvent.json"
TRIGGER_ZLIB = "powertools-python__cloudWatchLogEventWithPolicyLevel.json"
SAM = "docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"
FIREHOSE = "otel-contrib__firehose_cwlog_multiple_records.ndjson"
CONTROL = "otel-contrib__valid_cloudwatch_log_control.json"


def _of(items, kind):
    return [item for item in items if isinstance(item, kind)]


def test_every_sample_is_detected_and_read_without_skips(samples_dir):
    expected = {
        COLDSTART: "subscription",
        TIMEOUT: "subscription",
        INVOCATION: "subscription",
        KINESIS: "kinesis",
        TRIGGER: "lambda-trigger",
        TRIGGER_ZLIB: "lambda-trigger",
        SAM: "sam-logs",
        FIREHOSE: "firehose",
        CONTROL: "subscription",
    }
    on_disk = {p.name for p in samples_dir.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == set(expected), "a new sample needs an assertion here"
    for name, fmt in expected.items():
        parsed = read_source(samples_dir / name)
        assert parsed.stats.format == fmt, name
        assert parsed.stats.skipped == 0, (name, parsed.stats.errors)
        assert parsed.stats.records == len(parsed.records)


def test_coldstart_payload_events_and_cold_report(samples_dir):
    stats, events = read_container(samples_dir / COLDSTART)
    assert [e.timestamp_ms for e in events] == [1591284559098, 1591284559101, 1591284559101]
    stream = "2020/06/04/[$LATEST]af2b1e1843b84a2d80c67840ae3ffa72"
    assert {e.environment for e in events} == {stream}
    assert {e.group for e in events} == {"/aws/lambda/storms-cloudwatch-event"}
    assert events[0].message.startswith("START RequestId: db275f87-a934-471a-8980-b63bf4dc1beb")
    parsed = read_source(samples_dir / COLDSTART)
    (report,) = _of(parsed.records, records.Report)
    assert report.request_id == "db275f87-a934-471a-8980-b63bf4dc1beb"
    assert (report.duration_ms, report.billed_ms, report.init_ms) == (1.76, 100, 120.96)
    assert report.memory_mb == 128 and report.max_memory_mb == 48
    assert report.function == "storms-cloudwatch-event"
    assert [type(r).__name__ for r in parsed.records] == ["Start", "End", "Report"]


def test_timeout_payload_keeps_the_late_timeout_line(samples_dir):
    parsed = read_source(samples_dir / TIMEOUT)
    (report,) = _of(parsed.records, records.Report)
    assert (report.duration_ms, report.billed_ms, report.init_ms) == (3003.16, 3000, 127.02)
    (timed_out,) = _of(parsed.records, records.TimedOut)
    assert timed_out.request_id == "7c9567b5-107b-4a6c-8798-0157ac21db52"
    assert timed_out.timeout_s == 3.0
    assert timed_out.timestamp_ms == report.timestamp_ms == 1591714946151


def test_invocation_batch_app_lines_and_xray_in_report(samples_dir):
    stats, events = read_container(samples_dir / INVOCATION)
    assert stats.format == "subscription" and len(events) == 19
    stream = "2020/03/05/[$LATEST]20bddfd5a2dc4c6b97ac02800eae90d0"
    assert {e.environment for e in events} == {stream}
    assert events[0].timestamp_ms == 1583425836114
    parsed = read_source(samples_dir / INVOCATION)
    assert not _of(parsed.records, records.Start)  # the batch starts mid-invocation
    app = _of(parsed.records, records.AppLine)
    node_lines = [a for a in app if a.text.startswith("[dd.trace_id=")]
    assert len(node_lines) == 14
    assert {a.request_id for a in node_lines} == {"f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb"}
    assert len(app) == 17  # + 3 JSON metric lines the batch gives no request id for
    (report,) = _of(parsed.records, records.Report)
    assert report.trace_id and report.trace_id.startswith("1-5e61292c")


def test_kinesis_records_are_gunzipped_payloads(samples_dir):
    stats, events = read_container(samples_dir / KINESIS)
    assert stats.format == "kinesis" and len(events) == 6
    streams = Counter(e.environment for e in events)
    assert streams == {
        "2022/11/10/[$LATEST]26b6a45d574f442ea28438923cbf7bf7": 3,
        "2022/11/10/[$LATEST]6749cb3ec3b34895986d592d7421cab2": 3,
    }
    assert events[0].timestamp_ms == 1668093027015
    assert events[0].message.startswith("START RequestId: 06e46194-f277-454e-88d3-1dd7e3860eaa")
    parsed = read_source(samples_dir / KINESIS)
    reports = _of(parsed.records, records.Report)
    first = next(r for r in reports if r.request_id == "06e46194-f277-454e-88d3-1dd7e3860eaa")
    assert (first.duration_ms, first.billed_ms, first.init_ms) == (9.14, 10, 190.62)
    assert first.trace_id == "1-636d1462-33ef10600061cad86dab71c8"


@pytest.mark.parametrize("name", [TRIGGER, TRIGGER_ZLIB])
def test_lambda_trigger_envelope_gzip_and_zlib(samples_dir, name):
    stats, events = read_container(samples_dir / name)
    assert stats.format == "lambda-trigger"
    assert [(e.environment, e.group, e.timestamp_ms, e.message) for e in events] == [
        ("testLogStream", "testLogGroup", 1440442987000, "[ERROR] First test message"),
        ("testLogStream", "testLogGroup", 1440442987001, "[ERROR] Second test message"),
    ]
    parsed = read_source(samples_dir / name)
    assert [r.level for r in _of(parsed.records, records.AppLine)] == ["ERROR", "ERROR"]


def test_sam_logs_snapstart_restore(samples_dir):
    stats, events = read_container(samples_dir / SAM)
    assert stats.format == "sam-logs" and stats.skipped == 0
    assert {e.environment for e in events} == {"2023/07/05/[56]374cd7798d2a4e36a494a23d658b9741"}
    assert events[0].timestamp_ms == 1688552194013  # 2023-07-05T10:16:34.013 UTC
    assert events[0].message.startswith("RESTORE_START Runtime Version: java:11.v21\t")
    assert all(a.timestamp_ms <= b.timestamp_ms for a, b in zip(events, events[1:], strict=False))
    parsed = read_source(samples_dir / SAM)
    assert len(_of(parsed.records, records.RestoreStart)) == 1
    reports = _of(parsed.records, records.Report)
    assert len(reports) == len(_of(parsed.records, records.Start)) == 5
    first = reports[0]
    assert first.request_id == "b771fecc-1b53-4faf-922d-1d74357b1676"
    assert (first.duration_ms, first.billed_ms) == (306.34, 610)
    assert (first.restore_ms, first.billed_restore_ms) == (511.25, 303)
    assert first.memory_mb == 3009
    assert all(r.restore_ms is None for r in reports[1:])


def test_firehose_concatenated_payloads(samples_dir):
    stats, events = read_container(samples_dir / FIREHOSE)
    assert stats.format == "firehose"
    assert [(e.line, e.environment, e.timestamp_ms) for e in events] == [
        (1, "test", 1725544035523),
        (2, "test", 1725554035523),
    ]
    assert events[1].message == "Hello world, here is our second log message!"


def test_control_message_is_counted_not_malformed(samples_dir):
    parsed = read_source(samples_dir / CONTROL)
    assert parsed.stats.format == "subscription"
    assert (parsed.stats.control, parsed.stats.skipped, parsed.stats.records) == (1, 0, 0)
    assert parsed.records == []


def test_events_are_log_events_with_the_source_path(samples_dir):
    stats, events = read_container(samples_dir / COLDSTART)
    assert all(isinstance(e, LogEvent) for e in events)
    assert {e.source for e in events} == {str(samples_dir / COLDSTART)}
    assert stats.path == str(samples_dir / COLDSTART)
