"""Subscription payload envelopes built here (gzip/base64 as AWS does), malformed records inside
good files, gzip by magic bytes, stdin, forced formats and unknown inputs."""

from __future__ import annotations

import base64
import gzip
import io
import json
import shutil
import sys
import zlib
from pathlib import Path

import pytest

from lifecycle_trace import records
from lifecycle_trace.errors import ConfigError, InputFormatError, InputReadError
from lifecycle_trace.ingest import FORMATS, read_container, read_source, read_sources

STREAM = "2022/11/10/[$LATEST]26b6a45d574f442ea28438923cbf7bf7"
RID = "06e46194-f277-454e-88d3-1dd7e3860eaa"


def _payload(stream=STREAM, *events, kind="DATA_MESSAGE"):
    return {
        "messageType": kind,
        "owner": "231436140809",
        "logGroup": "/aws/lambda/pt-1488-DummyLogDataFunction-gnWXPvL6jJyG",
        "logStream": stream,
        "subscriptionFilters": ["pt-1488-CloudWatchLogsToKinesisSubscriptionFilter"],
        "logEvents": [
            {"id": str(37199717562907174288355125807040114704837640994633613312 + n),
             "timestamp": ts, "message": msg}
            for n, (ts, msg) in enumerate(events)
        ],
    }


START = (1668093027015, f"START RequestId: {RID} Version: $LATEST\n")
END = (1668093027024, f"END RequestId: {RID}\n")
REPORT = (
    1668093027024,
    f"REPORT RequestId: {RID}\tDuration: 9.14 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 36 MB\tInit Duration: 190.62 ms\t\n",
)
CONTROL = {
    "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
    "subscriptionFilters": [],
    "logEvents": [{
        "id": "",
        "timestamp": 1498519943285,
        "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
    }],
}


def _b64gz(obj) -> str:
    return base64.b64encode(gzip.compress(json.dumps(obj).encode())).decode()


def test_kinesis_envelope_with_a_bad_record_reads_the_others(tmp_path):
    envelope = {"Records": [
        {"kinesis": {"data": _b64gz(_payload(STREAM, START, END))}, "eventSource": "aws:kinesis"},
        {"kinesis": {"data": "!!!not base64"}},
        {"kinesis": {"data": base64.b64encode(b"\x1f\x8b\x08garbage").decode()}},
        {"kinesis": {"data": _b64gz(CONTROL)}},
        {"kinesis": {"data": _b64gz(_payload(STREAM, REPORT))}},
    ]}
    path = tmp_path / "kinesis.json"
    path.write_text(json.dumps(envelope, indent=2))
    parsed = read_source(path)
    assert parsed.stats.format == "kinesis"
    assert [type(r).__name__ for r in parsed.records] == ["Start", "End", "Report"]
    assert parsed.stats.control == 1 and parsed.stats.skipped == 2
    assert parsed.stats.errors[0].startswith(f"{path}:")
    assert "base64" in parsed.stats.errors[0] or "gzip" in parsed.stats.errors[0]
    assert "gzip" in parsed.stats.errors[1]


def test_firehose_payloads_without_delimiter_and_a_control_message(tmp_path):
    body = "".join(
        json.dumps(p, separators=(",", ":"))
        for p in (
            _payload(STREAM, START), CONTROL, _payload("2022/11/10/[$LATEST]" + "b" * 32, END)
        )
    )
    path = tmp_path / "firehose-object"
    path.write_bytes(body.encode())
    stats, events = read_container(path)
    assert stats.format == "firehose" and stats.control == 1 and stats.skipped == 0
    assert [e.environment[-1] for e in events] == ["7", "b"]
    assert [e.timestamp_ms for e in events] == [START[0], END[0]]


def test_firehose_gzip_members_concatenated(tmp_path):
    members = b"".join(
        gzip.compress(json.dumps(_payload(STREAM, ev)).encode()) for ev in (START, END)
    )
    path = tmp_path / "delivery-1-2022-11-10-15-10-27"
    path.write_bytes(members)
    stats, events = read_container(path)
    assert stats.format == "firehose" and [e.message[:5] for e in events] == ["START", "END R"]


