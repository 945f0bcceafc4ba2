"""Function output (Node, Python, log4j, JSON app logs) and lctrace wrapper markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_trace import schema
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import parse_event
from lifecycle_trace.records import (
    JSON,
    LCTRACE,
    MAX_APP_TEXT,
    TEXT,
    AppLine,
    InitReport,
    PlatformNote,
    StuckMarker,
    WrapperInvocation,
)

F08 = "f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb"
B77 = "b771fecc-1b53-4faf-922d-1d74357b1676"
RID = "8a1f1c3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
INSTANCE = "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef"


def read(path: Path, stats: SourceStats, **event) -> list:
    options = {"environment": None, "timestamp_ms": None} | event
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        records += parse_event(LogEvent(path.name, number, message=line, **options), stats)
    return records


def test_app_lines_fixture(fixtures_dir: Path) -> None:
    stats = SourceStats("app-lines.log", "test")
    records = read(fixtures_dir / "platform" / "app-lines.log", stats)
    assert stats.skipped == 0
    assert all(isinstance(r, AppLine) for r in records) and len(records) == 16
    got = [(r.request_id, r.level) for r in records]
    assert got == [
        (F08, "DEBUG"),  # Node
        (None, "INFO"),  # Node during init: `undefined`
        (F08, None),  # old Node, no level field
        ("0e0a86e7-3c1b-4f5e-9d2a-7b8c9d0e1f2a", "INFO"),  # Python
        (None, "INFO"),  # Python during init: empty id
        (None, "ERROR"),
        (None, "WARNING"),
        (B77, "DEBUG"),  # log4j (sam logs sample)
        (B77, "INFO"),
        ("5c4f1e2a-8b9d-4c3e-a1f0-9e8d7c6b5a43", "INFO"),  # log4j2 Lambda appender
        (None, None),  # extension free text
        ("4b142fc3-17b8-4cdb-a46b-a8dbe7918715", "INFO"),  # JSON log format
        ("4b142fc3-17b8-4cdb-a46b-a8dbe7918715", "ERROR"),
        ("c6af9ac6-7b61-11e6-9a41-93e812345678", "INFO"),  # Powertools
        (None, None),
        (None, None),
    ]
    assert records[0].text.startswith("[dd.trace_id=3172564172058669914")
    assert records[0].timestamp_ms == 1583425836114.0  # the line's time when the event has none
    assert records[2].text == "an old Node 8 line without a level"
    assert records[3].text == "processing order 42"
    assert records[5].text.startswith("Runtime.ImportModuleError: Unable to import module")
    assert records[7].text == "DEBUG AbstractFlow:219 - New Inbound Call, starting flow"
    assert records[11].text == "ENV 2024-05-20T16:29:42.891Z" and records[11].dialect == JSON
    assert '"errorType":"Error"' in records[12].text  # object message: the raw line is kept
    assert [r.dialect for r in records[:11]] == [TEXT] * 11


def test_event_timestamp_wins_over_the_line() -> None:
    stats = SourceStats("x", "test")
    (line,) = parse_event(
        LogEvent("x", 1, None, 42.0, f"2020-03-05T16:30:36.114Z\t{F08}\tINFO\thi"), stats
    )
    assert line.timestamp_ms == 42.0


def test_long_lines_are_capped() -> None:
    stats = SourceStats("x", "test")
    for message in (
        "x" * 5000,
        f"2020-03-05T16:30:36.114Z\t{F08}\tINFO\t" + "y" * 5000,
        json.dumps({"level": "INFO", "message": "z" * 5000}),
    ):
        (line,) = parse_event(LogEvent("x", 1, None, None, message), stats)
        assert len(line.text) == MAX_APP_TEXT


def test_marker_lines(fixtures_dir: Path) -> None:
    stats = SourceStats("markers.log", "test")
    records = read(fixtures_dir / "platform" / "lctrace-markers.log", stats)
    init, invocation, stuck, never, other, prefixed = records
    assert isinstance(init, InitReport)
    assert (init.dialect, init.duration_ms, init.status, init.environment, init.function) == (
        LCTRACE,
        412.5,
        "success",
        INSTANCE,
        "orders",
    )
    assert isinstance(invocation, WrapperInvocation)
    assert (
        invocation.request_id,
        invocation.environment,
        invocation.function,
        invocation.cold,
        invocation.init_ms,
        invocation.poll_wait_ms,
        invocation.handler_ms,
        invocation.response_ms,
        invocation.post_response_ms,
        invocation.outcome,
        invocation.trigger,
        invocation.event_source,
        invocation.timestamp_ms,
        invocation.dialect,
    ) == (
        RID,
        INSTANCE,
        "orders",
        True,
        412.5,
        0.4,
        120.25,
        1.5,
        2003.75,
        "success",
        "http",
        "aws:apigateway",
        1764168000123.0,
        LCTRACE,
    )
    assert isinstance(stuck, StuckMarker)
    assert (
        stuck.kind,
        stuck.request_id,
        stuck.elapsed_ms,
        stuck.environment,
        stuck.timestamp_ms,
    ) == (schema.STUCK_STOPPED_POLLING, RID, 2000.125, INSTANCE, 1764168002250.0)
    assert json.loads(stuck.text)["kind"] == "stopped_polling"
    assert isinstance(never, StuckMarker)
    assert (never.kind, never.request_id, never.elapsed_ms) == ("never_polled", None, 9000.0)
    assert isinstance(other, PlatformNote) and other.kind == "lctrace.shutdown"
    # A marker behind a logger prefix is not a marker line: plain function output.
    assert isinstance(prefixed, AppLine) and prefixed.request_id == RID
    assert stats.skipped == 2
    assert stats.errors == [
        "markers.log:7: lctrace stuck marker: 'kind' expected one of never_polled, "
        "no_response, stopped_polling, got None",
        "markers.log:8: lctrace invocation marker: 'handler_ms' expected a number, got 'slow'",
    ]


def test_event_environment_wins_over_marker_instance() -> None:
    stats = SourceStats("x", "test")
    line = json.dumps({"lctrace": "stuck", "kind": "no_response", "instance": "other"})
    (marker,) = parse_event(LogEvent("x", 1, "stream-a", 7.0, line), stats)
    assert (marker.environment, marker.timestamp_ms) == ("stream-a", 7.0)


@pytest.mark.parametrize(
    "line",
    [
        '{"lctrace":"invocation","request_id":null}',
        '{"lctrace":"invocation","request_id":"r","cold":"yes"}',
        '{"lctrace":"stuck","kind":"no_response","elapsed_ms":true}',
        '{"lctrace":"init","init_ms":[1]}',
    ],
)
def test_malformed_markers_are_counted(line: str) -> None:
    stats = SourceStats("m.log", "test")
    assert parse_event(LogEvent("m.log", 5, None, None, line), stats) == []
    assert stats.skipped == 1 and stats.errors[0].startswith("m.log:5: lctrace ")


def test_dotnet_levels_and_upper_case_request_ids() -> None:
    stats = SourceStats("x", "test")
    (dotnet,) = parse_event(
        LogEvent("x", 1, None, None, f"2023-11-16T17:18:28.000Z\t{F08}\tfail\tpayment failed"),
        stats,
    )
    assert (dotnet.request_id, dotnet.level, dotnet.text) == (F08, "ERROR", "payment failed")
    upper = "ABCDEF01-1B53-4FAF-922D-1D74357B1676"
    (log4j,) = parse_event(LogEvent("x", 2, None, None, f"{upper} WARN Flow - slow"), stats)
    assert (log4j.request_id, log4j.level) == (upper, "WARN")


def test_fault_form_of_a_timeout_is_a_timeout() -> None:
    from lifecycle_trace.records import TimedOut

    stats = SourceStats("x", "test")
    (record,) = parse_event(
        LogEvent("x", 1, None, None, f"RequestId: {F08} Error: Task timed out after 6.00 seconds"),
        stats,
    )
    assert isinstance(record, TimedOut)
    assert (record.request_id, record.timeout_s) == (F08, 6.0)


def test_java_json_request_id_key() -> None:
    stats = SourceStats("x", "test")
    line = json.dumps(
        {
            "timestamp": "2024-05-20T16:29:45.009Z",
            "level": "WARN",
            "message": "slow",
            "AWSRequestId": F08,
        }
    )
    (record,) = parse_event(LogEvent("x", 1, None, None, line), stats)
    assert (record.request_id, record.level, record.text) == (F08, "WARN", "slow")
