"""attribute_app_lines: request ids for lines printed inside an invocation, per environment."""

from __future__ import annotations

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import attribute_app_lines, parse_event
from lifecycle_trace.records import RIE, TEXT, AppLine, Report, RuntimeExit, TimedOut

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"


def records_of(*events: tuple[str | None, str]) -> list:
    """(environment, message) pairs in stream order -> records."""
    stats = SourceStats("x", "test")
    out = []
    for number, (environment, message) in enumerate(events, 1):
        out += parse_event(LogEvent("x", number, environment, float(number), message), stats)
    assert stats.skipped == 0, stats.errors
    return out


def ids(records: list) -> list:
    return [
        (r.text, r.request_id) for r in records if isinstance(r, AppLine | TimedOut | RuntimeExit)
    ]


def test_lines_between_start_and_report_get_the_request_id() -> None:
    records = records_of(
        ("e1", "INIT_START Runtime Version: python:3.12.v1\tRuntime Version ARN: arn:x"),
        ("e1", "loading config"),
        ("e1", f"START RequestId: {A} Version: $LATEST"),
        ("e1", "handling"),
        ("e1", f"END RequestId: {A}"),
        ("e1", "extension flush after END"),
        (
            "e1",
            f"REPORT RequestId: {A}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 20 MB\t",
        ),
        ("e1", "between invocations"),
        ("e1", f"START RequestId: {B} Version: $LATEST"),
        ("e1", "Error: Runtime exited with error: signal: killed\nRuntime.ExitError"),
    )
    out = attribute_app_lines(records)
    assert ids(out) == [
        ("loading config", None),
        ("handling", A),
        ("extension flush after END", A),
        ("between invocations", None),
        ("Error: Runtime exited with error: signal: killed\nRuntime.ExitError", B),
    ]
    assert ids(records)[1] == ("handling", None)  # the input list is not changed
    assert [type(r) for r in out] == [type(r) for r in records]


def test_environments_are_independent() -> None:
    out = attribute_app_lines(
        records_of(
            ("e1", f"START RequestId: {A} Version: 1"),
            ("e2", "e2 init line"),
            ("e2", f"START RequestId: {B} Version: 1"),
            ("e1", "e1 line"),
            ("e2", "e2 line"),
            ("e2", f"2024-03-04T17:22:38.033Z {B} Task timed out after 3.00 seconds"),
        )
    )
    assert ids(out) == [
        ("e2 init line", None),
        ("e1 line", A),
        ("e2 line", B),
        ("Task timed out after 3.00 seconds", B),
    ]


def test_lines_keep_their_own_request_id() -> None:
    out = attribute_app_lines(
        records_of(
            ("e1", f"START RequestId: {A} Version: 1"),
            ("e1", f"2020-03-05T16:30:36.114Z\t{B}\tINFO\tsomeone else's id"),
        )
    )
    assert ids(out) == [("someone else's id", B)]


def test_init_inside_an_invoke_is_not_attributed_until_init_ends() -> None:
    """RIE (and a suppressed init) print START first, then init; init output stays None."""
    out = attribute_app_lines(
        records_of(
            ("e1", f"START RequestId: {A} Version: $LATEST"),
            ("e1", "[INFO] (rapid) INIT START(type: on-demand, phase: init)"),
            ("e1", "importing modules"),
            ("e1", "[INFO] (rapid) INIT REPORT(durationMs: 59.364000)"),
            ("e1", "handler output"),
        )
    )
    assert ids(out) == [("importing modules", None), ("handler output", A)]


def test_json_format_init_and_invoke() -> None:
    out = attribute_app_lines(
        records_of(
            ("e1", '{"time":"2024-05-20T16:29:44.833Z","type":"platform.initStart","record":{}}'),
            ("e1", "init output"),
            (
                "e1",
                '{"time":"2024-05-20T16:29:45.007Z","type":"platform.initReport",'
                '"record":{"metrics":{"durationMs":1.5}}}',
            ),
            ("e1", "still before any start"),
            (
                "e1",
                '{"time":"2024-05-20T16:29:45.008Z","type":"platform.start",'
                f'"record":{{"requestId":"{A}"}}}}',
            ),
            ("e1", "handler output"),
            (
                "e1",
                '{"time":"2024-05-20T16:29:45.022Z","type":"platform.report",'
                f'"record":{{"requestId":"{A}","metrics":{{"durationMs":2.0}}}}}}',
            ),
            ("e1", "after report"),
        )
    )
    assert ids(out) == [
        ("init output", None),
        ("still before any start", None),
        ("handler output", A),
        ("after report", None),
    ]