def test_firehose_transformation_event_records(tmp_path):
    event = {"invocationId": "inv-1", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:x",
             "region": "us-east-1",
             "records": [{"recordId": "1", "approximateArrivalTimestamp": 1668093033744,
                          "data": _b64gz(_payload(STREAM, START, END, REPORT))}]}
    path = tmp_path / "firehose-event.json"
    path.write_text(json.dumps(event))
    parsed = read_source(path)
    assert parsed.stats.format == "firehose" and parsed.stats.skipped == 0
    (report,) = [r for r in parsed.records if isinstance(r, records.Report)]
    assert report.init_ms == 190.62 and report.environment == STREAM


def test_lambda_trigger_zlib_and_gzip(tmp_path):
    for compress in (gzip.compress, zlib.compress):
        data = base64.b64encode(compress(json.dumps(_payload(STREAM, START)).encode())).decode()
        path = tmp_path / f"trigger-{compress.__module__}.json"
        path.write_text(json.dumps({"awslogs": {"data": data}}))
        stats, events = read_container(path)
        assert stats.format == "lambda-trigger" and len(events) == 1
        assert events[0].group == "/aws/lambda/pt-1488-DummyLogDataFunction-gnWXPvL6jJyG"


def test_jsonl_malformed_lines_are_counted_with_file_and_line(tmp_path):
    good = {"logStreamName": STREAM, "timestamp": START[0], "message": START[1]}
    lines = [
        json.dumps(good),
        '{"logStreamName": "x", "timestamp": 1, "message": "cut',
        json.dumps({**good, "message": None}),
        json.dumps({**good, "timestamp": "yesterday"}),
        json.dumps({**good, "timestamp": END[0], "message": END[1]}),
        "",
        "[1, 2]",
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    parsed = read_source(path)
    assert parsed.stats.format == "events-jsonl"
    assert [type(r).__name__ for r in parsed.records] == ["Start", "End"]
    assert parsed.stats.skipped == 4
    assert [e.split(": ", 1)[0] for e in parsed.stats.errors] == [
        f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:7",
    ]
    assert "message" in parsed.stats.errors[1] and "yesterday" in parsed.stats.errors[2]


def test_filter_log_events_broken_event_skipped_rest_read(tmp_path):
    page = json.dumps({"events": [
        {"logStreamName": STREAM, "timestamp": START[0], "message": START[1]},
        {"logStreamName": STREAM, "timestamp": END[0]},
        {"logStreamName": STREAM, "timestamp": REPORT[0], "message": REPORT[1]},
    ]}, indent=4)
    broken = page.replace('"timestamp": 1668093027024,\n            "message": "REPORT',
                          '"timestamp": 1668093027024,,\n            "message": "REPORT')
    assert broken != page
    path = tmp_path / "fle.json"
    path.write_text(page + "\n" + broken + "\n")
    parsed = read_source(path)
    kinds = [type(r).__name__ for r in parsed.records]
    assert kinds == ["Start", "Report", "Start"]
    assert parsed.stats.skipped == 3  # END without message twice, one bad JSON event
    assert any("invalid JSON" in e for e in parsed.stats.errors)


def test_gzip_is_detected_by_magic_bytes_not_extension(tmp_path, fixtures_dir):
    raw = (fixtures_dir / "containers" / "filter-log-events-two-pages.json").read_bytes()
    path = tmp_path / "logs.txt"
    path.write_bytes(gzip.compress(raw))
    stats, events = read_container(path)
    assert stats.format == "filter-log-events" and len(events) == 7


def test_truncated_gzip_keeps_what_was_read_and_counts_the_rest(tmp_path, fixtures_dir):
    raw = (fixtures_dir / "containers" / "collect-events.jsonl").read_bytes() * 50
    data = gzip.compress(raw)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    stats, events = read_container(path)
    assert stats.format == "events-jsonl"
    assert 0 < len(events) < 350
    assert any("gzip data corrupt or truncated" in e for e in stats.errors)


def test_stdin_dash(monkeypatch, fixtures_dir):
    data = gzip.compress((fixtures_dir / "containers" / "tail-short.txt").read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    (parsed,) = read_sources(["-"])
    assert parsed.stats.path == "<stdin>" and parsed.stats.format == "tail"
    assert [type(r).__name__ for r in parsed.records] == ["Start", "End", "Report"]


def test_rie_from_stdin_is_one_environment(monkeypatch, fixtures_dir):
    data = (fixtures_dir / "containers" / "rie-stdout.txt").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    parsed = read_source("-")
    assert {r.environment for r in parsed.records} == {"stdin"}


def test_forced_format_overrides_detection(tmp_path, fixtures_dir):
    path = fixtures_dir / "containers" / "json-log-lines.txt"
    parsed = read_source(path, input_format="plain-text")
    assert parsed.stats.format == "plain-text"
    assert {r.timestamp_ms for r in parsed.records} != {None}  # JSON `time` read by the parser
    with pytest.raises(InputFormatError, match="nothing readable as events-jsonl"):
        read_source(fixtures_dir / "containers" / "tail-short.txt", input_format="events-jsonl")
    with pytest.raises(ConfigError, match="not a known format"):
        read_sources([str(path)], input_format="cloudtrail")


def test_unknown_input_is_one_line_naming_file_and_formats(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Meeting notes\n\nNothing about Lambda here.\n")
    with pytest.raises(InputFormatError) as info:
        read_source(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert all(name in message for name in FORMATS)


def test_random_json_is_not_mistaken_for_logs(tmp_path):
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"name": "x", "version": "1.0.0", "dependencies": {}}))
    with pytest.raises(InputFormatError):
        read_source(path)


def test_empty_input_and_directories(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    parsed = read_source(tmp_path / "empty.log")
    assert parsed.stats.format == "empty" and parsed.records == []
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    with pytest.raises(InputReadError, match="no files"):
        read_sources([tmp_path / "hidden"])
    with pytest.raises(InputReadError, match="cannot open"):
        read_source(tmp_path / "missing.json")


def test_unknown_file_inside_a_directory_is_reported_not_fatal(tmp_path, fixtures_dir):
    shutil.copy(fixtures_dir / "containers" / "tail-short.txt", tmp_path / "tail.txt")
    (tmp_path / "README.md").write_text("# export of 2026-07-22\n")
    parsed = read_sources([tmp_path])
    by_name = {Path(p.stats.path).name: p for p in parsed}
    assert by_name["tail.txt"].stats.format == "tail" and len(by_name["tail.txt"].records) == 3
    readme = by_name["README.md"].stats
    assert (readme.format, readme.records, readme.skipped) == ("unknown", 0, 1)
    assert readme.errors[0].startswith(f"{tmp_path / 'README.md'}:0: not a Lambda log")
    with pytest.raises(InputFormatError):  # named explicitly: still an error
        read_sources([tmp_path / "README.md"])


def test_jsonl_whose_first_line_is_broken_is_still_jsonl(tmp_path):
    good = {"logStreamName": STREAM, "timestamp": START[0], "message": START[1]}
    path = tmp_path / "events.jsonl"
    path.write_text('{"logStreamName": "cut\n' + json.dumps(good) + "\n")
    stats, events = read_container(path)
    assert stats.format == "events-jsonl" and len(events) == 1 and stats.skipped == 1
    assert stats.errors[0].startswith(f"{path}:1: bad JSON line")


def test_lambda_invoke_log_result(tmp_path):
    tail = (
        f"START RequestId: {RID} Version: $LATEST\n"
        f"2024-05-13T17:38:48.299Z\t{RID}\tINFO\thello\n"
        f"END RequestId: {RID}\n"
        f"REPORT RequestId: {RID}\tDuration: 9.14 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 36 MB\tInit Duration: 190.62 ms\t\n"
        "XRAY TraceId: 1-636d1462-33ef10600061cad86dab71c8\tSegmentId: 7ccb4860675ee485\t"
        "Sampled: true\t\n"
    )
    output = {"StatusCode": 200, "LogResult": base64.b64encode(tail.encode()).decode(),
              "ExecutedVersion": "$LATEST"}
    path = tmp_path / "invoke.json"
    path.write_text(json.dumps(output, indent=4) + "\n" + json.dumps({"StatusCode": 200}) + "\n")
    parsed = read_source(path)
    assert parsed.stats.format == "invoke-log-result"
    assert [type(r).__name__ for r in parsed.records] == ["Start", "AppLine", "End", "Report"]
    report = parsed.records[-1]
    assert report.init_ms == 190.62 and report.trace_id == "1-636d1462-33ef10600061cad86dab71c8"
    assert parsed.stats.skipped == 1 and "without a 'LogResult'" in parsed.stats.errors[0]


def test_jsonl_line_holding_several_objects(tmp_path):
    start = {"logStreamName": STREAM, "timestamp": START[0], "message": START[1]}
    end = {"logStreamName": STREAM, "timestamp": END[0], "message": END[1]}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(start) + "\n" + json.dumps(start) + json.dumps(end) + "{bad\n")
    stats, events = read_container(path)
    assert stats.format == "events-jsonl"
    assert [(e.line, e.message[:3]) for e in events] == [(1, "STA"), (2, "STA"), (2, "END")]
    assert stats.skipped == 1 and stats.errors[0].startswith(f"{path}:2: bad JSON in line")


def test_utf16_capture_from_windows_powershell(tmp_path, fixtures_dir):
    text = (fixtures_dir / "containers" / "tail-detailed-color.txt").read_text()
    path = tmp_path / "out.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-16"))  # BOM + UTF-16LE, CRLF
    plain = read_source(fixtures_dir / "containers" / "tail-detailed-color.txt")
    parsed = read_source(path)
    assert parsed.stats.format == "tail" and parsed.stats.skipped == 0
    assert [(type(r), r.request_id, r.timestamp_ms) for r in parsed.records] == [
        (type(r), r.request_id, r.timestamp_ms) for r in plain.records
    ]
    gz = tmp_path / "out.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_source(gz).stats.records == len(plain.records)


