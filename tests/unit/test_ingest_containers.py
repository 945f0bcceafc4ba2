"""Container readers on fixtures built from verbatim reference lines (tests/fixtures/containers,
see its SOURCES.md): CLI outputs, exports, Insights results, console pastes, RIE captures."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from lifecycle_trace import records
from lifecycle_trace.ingest import read_container, read_source, read_sources

STREAM_TAIL = "2026/07/22/[$LATEST]8e6debb3ccb74abaa38c0e626efbcdd3"
RID = "06e46194-f277-454e-88d3-1dd7e3860eaa"
XRAY_ID = "1-636d1462-33ef10600061cad86dab71c8"


@pytest.fixture(scope="module")
def fx(fixtures_dir) -> Path:
    return fixtures_dir / "containers"


def _of(items, kind):
    return [item for item in items if isinstance(item, kind)]


def test_tail_detailed_with_colour_and_continuation(fx):
    stats, events = read_container(fx / "tail-detailed-color.txt")
    assert stats.format == "tail" and stats.skipped == 0
    assert [e.line for e in events] == [1, 2, 3, 4, 5]
    assert {e.environment for e in events} == {STREAM_TAIL}
    assert events[0].timestamp_ms == 1784692350669  # 2026-07-22T03:52:30.669000+00:00
    assert all("\x1b" not in e.message for e in events)
    assert events[0].message.startswith("INIT_START Runtime Version: python:3.9.v133\tRuntime")
    report = events[4].message
    assert report.startswith(f"REPORT RequestId: {RID}\tDuration: 9.14 ms")
    assert report.endswith("\nXRAY TraceId: 1-636d1462-33ef10600061cad86dab71c8\tSegmentId: "
                           "7ccb4860675ee485\tSampled: true")
    parsed = read_source(fx / "tail-detailed-color.txt")
    (rec,) = _of(parsed.records, records.Report)
    assert (rec.request_id, rec.init_ms, rec.trace_id, rec.sampled) == (RID, 190.62, XRAY_ID, True)
    assert len(_of(parsed.records, records.InitStart)) == 1
    (app,) = _of(parsed.records, records.AppLine)
    assert app.request_id == RID and app.text.endswith("handling order 42")


def test_tail_short_has_no_stream_and_second_precision(fx):
    stats, events = read_container(fx / "tail-short.txt")
    assert stats.format == "tail"
    assert [(e.environment, e.timestamp_ms) for e in events] == [(None, 1784692350000)] * 3
    assert events[2].message.endswith("Sampled: true") and "\nXRAY TraceId: " in events[2].message


def test_tail_json_pretty_printed_messages_become_platform_records(fx):
    stats, events = read_container(fx / "tail-json.txt")
    assert stats.format == "tail" and [e.line for e in events] == [1, 10, 17]
    assert events[0].message.startswith('{\n    "time": "2024-05-20T16:29:45.008Z"')
    parsed = read_source(fx / "tail-json.txt")
    (start,) = _of(parsed.records, records.Start)
    (report,) = _of(parsed.records, records.Report)
    assert start.request_id == report.request_id == "4b142fc3-17b8-4cdb-a46b-a8dbe7918715"
    assert report.dialect == records.JSON and report.init_ms == 174.055 and report.billed_ms == 12


def _export_tree(root: Path, fx: Path) -> Path:
    """`<prefix>/<task>/<stream as 4 folders>/000000.gz` plus the permission probe object."""
    task = root / "exports" / "3f2b6c1e-task"
    obj = task / "2022" / "11" / "10" / "[$LATEST]26b6a45d574f442ea28438923cbf7bf7" / "000000.gz"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(gzip.compress((fx / "s3-export-000000.txt").read_bytes()))
    (root / "exports" / "aws-logs-write-test").write_text("Permission Check Successful")
    second = task / "2022" / "11" / "10" / "[$LATEST]6749cb3ec3b34895986d592d7421cab2"
    second.mkdir(parents=True)
    (second / "000000.gz").write_bytes(
        gzip.compress(b"2022-11-10T15:03:23.917Z START RequestId: 4dfec460-05bb-4f62-8fed-"
                      b"e5cade099a36 Version: $LATEST\n")
    )
    return root / "exports"


def test_s3_export_directory_recursive(tmp_path, fx):
    parsed = read_sources([_export_tree(tmp_path, fx)])
    assert [p.stats.format for p in parsed] == ["s3-export", "s3-export"]
    first = parsed[0]
    assert {r.environment for r in first.records} == {
        "2022/11/10/[$LATEST]26b6a45d574f442ea28438923cbf7bf7"
    }
    assert [type(r).__name__ for r in first.records] == ["Start", "End", "Report"]
    report = first.records[2]
    assert report.timestamp_ms == 1668093027024 and report.trace_id == XRAY_ID
    assert parsed[1].records[0].environment.endswith("6749cb3ec3b34895986d592d7421cab2")
    assert all(p.stats.skipped == 0 for p in parsed)


def test_s3_export_continuation_line_joins_the_event(tmp_path, fx):
    obj = tmp_path / "000000.gz"
    obj.write_bytes(gzip.compress((fx / "s3-export-000000.txt").read_bytes()))
    stats, events = read_container(obj)
    assert stats.format == "s3-export" and len(events) == 3
    assert events[2].message.count("\n") == 1 and events[2].environment == tmp_path.name


def test_get_log_events_stream_from_file_name(fx, tmp_path):
    name = "2020-06-09-[$LATEST]b249865adaaf4fad80f95f8ad09725b8.json"
    stats, events = read_container(fx / name)
    assert stats.format == "get-log-events" and len(events) == 4
    stream = "2020/06/09/[$LATEST]b249865adaaf4fad80f95f8ad09725b8"
    assert {e.environment for e in events} == {stream}
    assert events[2].message.startswith("REPORT RequestId: 7c9567b5")
    plain_name = tmp_path / "page.json"
    shutil.copy(fx / name, plain_name)
    _, events = read_container(plain_name)
    assert {e.environment for e in events} == {None}


def test_filter_log_events_two_pages(fx):
    stats, events = read_container(fx / "filter-log-events-two-pages.json")
    assert stats.format == "filter-log-events" and stats.skipped == 0
    assert len(events) == 7
    assert Counter(e.environment for e in events) == {
        "2024/05/09/[$LATEST]0a1b2c3d4e5f60718293a4b5c6d7e8f9": 4,
        "2024/05/09/[$LATEST]f9e8d7c6b5a49382716f5e4d3c2b1a09": 3,
    }
    assert events[4].timestamp_ms == 1715212860000 and events[4].line > events[3].line
    parsed = read_source(fx / "filter-log-events-two-pages.json")
    assert [r.init_ms for r in _of(parsed.records, records.Report)] == [245.10, None]


def test_collect_jsonl_carries_the_log_group(fx):
    stats, events = read_container(fx / "collect-events.jsonl")
    assert stats.format == "events-jsonl" and [e.line for e in events] == list(range(1, 8))
    assert {e.group for e in events} == {"/aws/lambda/orders-api"}
    parsed = read_source(fx / "collect-events.jsonl")
    assert {r.function for r in parsed.records} == {"orders-api"}


def test_insights_json_message_row_discovered_row_and_aggregate(fx):
    stats, items = read_container(fx / "insights-results.json")
    assert stats.format == "insights-json"
    event, report = items
    assert event.message.startswith("REPORT RequestId: f612fbaf-0d2c-4a6b-8d6e-2b1f5f3c9a10\t")
    assert event.timestamp_ms == 1651525094456  # 2022-05-02 20:58:14.456 UTC
    assert event.group == "/aws/lambda/insights-demo"
    assert isinstance(report, records.Report) and report.dialect == records.INSIGHTS
    assert report.request_id == "0f5a2b61-58b4-4a53-9c5e-0d4ad6a0e2b7"
    assert (report.memory_mb, report.max_memory_mb) == (128, 67)  # "1.28E8" / "6.7E7" bytes
    assert (report.duration_ms, report.billed_ms, report.init_ms) == (14.57, 15.0, 180.42)
    assert report.function == "insights-demo"
    assert stats.skipped == 1 and "row has neither @message nor a Lambda @type" in stats.errors[0]
    parsed = read_source(fx / "insights-results.json")
    text_report = parsed.records[0]
    assert (text_report.memory_mb, text_report.billed_ms) == (512, 3)


def test_insights_csv_discovered_fields_and_messages(fx):
    stats, items = read_container(fx / "insights-discovered.csv")
    assert stats.format == "insights-csv"
    assert [(r.line, r.memory_mb, r.max_memory_mb, r.init_ms) for r in items] == [
        (2, 512, 70, None),
        (3, 128, 67, 180.42),
    ]
    stats, items = read_container(fx / "insights-messages.csv")
    (event,) = items
    assert event.message.endswith("Max Memory Used: 70 MB\t\n")  # quoted newline kept
    assert event.environment == "2022/05/02/[$LATEST]c0ffee00c0ffee00c0ffee00c0ffee00"


def test_console_csv_download(fx):
    stats, events = read_container(fx / "console-download.csv")
    assert stats.format == "console-csv"
    assert [e.timestamp_ms for e in events] == [1591284559098, 1591284559101, 1591284559101]
    assert all(e.message.endswith("\n") for e in events)
    parsed = read_source(fx / "console-download.csv")
    (report,) = _of(parsed.records, records.Report)
    assert (report.billed_ms, report.init_ms) == (100, 120.96)


def test_console_paste_with_spaces_and_split_crash_lines(fx):
    stats, events = read_container(fx / "console-paste.txt")
    assert stats.format == "plain-text" and len(events) == 8
    assert {(e.environment, e.timestamp_ms) for e in events} == {(None, None)}
    crash = events[5]
    assert crash.line == 7 and crash.message.endswith("exit status 126\nRuntime.ExitError")
    parsed = read_source(fx / "console-paste.txt")
    assert [r.status for r in _of(parsed.records, records.Report)] == ["timeout", "error"]
    (exit_,) = _of(parsed.records, records.RuntimeExit)
    assert exit_.exit_status == 126 and exit_.error_type == "Runtime.ExitError"


@pytest.mark.parametrize("name", ["rie-stdout.txt", "rie-stdout-and-stderr.txt"])
def test_rie_capture_is_one_environment_named_after_the_file(fx, name):
    stats, events = read_container(fx / name)
    assert stats.format == "rie"
    assert {e.environment for e in events} == {name.removesuffix(".txt")}
    parsed = read_source(fx / name)
    assert parsed.stats.skipped == 0
    reports = _of(parsed.records, records.Report)
    assert len(reports) == 2 and {r.dialect for r in reports} == {records.RIE}
    assert reports[0].memory_mb == reports[0].max_memory_mb == 3008
    starts = _of(parsed.records, records.Start)
    assert [s.request_id for s in starts] == [r.request_id for r in reports]


def test_rie_stderr_lines_are_kept_as_notes_not_dropped(fx):
    stats, events = read_container(fx / "rie-stdout-and-stderr.txt")
    rapid = [e for e in events if "(rapid)" in e.message]
    assert len(rapid) == 15
    parsed = read_source(fx / "rie-stdout-and-stderr.txt")
    rapid_lines = {e.line for e in rapid}
    assert rapid_lines <= {r.line for r in parsed.records}


def test_telemetry_batch_records_have_the_telemetry_dialect(fx):
    parsed = read_source(fx / "telemetry-batch.json")
    assert parsed.stats.format == "telemetry"
    assert [type(r).__name__ for r in parsed.records] == [
        "InitStart", "InitReport", "Start", "RuntimeDone", "Report",
    ]
    assert {r.dialect for r in parsed.records} == {records.TELEMETRY}
    report = parsed.records[-1]
    assert report.memory_mb == 128 and report.init_ms == 174.055
    assert parsed.records[3].runtime_overhead_ms == 8.686


def test_json_log_lines_keep_their_time(fx):
    stats, events = read_container(fx / "json-log-lines.txt")
    assert stats.format == "json-log-lines" and len(events) == 6
    assert events[0].timestamp_ms == 1716222584833 and events[3].timestamp_ms == 1716222585009
    parsed = read_source(fx / "json-log-lines.txt")
    assert {r.dialect for r in parsed.records if not isinstance(r, records.AppLine)} == {
        records.JSON
    }
    (app,) = _of(parsed.records, records.AppLine)
    assert app.request_id == "4b142fc3-17b8-4cdb-a46b-a8dbe7918715" and app.level == "INFO"


def test_cli_query_outputs_bare_arrays(tmp_path, fx):
    """`--query events` / `--query results` print the array alone."""
    events = json.loads((fx / "filter-log-events-two-pages.json").read_text().split("\n}\n")[0]
                        + "\n}")["events"]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events, indent=4))
    stats, items = read_container(path)
    assert stats.format == "filter-log-events" and len(items) == 4 and stats.skipped == 0
    rows = json.loads((fx / "insights-results.json").read_text())["results"]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    stats, items = read_container(path)
    assert stats.format == "insights-json" and len(items) == 2 and stats.skipped == 1


def test_runaway_continuation_is_capped_and_counted(tmp_path, monkeypatch):
    from lifecycle_trace.ingest import textlogs

    monkeypatch.setattr(textlogs, "MAX_EVENT_CHARS", 100)
    lines = [f"2026-07-22T03:52:30.669000+00:00 {STREAM_TAIL} START RequestId: {RID} Version: 1"]
    lines += ["x" * 30] * 10
    lines += [f"2026-07-22T03:52:31.000000+00:00 {STREAM_TAIL} END RequestId: {RID}"]
    path = tmp_path / "tail.txt"
    path.write_text("\n".join(lines) + "\n")
    stats, events = read_container(path)
    assert len(events) == 2 and len(events[0].message) <= 100
    assert events[1].message == f"END RequestId: {RID}"
    assert stats.skipped == 1 and "longer than 100 characters" in stats.errors[0]


def test_insights_console_json_download_rows_as_objects(tmp_path):
    rows = [
        {"@timestamp": "2022-05-02 21:03:40.101", "@type": "REPORT",
         "@requestId": "0f5a2b61-58b4-4a53-9c5e-0d4ad6a0e2b7", "@duration": "14.57",
         "@billedDuration": "15.0", "@memorySize": "1.28E8", "@maxMemoryUsed": "6.7E7"},
        {"@timestamp": "2022-05-02 21:03:41.000", "@message": "END RequestId: x"},
        {"@timestamp": "2022-05-02 21:03:42.000", "@type": "REPORT", "@duration": "fast"},
    ]
    path = tmp_path / "logs-insights-results.json"
    path.write_text(json.dumps(rows, indent=2))
    stats, items = read_container(path)
    assert stats.format == "insights-json"
    report, event = items
    assert (report.memory_mb, report.max_memory_mb, report.billed_ms) == (128, 67, 15.0)
    assert event.message == "END RequestId: x" and event.timestamp_ms == 1651525421000
    assert stats.skipped == 1 and "@duration is not a number: 'fast'" in stats.errors[0]


def test_console_paste_joins_only_real_second_lines(tmp_path):
    lines = [
        "INIT_REPORT Init Duration: 488.22 ms\tPhase: invoke\tStatus: error\tError Type: "
        "Runtime.ExitError",
        "Unknown application error occurred",
        "Runtime.Unknown",
        f"START RequestId: {RID} Version: $LATEST",
        "Unknown application error occurred",  # Ruby: an event of its own
        "Function<NoMethodError>",
        f"END RequestId: {RID}",
        "XRAY TraceId: 1-636d1462-33ef10600061cad86dab71c8\tSegmentId: 7ccb4860675ee485",
    ]
    path = tmp_path / "paste.txt"
    path.write_text("\n".join(lines) + "\n")
    stats, events = read_container(path, input_format="plain-text")
    assert [e.message.count("\n") for e in events] == [2, 0, 1, 0, 0]
    assert events[2].message == "Unknown application error occurred\nFunction<NoMethodError>"