def test_split_xray_line_joins_its_report() -> None:
    out = attribute_app_lines(
        records_of(
            (
                "e1",
                f"REPORT RequestId: {A}\tDuration: 9.14 ms\tBilled Duration: 10 ms\t"
                "Memory Size: 128 MB\tMax Memory Used: 36 MB\t",
            ),
            (
                "e1",
                "XRAY TraceId: 1-636d1462-33ef10600061cad86dab71c8\tSegmentId: 7ccb4860675ee485\t"
                "Sampled: true\t",
            ),
        )
    )
    report = out[0]
    assert isinstance(report, Report)
    assert (report.trace_id, report.segment_id, report.sampled) == (
        "1-636d1462-33ef10600061cad86dab71c8",
        "7ccb4860675ee485",
        True,
    )
    assert len(out) == 2  # the note is kept (counted), not dropped


def test_xray_line_after_other_records_is_left_alone() -> None:
    out = attribute_app_lines(
        records_of(
            ("e1", f"REPORT RequestId: {A}\tDuration: 9.14 ms\t"),
            ("e1", "something else"),
            (
                "e1",
                "XRAY TraceId: 1-636d1462-33ef10600061cad86dab71c8\tSegmentId: 7c\tSampled: true",
            ),
        )
    )
    assert out[0].trace_id is None


def test_rie_environment_marks_its_warm_reports() -> None:
    warm = (
        f"REPORT RequestId: {B}\tDuration: 1.02 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 3008 MB\tMax Memory Used: 3008 MB\t"
    )
    out = attribute_app_lines(
        records_of(
            (
                "rie",
                f"REPORT RequestId: {A}\tInit Duration: 0.03 ms\tDuration: 402.67 ms\t"
                "Billed Duration: 403 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t",
            ),
            ("rie", warm),
            ("real", warm),
        )
    )
    assert [r.dialect for r in out] == [RIE, RIE, TEXT]


def test_rie_init_before_start_in_a_merged_stream_stays_init() -> None:
    """Merged RIE stdout+stderr can order `INIT START` before `START`; init output is still init."""
    out = attribute_app_lines(
        records_of(
            ("e1", "[INFO] (rapid) INIT START(type: on-demand, phase: init)"),
            ("e1", f"START RequestId: {A} Version: $LATEST"),
            ("e1", "init: hello from the runtime"),
            ("e1", "[INFO] (rapid) INIT RTDONE(status: success)"),
            ("e1", "handler output"),
        )
    )
    assert ids(out) == [("init: hello from the runtime", None), ("handler output", A)]


def test_text_init_ends_at_start() -> None:
    out = attribute_app_lines(
        records_of(
            ("e1", "INIT_START Runtime Version: nodejs:18.v5\tRuntime Version ARN: arn:x"),
            ("e1", f"START RequestId: {A} Version: $LATEST"),
            ("e1", "handler output"),
        )
    )
    assert ids(out) == [("handler output", A)]


def test_instance_id_names_the_environment_of_a_streamless_source() -> None:
    """A `LogResult` / `tail --format short` file: only initStart names the stream."""
    stream = "2026/10/08/tenner-notifier[$LATEST]22be53a8cfde4e68b844f8ec293b2543"
    out = attribute_app_lines(
        records_of(
            (
                None,
                '{"time":"2026-10-08T07:30:27.001Z","type":"platform.initStart","record":'
                f'{{"phase":"init","instanceId":"{stream}"}}}}',
            ),
            (
                None,
                f'{{"time":"2026-10-08T07:30:28.000Z","type":"platform.start","record":'
                f'{{"requestId":"{A}"}}}}',
            ),
            (None, "handler output"),
        )
    )
    assert [r.environment for r in out] == [stream] * 3
    assert ids(out) == [("handler output", A)]


def test_streamless_source_naming_two_environments_is_left_alone() -> None:
    out = attribute_app_lines(
        records_of(
            (
                None,
                '{"time":"2026-10-08T07:30:27.001Z","type":"platform.initStart",'
                '"record":{"instanceId":"env-1"}}',
            ),
            (
                None,
                '{"time":"2026-10-08T07:30:27.001Z","type":"platform.initStart",'
                '"record":{"instanceId":"env-2"}}',
            ),
            (None, "output"),
        )
    )
    assert [r.environment for r in out] == ["env-1", "env-2", None]