def test_out_of_range_numbers_are_counted_not_raised(tmp_path):
    big = "9" * 5000  # beyond Python's int-from-string limit
    doc = (
        '{"events": [{"logStreamName": "s", "timestamp": ' + big + ', "message": "a"},'
        ' {"logStreamName": "s", "timestamp": 1' + "0" * 400 + ', "message": "b"},'
        ' {"logStreamName": "s", "timestamp": 1668093027015, "message": "c"}]}'
    )
    path = tmp_path / "fle.json"
    path.write_text(doc)
    stats, events = read_container(path)
    assert [e.message for e in events] == ["c"] and stats.skipped == 2
    path = tmp_path / "events.jsonl"
    path.write_text(doc.replace('{"events": [', "").replace("]}", "").replace("}, ", "}\n"))
    stats, events = read_container(path)
    assert stats.format == "events-jsonl"
    assert [e.message for e in events] == ["c"] and stats.skipped == 2


def test_a_message_the_parser_chokes_on_is_counted_not_fatal(tmp_path):
    huge = "1" + "0" * 400  # an int no float holds
    lines = [
        '{"time":"2024-05-20T16:29:45.022Z","type":"platform.report","record":{"requestId":'
        f'"{RID}","metrics":{{"durationMs":{huge},"billedDurationMs":12}}}}}}',
        '{"time":"2024-05-20T16:29:45.008Z","type":"platform.start","record":{"requestId":'
        f'"{RID}","version":"$LATEST"}}}}',
    ]
    path = tmp_path / "json.log"
    path.write_text("\n".join(lines) + "\n")
    parsed = read_source(path)
    assert parsed.stats.format == "json-log-lines"
    assert parsed.stats.skipped >= 1 and parsed.stats.errors[0].startswith(f"{path}:1: ")
    assert [type(r).__name__ for r in parsed.records][-1] == "Start"


def test_payload_inflation_is_bounded(tmp_path, monkeypatch):
    from lifecycle_trace.ingest import containers

    monkeypatch.setattr(containers, "MAX_PAYLOAD_BYTES", 10_000)
    big = _payload(STREAM, *[(START[0], "x" * 1000)] * 20)  # ~20 KB inflated, tiny gzipped
    envelope = {"Records": [{"kinesis": {"data": _b64gz(big)}},
                            {"kinesis": {"data": _b64gz(_payload(STREAM, END))}}]}
    path = tmp_path / "kinesis.json"
    path.write_text(json.dumps(envelope))
    stats, events = read_container(path)
    assert [e.message for e in events] == [END[1]]
    assert stats.skipped == 1 and "inflates beyond 10000 bytes" in stats.errors[0]
