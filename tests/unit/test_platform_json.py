"""CloudWatch JSON log format (reference §2), Telemetry API batches and the legacy Logs API (§3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import parse_event, parse_platform_object
from lifecycle_trace.ingest.telemetry import WEB_FUNCTIONS_UNSUPPORTED
from lifecycle_trace.records import (
    JSON,
    TELEMETRY,
    AppLine,
    End,
    InitReport,
    InitRuntimeDone,
    InitStart,
    PlatformNote,
    Report,
    RestoreReport,
    RestoreStart,
    RuntimeDone,
    RuntimeExit,
    Start,
)

STREAM = "2024/05/20/[$LATEST]0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"


def parse_lines(path: Path, stats: SourceStats, **event) -> list:
    records = []
    options = {"environment": STREAM, "timestamp_ms": None, "group": None} | event
    for number, message in enumerate(path.read_text().splitlines(), 1):
        records += parse_event(
            LogEvent(source=path.name, line=number, message=message, **options), stats
        )
    return records


def check(record, cls, **wanted) -> None:
    assert isinstance(record, cls), record
    assert {name: getattr(record, name) for name in wanted} == wanted


def test_json_format_fixture(fixtures_dir: Path) -> None:
    stats = SourceStats("json-format.log", "test")
    records = parse_lines(fixtures_dir / "platform" / "json-format.log", stats)
    assert stats.skipped == 0
    assert len(records) == 18
    assert all(r.dialect == JSON for r in records)
    assert [r.line for r in records] == list(range(1, 19))
    check(
        records[0],
        InitStart,
        initialization_type="on-demand",
        phase="init",
        runtime_version="nodejs:18.v28",
        runtime_version_arn="arn:aws:lambda:eu-west-3::runtime:b475b237…",
        function="ColdStartPerfStack-Function76856677-qnwBXhjb6klt",
        function_version="$LATEST",
        timestamp_ms=1716222584833.0,
        environment=STREAM,
    )
    check(
        records[1],
        InitRuntimeDone,
        initialization_type="on-demand",
        phase="init",
        status="success",
        error_type=None,
        timestamp_ms=1716222585006.0,
    )
    check(
        records[2],
        InitReport,
        initialization_type="on-demand",
        phase="init",
        status="success",
        duration_ms=173.778,
        error_type=None,
    )
    check(
        records[3],
        Start,
        request_id="4b142fc3-17b8-4cdb-a46b-a8dbe7918715",
        version="$LATEST",
        trace_id=None,
    )
    check(
        records[4],
        AppLine,
        request_id="4b142fc3-17b8-4cdb-a46b-a8dbe7918715",
        level="INFO",
        text="ENV 2024-05-20T16:29:42.891Z",
        timestamp_ms=1716222585009.0,
    )
    check(
        records[5],
        RuntimeDone,
        request_id="4b142fc3-…",
        status="success",
        duration_ms=11.185,
        produced_bytes=40,
        response_latency_ms=2.215,
        response_duration_ms=0.056,
        runtime_overhead_ms=8.686,
        error_type=None,
    )
    check(
        records[6],
        Report,
        request_id="4b142fc3-…",
        status="success",
        duration_ms=11.642,
        billed_ms=12.0,
        memory_mb=128,
        max_memory_mb=67,
        init_ms=174.055,
        restore_ms=None,
    )
    check(
        records[7],
        Report,
        request_id="79b5e81f-9cdd-4145-b1f6-7c50ef8a2a36",
        duration_ms=1233.96,
        billed_ms=1698.0,
        memory_mb=256,
        max_memory_mb=123,
        init_ms=463.512,
        status="success",
    )
    check(records[8], InitReport, status="timeout", phase="init", duration_ms=10000.487)
    check(
        records[9],
        RuntimeDone,
        request_id="aec7a529-…",
        status="timeout",
        duration_ms=5001.182,
        produced_bytes=0,
        response_latency_ms=None,
    )
    check(
        records[10],
        Report,
        request_id="aec7a529-…",
        status="timeout",
        duration_ms=5000.0,
        billed_ms=5000.0,
        memory_mb=128,
        max_memory_mb=94,
        init_ms=None,
    )
    check(
        records[11],
        Report,
        request_id="b441820a-…",
        status="timeout",
        duration_ms=30000.0,
        init_ms=985.413,
    )
    # Managed Instances: only durationMs; nothing invented for the rest.
    check(
        records[12],
        Report,
        request_id="4f423807-598d-47ae-9652-4f7ee31d4d10",
        duration_ms=2.524,
        billed_ms=None,
        memory_mb=None,
        max_memory_mb=None,
        init_ms=None,
        status="success",
    )
    # instanceId fills the environment only when the event had none (here it had one).
    check(
        records[13],
        InitStart,
        environment=STREAM,
        function="tenner-notifier",
        runtime_version="python:3.13.v40",
    )
    check(
        records[14],
        Report,
        status="error",
        error_type="Runtime.ExitError",
        init_ms=80.0,
        billed_ms=214.0,
    )
    check(records[15], RestoreStart, runtime_version="java:11.v21")
    check(records[16], RestoreReport, duration_ms=511.25, status="success", error_type=None)
    check(
        records[17],
        Report,
        restore_ms=511.25,
        billed_restore_ms=303.0,
        billed_ms=610.0,
        memory_mb=3009,
        max_memory_mb=155,
        init_ms=None,
    )


def test_event_context_wins_and_instance_id_fills_gaps(fixtures_dir: Path) -> None:
    stats = SourceStats("json-format.log", "test")
    records = parse_lines(
        fixtures_dir / "platform" / "json-format.log",
        stats,
        environment=None,
        timestamp_ms=5.0,
        group="/aws/lambda/from-group",
    )
    assert all(r.timestamp_ms == 5.0 for r in records)
    assert records[13].environment == (
        "2026/10/08/tenner-notifier[$LATEST]22be53a8cfde4e68b844f8ec293b2543"
    )
    assert records[12].environment is None
    assert records[0].function == "from-group"


def test_telemetry_batch(fixtures_dir: Path) -> None:
    batch = json.loads((fixtures_dir / "platform" / "telemetry-batch.json").read_text())
    stats = SourceStats("telemetry-batch.json", "telemetry")
    records = []
    for index, obj in enumerate(batch, 1):
        records += parse_platform_object(
            obj, source="batch", line=index, environment=None, dialect=TELEMETRY, stats=stats
        )
    assert stats.skipped == 0
    assert [type(r) for r in records] == [
        InitStart,
        PlatformNote,
        InitRuntimeDone,
        PlatformNote,
        InitReport,
        Start,
        AppLine,
        RuntimeDone,
        Report,
        RestoreStart,
        RestoreReport,
        PlatformNote,
    ]
    assert all(r.dialect == TELEMETRY for r in records)
    check(
        records[0],
        InitStart,
        function="go-example",
        runtime_version="provided:al2023.v52",
        timestamp_ms=1719824093900.0,
    )
    check(
        records[1],
        PlatformNote,
        kind="platform.telemetrySubscription",
        name="go-example-extension",
        state="Subscribed",
    )
    check(
        records[3],
        PlatformNote,
        kind="platform.extension",
        name="go-example-extension",
        state="Ready",
    )
    check(records[4], InitReport, duration_ms=207.5, status="success")
    check(
        records[5],
        Start,
        request_id="b2de8fdb-5f4b-4d8e-9a3c-2f1e0d9c8b7a",
        trace_id="1-6352a70e-1e2c502e358361800241fd45",
    )
    # A `function` record is the raw output: its logger prefix is read like a CloudWatch line.
    check(
        records[6],
        AppLine,
        request_id="b2de8fdb-5f4b-4d8e-9a3c-2f1e0d9c8b7a",
        level="INFO",
        text="hello from the handler",
        timestamp_ms=1719824094109.0,
    )
    check(
        records[7],
        RuntimeDone,
        duration_ms=17.12,
        produced_bytes=50,
        response_latency_ms=1.613,
        response_duration_ms=0.064,
        runtime_overhead_ms=15.246,
        status="success",
    )
    # Telemetry API metrics arrive as floats, billedDurationMs and memory included.
    check(
        records[8],
        Report,
        duration_ms=18.0,
        billed_ms=18.0,
        memory_mb=128,
        max_memory_mb=35,
        init_ms=207.5,
        trace_id="1-6352a70e-1e2c502e358361800241fd45",
        segment_id="24cd7d670fa455f0",
        sampled=True,
    )
    assert isinstance(records[8].memory_mb, int)
    check(records[9], RestoreStart, runtime_version=None, timestamp_ms=1666187535636.0)
    check(records[10], RestoreReport, duration_ms=150.5, status="success")
    check(records[11], PlatformNote, kind="platform.logsDropped", state="BufferFull")
    assert '"droppedRecords":1' in records[11].text


def test_legacy_logs_api(fixtures_dir: Path) -> None:
    batch = json.loads((fixtures_dir / "platform" / "logs-api-legacy.json").read_text())
    stats = SourceStats("logs-api.json", "telemetry")
    records = []
    for index, obj in enumerate(batch, 1):
        records += parse_platform_object(
            obj, source="logs", line=index, environment="env-1", dialect=TELEMETRY, stats=stats
        )
    assert stats.skipped == 0
    assert [type(r) for r in records] == [
        PlatformNote,
        Start,
        AppLine,
        RuntimeExit,
        End,
        Report,
        RuntimeDone,
        PlatformNote,
    ]
    check(records[0], PlatformNote, kind="platform.logsSubscription", name="Foo.bar")
    check(records[1], Start, request_id="6f7f0961f83442118a7af6fe80b88d56", version=None)
    check(records[2], AppLine, text="Hello from function")
    check(
        records[3],
        RuntimeExit,
        request_id="d783b35e-a91d-4251-af17-035953428a2c",
        reason="Process exited before completing request",
        exit_status=None,
    )
    check(records[4], End, request_id="6f7f0961f83442118a7af6fe80b88d56", environment="env-1")
    check(records[5], Report, billed_ms=300.0, memory_mb=512, init_ms=116.67, status=None)
    check(records[6], RuntimeDone, status="failure", duration_ms=None)


def test_web_functions_events_are_reported_unsupported(fixtures_dir: Path) -> None:
    stats = SourceStats("web.log", "test")
    records = parse_lines(fixtures_dir / "platform" / "web-functions.log", stats)
    assert records == []
    assert stats.skipped == 4
    assert all(error.endswith(WEB_FUNCTIONS_UNSUPPORTED) for error in stats.errors)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (
            {
                "time": "2024-01-01T00:00:00Z",
                "type": "platform.report",
                "record": {"requestId": "r", "metrics": {"durationMs": "fast"}},
            },
            "platform.report: 'metrics.durationMs' expected a number, got 'fast'",
        ),
        (
            {"type": "platform.report", "record": {"metrics": {"durationMs": 1.0}}},
            "platform.report: expected a 'requestId' string",
        ),
        ({"type": "platform.start", "record": "r-1"}, "platform.start: expected a 'record' object"),
        (
            {"type": "platform.report", "record": {"requestId": "r", "metrics": [1]}},
            "'metrics' expected an object",
        ),
        (
            {
                "type": "platform.report",
                "record": {"requestId": "r", "metrics": {"memorySizeMB": True}},
            },
            "'metrics.memorySizeMB' expected a number, got True",
        ),
        ({"record": {}}, "expected a 'type' string"),
        (
            {
                "type": "platform.runtimeDone",
                "record": {
                    "requestId": "r",
                    "spans": [{"name": "responseLatency", "durationMs": "x"}],
                },
            },
            "'spans[responseLatency].durationMs' expected a number",
        ),
    ],
)
def test_malformed_platform_objects_are_counted(obj: dict, reason: str) -> None:
    stats = SourceStats("t.json", "telemetry")
    assert (
        parse_platform_object(
            obj, source="t.json", line=9, environment=None, dialect=TELEMETRY, stats=stats
        )
        == []
    )
    assert stats.skipped == 1
    assert stats.errors[0].startswith("t.json:9: ")
    assert reason in stats.errors[0]


def test_unknown_platform_types_become_notes_and_unknown_keys_are_ignored() -> None:
    stats = SourceStats("x", "test")
    (note,) = parse_platform_object(
        {
            "time": "2026-01-01T00:00:00.000Z",
            "type": "platform.somethingNew",
            "record": {"state": "Odd", "x": 1},
        },
        source="x",
        line=1,
        environment=None,
        dialect=JSON,
        stats=stats,
    )
    check(note, PlatformNote, kind="platform.somethingNew", state="Odd")
    (report,) = parse_platform_object(
        {
            "time": "2026-01-01T00:00:00.000Z",
            "type": "platform.report",
            "record": {
                "requestId": "r",
                "tenantId": "t-1",
                "metrics": {"durationMs": 1, "futureMs": 3},
            },
        },
        source="x",
        line=2,
        environment=None,
        dialect=JSON,
        stats=stats,
    )
    check(report, Report, duration_ms=1.0, billed_ms=None)
    assert stats.skipped == 0


def test_restore_runtime_done_and_init_error_type() -> None:
    stats = SourceStats("x", "test")
    (note,) = parse_platform_object(
        {
            "time": "2022-10-19T13:52:16.000Z",
            "type": "platform.restoreRuntimeDone",
            "record": {"status": "error", "errorType": "Runtime.ExitError"},
        },
        source="x",
        line=1,
        environment=None,
        dialect=TELEMETRY,
        stats=stats,
    )
    check(note, PlatformNote, kind="platform.restoreRuntimeDone", state="error")
    (done,) = parse_platform_object(
        {
            "time": "2024-01-01T00:00:00.000Z",
            "type": "platform.initRuntimeDone",
            "record": {
                "initializationType": "snap-start",
                "phase": "init",
                "status": "error",
                "errorType": "Runtime.Unknown",
            },
        },
        source="x",
        line=2,
        environment=None,
        dialect=TELEMETRY,
        stats=stats,
    )
    check(done, InitRuntimeDone, initialization_type="snap-start", error_type="Runtime.Unknown")


def test_json_message_that_is_not_json_is_an_app_line() -> None:
    stats = SourceStats("x", "test")
    for message in ('{"time": oops}', "{}", '{"a": [1, 2', '{"type": 5}'):
        records = parse_event(LogEvent("x", 1, None, None, message), stats)
        assert [type(r) for r in records] == [AppLine], message
    assert stats.skipped == 0
