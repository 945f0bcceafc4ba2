"""Format sniffing: content decides, not the extension; ambiguous shapes go the right way."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lifecycle_trace.ingest import FORMATS, read_container
from lifecycle_trace.ingest.detect import sniff

FIXTURE_FORMATS = {
    "tail-detailed-color.txt": "tail",
    "tail-short.txt": "tail",
    "tail-json.txt": "tail",
    "s3-export-000000.txt": "s3-export",
    "console-paste.txt": "plain-text",
    "2020-06-09-[$LATEST]b249865adaaf4fad80f95f8ad09725b8.json": "get-log-events",
    "filter-log-events-two-pages.json": "filter-log-events",
    "collect-events.jsonl": "events-jsonl",
    "insights-results.json": "insights-json",
    "insights-discovered.csv": "insights-csv",
    "insights-messages.csv": "insights-csv",
    "console-download.csv": "console-csv",
    "telemetry-batch.json": "telemetry",
    "json-log-lines.txt": "json-log-lines",
    "rie-stdout.txt": "rie",
    "rie-stdout-and-stderr.txt": "rie",
}


@pytest.fixture(scope="module")
def fx(fixtures_dir) -> Path:
    return fixtures_dir / "containers"


def test_every_fixture_is_sniffed_as_its_format(fx):
    names = {p.name for p in fx.iterdir() if p.name != "SOURCES.md"}
    assert names == set(FIXTURE_FORMATS)
    for name, expected in FIXTURE_FORMATS.items():
        assert sniff((fx / name).read_bytes(), Path(name)) == expected, name
        assert expected in FORMATS


def test_extension_does_not_matter(fx, tmp_path):
    for name, expected in FIXTURE_FORMATS.items():
        renamed = tmp_path / f"input-{expected}.bin"
        renamed.write_bytes((fx / name).read_bytes())
        stats, _ = read_container(renamed)
        if expected == "get-log-events":
            continue  # covered below: same shape, stream only from the name
        assert stats.format == expected, name


def test_gzip_content_is_sniffed_after_decompression(fx, tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress((fx / "console-paste.txt").read_bytes()))
    stats, events = read_container(path)
    assert stats.format == "plain-text" and len(events) == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # S3 export prefix vs. the old-style timeout line `<iso ms Z> <id> Task timed out ...`
        # inside a console paste: bare START lines mean it is a paste, not an export.
        (
            "START RequestId: b70435cc-261c-4438-b9b6-efe4c8f04b21 Version: $LATEST\n"
            "2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out "
            "after 3.00 seconds\n",
            "plain-text",
        ),
        ("2019-08-09T18:00:00.000Z START RequestId: x Version: 1\n", "s3-export"),
        # `sam logs` with a whole-second timestamp (isoformat drops .000000).
        ("2023/07/05/[56]374cd7798d2a4e36a494a23d658b9741 2023-07-05T10:16:34 END x\n", "sam-logs"),
        ("2023/07/05/[56]374cd7798d2a4e36a494a23d658b9741 2023-07-05T10:16:34.376000+00:00 "
         "RESTORE_REPORT Restore Duration: 511.25 ms\n", "sam-logs"),
        ("timestamp,message\n1591284559098,\"START RequestId: x\n\"\n", "console-csv"),
        ('"@timestamp","@message"\n"2022-05-02 20:58:14.456","hi"\n', "insights-csv"),
        ("REPORT RequestId: a\tInit Duration: 0.02 ms\tDuration: 1 ms\n", "rie"),
        ("START RequestId: a\tVersion: $LATEST\n", "rie"),
        ("26 Nov 2026 14:54:41,691 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n",
         "rie"),
        ("EXTENSION\tName: datadog-agent\tState: Ready\tEvents: [INVOKE,SHUTDOWN]\n",
         "plain-text"),
        ("\ufeff  \n\n", "empty"),
        ("", "empty"),
        ("just some words\nand more\n", None),
        # RIE stdout whose function logs JSON with epoch times first: still RIE, not JSONL.
        ('{"message": "booting", "timestamp": 1690000000000}\n'
         "START RequestId: a Version: $LATEST\nEND RequestId: a\n"
         "REPORT RequestId: a\tInit Duration: 0.02 ms\tDuration: 1.00 ms\n", "rie"),
    ],
)
def test_text_shapes(text, expected):
    assert sniff(text.encode(), None) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"events": [], "searchedLogStreams": []}, "filter-log-events"),
        ({"events": [{"timestamp": 1, "message": "m", "ingestionTime": 2}],
          "nextForwardToken": "f/1"}, "get-log-events"),
        ({"results": [], "status": "Complete"}, "insights-json"),
        ({"awslogs": {"data": "H4sI"}}, "lambda-trigger"),
        ({"Records": [{"kinesis": {"data": "H4sI"}}]}, "kinesis"),
        ({"invocationId": "i", "deliveryStreamArn": "a", "records": []}, "firehose"),
        ({"messageType": "DATA_MESSAGE", "logEvents": []}, "subscription"),
        ({"timestamp": 1, "message": "m"}, "events-jsonl"),
        ({"timestamp": "2024-05-20T16:29:45.009Z", "level": "INFO", "message": "m"},
         "json-log-lines"),
        ({"time": "2024-05-20T16:29:45.008Z", "type": "platform.start", "record": {}},
         "json-log-lines"),
        ({"lctrace": "stuck", "kind": "no_response"}, "json-log-lines"),
        ({"StatusCode": 200, "LogResult": "U1RBUlQ=", "ExecutedVersion": "$LATEST"},
         "invoke-log-result"),
        ([{"logStreamName": "s", "timestamp": 1, "message": "m"}], "filter-log-events"),
        ([[{"field": "@message", "value": "m"}]], "insights-json"),
        ([{"@timestamp": "2022-05-02 20:58:14.456", "@message": "m"}], "insights-json"),
        ({"name": "pkg", "version": "1"}, None),
    ],
)
def test_json_shapes(value, expected):
    assert sniff(json.dumps(value).encode(), None) == expected


def test_big_first_document_is_classified_from_its_top_level_keys():
    events = [{"logStreamName": "s", "timestamp": n, "message": "x" * 200} for n in range(1000)]
    head = json.dumps({"events": events}, indent=4).encode()[:65536]  # cut mid-document
    assert sniff(head, None) == "filter-log-events"
    message_with_key = json.dumps({"results": [[{"field": "@message", "value": '"awslogs"'}]]})
    assert sniff(message_with_key.encode(), None) == "insights-json"


def test_telemetry_array_cut_off():
    batch = [{"time": "t", "type": "platform.start", "record": {"requestId": "r" * 50}}] * 2000
    assert sniff(json.dumps(batch).encode()[:65536], None) == "telemetry"
    assert sniff(b"[1, 2, 3]", None) is None


def test_external_detectors_are_asked_after_cloudwatch_shapes():
    calls = []

    def otlp(head: bytes) -> bool:
        calls.append(head[:1])
        return b"resourceSpans" in head

    assert sniff(b'{"resourceSpans": []}', None, {"otlp-json": otlp}) == "otlp-json"
    assert sniff(b'{"awslogs": {"data": ""}}', None, {"otlp-json": otlp}) == "lambda-trigger"
    assert len(calls) == 1

    def broken(head: bytes) -> bool:
        raise RuntimeError("detector bug")

    assert sniff(b"START RequestId: a Version: 1\n", None, {"xray": broken}) == "plain-text"


def test_every_format_is_described():
    from lifecycle_trace.ingest import FORMAT_DESCRIPTIONS

    assert tuple(FORMAT_DESCRIPTIONS) == FORMATS
    assert all(text and "\n" not in text for text in FORMAT_DESCRIPTIONS.values())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("otlp-collector-file.jsonl", "otlp-json"),
        ("xray-cold-start.json", "xray"),
        ("xray-snapstart.jsonl", "xray"),
    ],
)
def test_trace_formats_are_dispatched_to_their_parsers(fixtures_dir, tmp_path, name, expected):
    from lifecycle_trace.ingest import read_source

    parsed = read_source(fixtures_dir / "traces" / name)
    assert parsed.stats.format == expected
    assert parsed.records and parsed.stats.records == len(parsed.records)
    packed = tmp_path / "traces.bin"
    packed.write_bytes(gzip.compress((fixtures_dir / "traces" / name).read_bytes()))
    again = read_source(packed)
    assert again.stats.format == expected and len(again.records) == len(parsed.records)


def test_a_trace_parser_fault_is_counted_not_raised(fixtures_dir, tmp_path):
    from lifecycle_trace.ingest import read_source

    text = (fixtures_dir / "traces" / "xray-snapstart.jsonl").read_text()
    path = tmp_path / "segments.jsonl"
    path.write_text(text + '{"trace_id": "1-5f8ed5a1-1234567890abcdef12345678", "start_time": '
                    + "9" * 5000 + "}\n")
    parsed = read_source(path)  # must not raise, whatever the X-Ray parser makes of the line
    assert parsed.stats.format == "xray"
    assert parsed.stats.skipped >= 1 and parsed.stats.records == len(parsed.records)
