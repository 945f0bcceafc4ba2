"""Text-format platform lines (reference §1): every verbatim line, tab/space and order variants."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import fields, replace
from pathlib import Path

import pytest

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import parse_event
from lifecycle_trace.records import (
    RIE,
    TEXT,
    AppLine,
    End,
    InitReport,
    InitStart,
    PlatformNote,
    Report,
    RestoreReport,
    RestoreStart,
    RuntimeExit,
    Start,
    TimedOut,
)

STREAM = "2023/07/05/[56]374cd7798d2a4e36a494a23d658b9741"
GROUP = "/aws/lambda/orders"


def fixture_messages(path: Path) -> list[str]:
    """One event per line; the two characters `\\n` stand for a newline inside the event."""
    return [line.replace("\\n", "\n") for line in path.read_text().split("\n")[:-1]]


def parse(message: str, stats: SourceStats | None = None, line: int = 1, **event) -> list:
    stats = stats if stats is not None else SourceStats("test.log", "test")
    options = {"environment": STREAM, "timestamp_ms": 1_700_000_000_000.0, "group": GROUP}
    options.update(event)
    return parse_event(LogEvent(source="test.log", line=line, message=message, **options), stats)


def only(message: str, **event):
    records = parse(message, **event)
    assert len(records) == 1, records
    return records[0]


def without_text(record):
    """The record with its raw-text field blanked (text keeps the line as printed)."""
    names = {f.name for f in fields(record)}
    return replace(record, text="") if "text" in names else record


@pytest.fixture(scope="module")
def text_lines(fixtures_dir: Path) -> list[str]:
    return fixture_messages(fixtures_dir / "platform" / "text-format.log")


# Expected records, one entry per fixture line (1-based): (type, fields it must have).
EXPECTED = {
    1: [(Start, {"request_id": "7c9567b5-107b-4a6c-8798-0157ac21db52", "version": "$LATEST"})],
    2: [(Start, {"request_id": "b771fecc-1b53-4faf-922d-1d74357b1676", "version": "56"})],
    3: [(End, {"request_id": "06e46194-f277-454e-88d3-1dd7e3860eaa"})],
    4: [
        (
            Report,
            dict(
                request_id="06e46194-f277-454e-88d3-1dd7e3860eaa",
                duration_ms=9.14,
                billed_ms=10.0,
                memory_mb=128,
                max_memory_mb=36,
                init_ms=190.62,
                restore_ms=None,
                billed_restore_ms=None,
                status=None,
                error_type=None,
                trace_id="1-636d1462-33ef10600061cad86dab71c8",
                segment_id="7ccb4860675ee485",
                sampled=True,
                dialect=TEXT,
            ),
        )
    ],
    5: [
        (
            Report,
            dict(
                request_id="db275f87-a934-471a-8980-b63bf4dc1beb",
                duration_ms=1.76,
                billed_ms=100.0,
                memory_mb=128,
                max_memory_mb=48,
                init_ms=120.96,
                trace_id=None,
                sampled=None,
            ),
        )
    ],
    6: [
        (
            Report,
            dict(
                request_id="b771fecc-1b53-4faf-922d-1d74357b1676",
                duration_ms=306.34,
                billed_ms=610.0,
                memory_mb=3009,
                max_memory_mb=155,
                init_ms=None,
                restore_ms=511.25,
                billed_restore_ms=303.0,
            ),
        )
    ],
    7: [
        (
            Report,
            dict(
                request_id="f8400400-dd9e-4025-b644-4c78df3287c7",
                duration_ms=1338.34,
                billed_ms=1339.0,
                memory_mb=128,
                max_memory_mb=71,
                status="error",
                error_type="Runtime.UserCodeSyntaxError",
            ),
        )
    ],
    8: [
        (
            Report,
            dict(
                request_id="527cb862-4f5e-49a9-9ae4-a7edc90f0fda",
                duration_ms=3016.78,
                billed_ms=3101.0,
                memory_mb=128,
                max_memory_mb=31,
                init_ms=84.0,
                status="timeout",
                error_type=None,
                dialect=TEXT,
            ),
        )
    ],
    9: [
        (
            Report,
            dict(
                request_id="5b866fb1-7154-4af6-8078-6ef6ca4c2ddd",
                duration_ms=133.61,
                billed_ms=214.0,
                init_ms=80.0,
                status="error",
                error_type="Runtime.ExitError",
            ),
        )
    ],
    10: [
        (
            InitStart,
            dict(
                runtime_version="python:3.9.v133",
                runtime_version_arn=(
                    "arn:aws:lambda:us-west-2::runtime:"
                    "b46f7bc0f3da8071d1b824471f2c69c8766b756b827eb0455d2118c622ae7bcf"
                ),
                initialization_type=None,
                phase=None,
            ),
        )
    ],
    11: [
        (
            InitStart,
            dict(
                runtime_version="python:3.12.mainlinev2.v7",
                runtime_version_arn="arn:aws:lambda:us-east-1::runtime:2b830756…",
            ),
        )
    ],
    12: [(InitStart, dict(runtime_version="nodejs:18.v5"))],
    13: [
        (
            InitReport,
            dict(
                duration_ms=150.79,
                phase="init",
                status="error",
                error_type="Runtime.UserCodeSyntaxError",
            ),
        )
    ],
    14: [
        (
            InitReport,
            dict(
                duration_ms=1329.49,
                phase="invoke",
                status="error",
                error_type="Runtime.UserCodeSyntaxError",
            ),
        )
    ],
    15: [(InitReport, dict(duration_ms=1236.04, phase="init", status="timeout", error_type=None))],
    16: [
        (
            InitReport,
            dict(duration_ms=1236.04, phase="init", status="error", error_type="Extension.Crash"),
        )
    ],
    17: [
        (
            InitReport,
            dict(
                duration_ms=488.22, phase="invoke", status="error", error_type="Runtime.ExitError"
            ),
        ),
        (AppLine, dict(level="ERROR", text="Unknown application error occurred\nRuntime.Unknown")),
    ],
    18: [
        (
            RestoreStart,
            dict(
                runtime_version="java:11.v21",
                runtime_version_arn=(
                    "arn:aws:lambda:us-east-1::runtime:"
                    "156ab0dc268a6b4a8dedcbcf0974795cafba2ee8760fe386062fffdbb887b971"
                ),
            ),
        )
    ],
    19: [(RestoreReport, dict(duration_ms=511.25, status=None, error_type=None))],
    20: [(RestoreReport, dict(duration_ms=1236.04, status="timeout", error_type=None))],
    21: [
        (RestoreReport, dict(duration_ms=1236.04, status="error", error_type="Runtime.ExitError"))
    ],
    22: [
        (
            TimedOut,
            dict(
                request_id="b70435cc-261c-4438-b9b6-efe4c8f04b21",
                timeout_s=3.0,
                text="Task timed out after 3.00 seconds",
            ),
        )
    ],
    23: [
        (
            TimedOut,
            dict(
                request_id="7c9567b5-107b-4a6c-8798-0157ac21db52",
                timeout_s=3.0,
                text="Task timed out after 3.00 seconds",
            ),
        )
    ],
    24: [
        (
            RuntimeExit,
            dict(
                request_id="c3252230-c73d-49f6-8844-968c01d1e2e1",
                reason="Runtime exited without providing a reason",
                exit_status=None,
                signal=None,
                error_type="Runtime.ExitError",
            ),
        )
    ],
    25: [
        (
            RuntimeExit,
            dict(
                request_id="dcd6569e-9716-47ef-b1c0-106e80aa110a",
                reason="Runtime exited with error: exit status 126",
                exit_status=126,
                signal=None,
                error_type="Runtime.ExitError",
            ),
        )
    ],
    26: [
        (
            RuntimeExit,
            dict(
                request_id=None,
                reason="Runtime exited with error: signal: killed",
                exit_status=None,
                signal="killed",
                error_type=None,
            ),
        )
    ],
    27: [
        (
            RuntimeExit,
            dict(
                request_id="16f8d3a2-26fc-11e8-bca6-73dbc61c39e7",
                reason="Process exited before completing request",
                error_type=None,
            ),
        )
    ],
    28: [
        (
            AppLine,
            dict(
                level="ERROR",
                request_id=None,
                text="Unknown application error occurred\nFunction<NoMethodError>",
            ),
        )
    ],
    29: [(PlatformNote, dict(kind="EXTENSION", name="lambda-adapter", state="Ready"))],
    30: [
        (
            PlatformNote,
            dict(kind="EXTENSION", name="AWSParametersAndSecretsLambdaExtension", state="Ready"),
        )
    ],
    31: [(PlatformNote, dict(kind="EXTENSION", name="datadog-agent", state="Ready"))],
    32: [(PlatformNote, dict(kind="TELEMETRY", name="datadog-agent", state="Subscribed"))],
    33: [
        (
            Report,
            dict(
                request_id="40ddb432-ffe1-4f6c-9c4f-c1f7d33fdafd",
                init_ms=0.02,
                duration_ms=60.42,
                billed_ms=61.0,
                memory_mb=3008,
                max_memory_mb=3008,
                dialect=RIE,
            ),
        )
    ],
    34: [
        (
            Start,
            dict(request_id="0f7c8b2a-3d4e-4f5a-9b6c-7d8e9f0a1b2c", version="$LATEST", dialect=RIE),
        )
    ],
    35: [
        (
            Report,
            dict(
                request_id="0f7c8b2a-3d4e-4f5a-9b6c-7d8e9f0a1b2c",
                duration_ms=1001.29,
                billed_ms=None,
                memory_mb=None,
                max_memory_mb=None,
                dialect=RIE,
            ),
        )
    ],
    36: [(PlatformNote, dict(kind="IMAGE", state="Launch error", name=None))],
}


def test_every_reference_line_parses_to_its_records(text_lines: list[str]) -> None:
    assert len(text_lines) == len(EXPECTED)
    stats = SourceStats("text-format.log", "test")
    for number, message in enumerate(text_lines, 1):
        records = parse(message, stats, line=number)
        expected = EXPECTED[number]
        assert [type(r) for r in records] == [cls for cls, _ in expected], (number, records)
        for record, (_, wanted) in zip(records, expected, strict=True):
            got = {name: getattr(record, name) for name in wanted}
            assert got == wanted, (number, message)
            assert (record.source, record.line, record.environment) == ("test.log", number, STREAM)
            assert record.timestamp_ms == 1_700_000_000_000.0
            assert record.function == "orders"
            if "dialect" not in wanted:
                assert record.dialect == TEXT, number
    assert (stats.skipped, stats.errors) == (0, [])


def test_tabs_turned_into_spaces_give_the_same_records(text_lines: list[str]) -> None:
    """Copies in docs and consoles print the fields with spaces (reference §0.1)."""
    compared = 0
    for number, message in enumerate(text_lines, 1):
        if "\t" not in message or EXPECTED[number][0][1].get("dialect") == RIE:
            continue  # the RIE-only layouts are recognised by their tabs
        spaced = message.replace("\t", " ")
        assert [without_text(r) for r in parse(spaced, line=number)] == [
            without_text(r) for r in parse(message, line=number)
        ], number
        compared += 1
    assert compared == 16


def test_trailing_whitespace_does_not_change_a_record(text_lines: list[str]) -> None:
    for number, message in enumerate(text_lines, 1):
        stripped = message.rstrip()
        assert [without_text(r) for r in parse(stripped, line=number)] == [
            without_text(r) for r in parse(message + "\t\n", line=number)
        ], number


REPORT_FIELDS = [
    "Duration: 3016.78 ms",
    "Billed Duration: 3101 ms",
    "Memory Size: 128 MB",
    "Max Memory Used: 31 MB",
    "Init Duration: 84.00 ms",
    "Restore Duration: 12.50 ms",
    "Billed Restore Duration: 7 ms",
    "Status: error",
    "Error Type: Runtime.ExitError",
]


@pytest.mark.parametrize("separator", ["\t", " "])
def test_report_fields_in_any_order(separator: str) -> None:
    rng = random.Random(7)
    orders = [REPORT_FIELDS, REPORT_FIELDS[::-1]] + [
        rng.sample(REPORT_FIELDS, len(REPORT_FIELDS)) for _ in range(30)
    ]
    for order in orders:
        if separator == "\t" and order[0] == "Init Duration: 84.00 ms":
            continue  # that layout is the RIE's (dialect RIE), checked elsewhere
        message = "REPORT RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda" + separator
        message += separator.join(order) + separator
        report = only(message)
        assert isinstance(report, Report)
        assert (report.duration_ms, report.billed_ms, report.memory_mb, report.max_memory_mb) == (
            3016.78,
            3101.0,
            128,
            31,
        ), order
        assert (report.init_ms, report.restore_ms, report.billed_restore_ms) == (84.0, 12.5, 7.0)
        assert (report.status, report.error_type) == ("error", "Runtime.ExitError")


def test_report_subsets_of_optional_fields() -> None:
    head = "REPORT RequestId: 06e46194-f277-454e-88d3-1dd7e3860eaa\tDuration: 9.14 ms\t"
    optional = REPORT_FIELDS[1:]
    for size in (0, 1, 2):
        for chosen in itertools.combinations(optional, size):
            report = only(head + "\t".join(chosen))
            assert report.duration_ms == 9.14
            assert (report.billed_ms is not None) == ("Billed Duration: 3101 ms" in chosen)
            assert (report.status is not None) == ("Status: error" in chosen)


def test_xray_line_with_spaces_and_unsampled() -> None:
    report = only(
        "REPORT RequestId: 06e46194-f277-454e-88d3-1dd7e3860eaa Duration: 9.14 ms Billed "
        "Duration: 10 ms Memory Size: 128 MB Max Memory Used: 36 MB \nXRAY TraceId: "
        "1-636d1462-33ef10600061cad86dab71c8 SegmentId: 7ccb4860675ee485 Sampled: false"
    )
    assert (report.trace_id, report.segment_id, report.sampled) == (
        "1-636d1462-33ef10600061cad86dab71c8",
        "7ccb4860675ee485",
        False,
    )
    assert report.billed_ms == 10.0


def test_start_with_tab_is_rie_and_with_space_is_text() -> None:
    assert only("START RequestId: a Version: 3").dialect == TEXT
    assert only("START RequestId: a\tVersion: 3").dialect == RIE


def test_unknown_report_fields_are_ignored() -> None:
    report = only(
        "REPORT RequestId: x\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 20 MB\tFuture Field: 17 units\t"
    )
    assert (report.duration_ms, report.billed_ms, report.max_memory_mb) == (2.0, 3.0, 20)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "REPORT RequestId: x\tDuration: abc ms\tBilled Duration: 3 ms",
            "'Duration' expected a number",
        ),
        ("REPORT RequestId: x\tBilled Duration: 3 ms", "expected 'Duration: <ms> ms'"),
        ("REPORT RequestId: \tDuration: 1.00 ms", "expected 'RequestId: <id>'"),
        (
            "REPORT RequestId: x\tDuration: 1 ms\tMemory Size: lots",
            "'Memory Size' expected a number",
        ),
        ("REPORT RequestId: x\tDuration: 1 ms\tInit Duration: nan ms", "'Init Duration' expected"),
        ("START RequestId: ", "expected 'START RequestId: <id> Version: <version>'"),
        ("END RequestId:", "expected 'END RequestId: <id>'"),
        ("INIT_REPORT Phase: init\tStatus: error", "expected 'Init Duration: <ms> ms'"),
        ("INIT_REPORT Init Duration: soon\tPhase: init", "'Init Duration' expected a number"),
        ("RESTORE_REPORT Status: error", "expected 'Restore Duration: <ms> ms'"),
        ("RequestId: 16f8d3a2-26fc-11e8-bca6-73dbc61c39e7 did something odd", "fault: expected"),
        ("RequestId: ", "fault: expected"),
    ],
)
def test_malformed_platform_lines_are_counted_not_raised(message: str, reason: str) -> None:
    stats = SourceStats("bad.log", "test")
    assert parse(message, stats, line=42) == []
    assert stats.skipped == 1
    assert stats.errors[0].startswith("bad.log:42: ")
    assert reason in stats.errors[0]


def test_lookalike_application_lines_are_not_platform_lines() -> None:
    for message in (
        "STARTING worker",
        "REPORTING done",
        "INIT_STARTED",
        "ENDPOINT ready",
        "RequestIdentifier 7",
        "XRAY is off",
        "TIMEOUT soon",
        "EXTENSIONS\tloaded",
    ):
        record = only(message)
        assert isinstance(record, AppLine), message
        assert record.text == message


def test_empty_and_blank_messages_give_nothing() -> None:
    stats = SourceStats("x", "test")
    for message in ("", "\n", " \t\n"):
        assert parse(message, stats) == []
    assert stats.skipped == 0


def test_function_from_log_group_or_custom_stream() -> None:
    assert only("END RequestId: a", group="/aws/lambda/billing-api").function == "billing-api"
    custom = "2026/10/08/tenner-notifier[$LATEST]22be53a8cfde4e68b844f8ec293b2543"
    assert only("END RequestId: a", group="/shared/logs", environment=custom).function == (
        "tenner-notifier"
    )
    assert only("END RequestId: a", group=None, environment=STREAM).function is None
    edge = only("END RequestId: a", group="/aws/lambda/us-east-1.edge-auth", environment=None)
    assert edge.function == "edge-auth"


def test_datadog_double_escaped_samples(samples_dir: Path) -> None:
    """The forwarder snapshots hold `\\t`/`\\n` as two characters (SOURCES.md): still parsed."""
    payload = json.loads(
        (samples_dir / "datadog-forwarder__cloudwatch_log_timeout.json").read_text()
    )
    stats = SourceStats("timeout.json", "test")
    records = []
    for number, event in enumerate(payload["logEvents"], 1):
        records += parse(
            event["message"],
            stats,
            line=number,
            environment=payload["logStream"],
            timestamp_ms=float(event["timestamp"]),
            group=payload["logGroup"],
        )
    assert [type(r) for r in records] == [Start, End, Report, TimedOut]
    start, end, report, timed_out = records
    rid = "7c9567b5-107b-4a6c-8798-0157ac21db52"
    assert {start.request_id, end.request_id, report.request_id, timed_out.request_id} == {rid}
    assert start.version == "$LATEST"
    assert (
        report.duration_ms,
        report.billed_ms,
        report.memory_mb,
        report.max_memory_mb,
        report.init_ms,
    ) == (3003.16, 3000.0, 128, 48, 127.02)
    assert (timed_out.timeout_s, timed_out.timestamp_ms) == (3.0, 1591714946151.0)
    assert report.function == "storms-cloudwatch-event"
    assert stats.skipped == 0


def test_datadog_real_tabs_invocation_sample(samples_dir: Path) -> None:
    payload = json.loads(
        (samples_dir / "datadog-forwarder__cloudwatch_log_lambda_invocation.json").read_text()
    )
    stats = SourceStats("invocation.json", "test")
    records = []
    for number, event in enumerate(payload["logEvents"], 1):
        records += parse(
            event["message"],
            stats,
            line=number,
            environment=payload["logStream"],
            timestamp_ms=float(event["timestamp"]),
            group=payload["logGroup"],
        )
    assert stats.skipped == 0
    reports = [r for r in records if isinstance(r, Report)]
    assert len(reports) == 1 and reports[0].trace_id and reports[0].trace_id.startswith("1-")
    assert reports[0].segment_id and reports[0].sampled is not None
    node = [r for r in records if isinstance(r, AppLine) and not r.text.startswith("{")]
    assert len(node) == 14
    assert all(r.request_id == "f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb" for r in node)
    assert {r.level for r in node} == {"DEBUG", "INFO"}
    assert node[0].timestamp_ms == 1583425836114.0  # the event's time wins over the line's
    datadog_json = [r for r in records if isinstance(r, AppLine) and r.text.startswith("{")]
    assert len(datadog_json) == 3 and all(r.request_id is None for r in datadog_json)


def test_sam_logs_snapstart_sample(samples_dir: Path) -> None:
    """`sam logs` lines are `<stream> <ts> <message>`; the message layer reads the message."""
    path = samples_dir / "docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"
    stats = SourceStats(path.name, "test")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line:
            continue
        stream, _, message = line.split(" ", 2)
        records += parse(message, stats, line=number, environment=stream, group=None)
    assert stats.skipped == 0
    restore_start = next(r for r in records if isinstance(r, RestoreStart))
    assert restore_start.runtime_version == "java:11.v21"
    restore = next(r for r in records if isinstance(r, RestoreReport))
    assert restore.duration_ms == 511.25
    first = next(r for r in records if isinstance(r, Report))
    assert (
        first.request_id,
        first.duration_ms,
        first.billed_ms,
        first.restore_ms,
        first.billed_restore_ms,
        first.memory_mb,
        first.max_memory_mb,
    ) == ("b771fecc-1b53-4faf-922d-1d74357b1676", 306.34, 610.0, 511.25, 303.0, 3009, 155)
    starts = [r for r in records if isinstance(r, Start)]
    assert starts and all(r.version == "56" for r in starts)
    java = [r for r in records if isinstance(r, AppLine) and r.request_id]
    assert java and {r.level for r in java} <= {"DEBUG", "INFO", "WARN", "ERROR"}
    assert all(len(r.text) <= 400 for r in records if isinstance(r, AppLine))
