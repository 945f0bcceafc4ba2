"""Runtime Interface Emulator output: real captures of the RIE binary (tests/fixtures/platform/rie,
see its README) -> records with dialect RIE."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import attribute_app_lines, parse_event
from lifecycle_trace.records import (
    RIE,
    TEXT,
    AppLine,
    End,
    InitReport,
    InitRuntimeDone,
    InitStart,
    PlatformNote,
    Report,
    RuntimeDone,
    RuntimeExit,
    Start,
    TimedOut,
)

COLD_ID = "79934db4-401d-454f-a6b7-337818e74d64"
WARM_ID = "1dce8827-1407-4355-9a17-06b2c2bfe9fa"
TIMEOUT_ID = "f2630aef-b427-4351-809c-a1c87ec4c0c5"
CRASH_ID = "f11ec1b6-71d8-4ac4-aea7-5771ce5c2ef6"


def read(fixtures_dir: Path, name: str, stats: SourceStats | None = None) -> list:
    path = fixtures_dir / "platform" / "rie" / name
    stats = stats if stats is not None else SourceStats(name, "rie")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        records += parse_event(LogEvent(name, number, None, None, line), stats)
    assert stats.skipped == 0, stats.errors
    return records


def test_cold_then_warm_stdout(fixtures_dir: Path) -> None:
    records = attribute_app_lines(read(fixtures_dir, "cold.stdout.log"))
    assert [type(r) for r in records] == [
        Start,
        AppLine,
        AppLine,
        AppLine,
        End,
        Report,
        Start,
        AppLine,
        AppLine,
        End,
        Report,
    ]
    cold, warm = records[5], records[10]
    assert (
        cold.request_id,
        cold.init_ms,
        cold.duration_ms,
        cold.billed_ms,
        cold.memory_mb,
        cold.max_memory_mb,
        cold.dialect,
    ) == (COLD_ID, 0.03, 402.67, 403.0, 3008, 3008, RIE)
    # The warm REPORT has the real layout; the environment's cold REPORT gives it away.
    assert (warm.request_id, warm.init_ms, warm.duration_ms, warm.billed_ms) == (
        WARM_ID,
        None,
        1.02,
        2.0,
    )
    assert warm.dialect == RIE
    assert read(fixtures_dir, "cold.stdout.log")[10].dialect == TEXT  # before the post-pass
    # RIE starts init after START: the runtime's output is inside the first invoke.
    assert [r.request_id for r in records if isinstance(r, AppLine)] == [COLD_ID] * 3 + [
        WARM_ID
    ] * 2
    assert records[1].text == "init: starting"
    assert all(r.timestamp_ms is None and r.environment is None for r in records)


def test_cold_stderr_lifecycle_lines(fixtures_dir: Path) -> None:
    records = attribute_app_lines(read(fixtures_dir, "cold.stderr.log"))
    assert all(r.dialect == RIE for r in records)
    init_start = next(r for r in records if isinstance(r, InitStart))
    assert (init_start.initialization_type, init_start.phase) == ("on-demand", "init")
    assert next(r for r in records if isinstance(r, InitRuntimeDone)).status == "success"
    assert next(r for r in records if isinstance(r, InitReport)).duration_ms == 401.286
    done = [r for r in records if isinstance(r, RuntimeDone)]
    assert [(r.request_id, r.status, r.duration_ms, r.produced_bytes) for r in done] == [
        (COLD_ID, "success", 1.205, None),
        (WARM_ID, "success", 0.897, None),
    ]
    starts = [r for r in records if isinstance(r, PlatformNote) and r.kind == "INVOKE START"]
    assert [r.request_id for r in starts] == [COLD_ID, WARM_ID]
    assert not any(isinstance(r, RuntimeExit | TimedOut) for r in records)


def test_timeout(fixtures_dir: Path) -> None:
    stdout = read(fixtures_dir, "timeout.stdout.log")
    report = next(r for r in stdout if isinstance(r, Report))
    assert (
        report.request_id,
        report.duration_ms,
        report.billed_ms,
        report.init_ms,
        report.status,
        report.dialect,
    ) == (TIMEOUT_ID, 1000.0, 1000.0, 0.02, None, RIE)
    stderr = attribute_app_lines(read(fixtures_dir, "timeout.stderr.log"))
    (timed_out,) = [r for r in stderr if isinstance(r, TimedOut)]
    assert (timed_out.request_id, timed_out.dialect, timed_out.timeout_s) == (TIMEOUT_ID, RIE, None)
    assert "Reset initiated: Timeout" in timed_out.text
    # `Invoke failed InvokeID=... error=errResetReceived` is the reset, not a runtime exit.
    assert not any(isinstance(r, RuntimeExit) for r in stderr)


def test_crash(fixtures_dir: Path) -> None:
    stdout = read(fixtures_dir, "crash.stdout.log")
    assert [type(r) for r in stdout] == [Start, AppLine, AppLine, AppLine]  # no END, no REPORT
    stderr = read(fixtures_dir, "crash.stderr.log")
    (crash,) = [r for r in stderr if isinstance(r, RuntimeExit)]
    assert (crash.request_id, crash.exit_status, crash.signal, crash.error_type, crash.dialect) == (
        CRASH_ID,
        7,
        None,
        "Runtime.ExitError",
        RIE,
    )
    assert crash.reason == "Runtime exited with error: exit status 7"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "[INFO] (rapid) INIT START(type: on-demand, phase: invoke)",
            (InitStart, {"phase": "invoke", "initialization_type": "on-demand"}),
        ),
        ("[INFO] (rapid) INIT RTDONE(status: error)", (InitRuntimeDone, {"status": "error"})),
        (
            "[INFO] (rapid) INIT REPORT(durationMs: 2056.532000)",
            (InitReport, {"duration_ms": 2056.532}),
        ),
        (
            "[INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, "
            "duration: 2001.375000ms)",
            (RuntimeDone, {"duration_ms": 2001.375, "status": "success"}),
        ),
        (
            "[ERROR] (rapid) Init failed error=Runtime exited without providing a reason InvokeID=",
            (
                RuntimeExit,
                {
                    "request_id": None,
                    "reason": "Runtime exited without providing a reason",
                    "exit_status": None,
                },
            ),
        ),
        (
            "[ERROR] (rapid) Invoke failed InvokeID=ae88045d-1fa8-4f41-9824-fb24f45b2950 "
            "error=Runtime exited with error: signal: killed",
            (
                RuntimeExit,
                {"request_id": "ae88045d-1fa8-4f41-9824-fb24f45b2950", "signal": "killed"},
            ),
        ),
        (
            "[ERROR] (rapid) Init failed InvokeID= error=fork/exec <dir>/nonexistent: no such file",
            (
                RuntimeExit,
                {"reason": "fork/exec <dir>/nonexistent: no such file", "error_type": None},
            ),
        ),
        (
            "[WARNING] (rapid) Process runtime-1 exited: exit status 0",
            (PlatformNote, {"kind": "RIE"}),
        ),
    ],
)
def test_rie_stderr_lines_from_the_reference(line: str, expected: tuple) -> None:
    cls, wanted = expected
    for prefix in ("", "26 Nov 2026 14:54:05,069 "):
        stats = SourceStats("x", "rie")
        (record,) = parse_event(LogEvent("x", 1, None, None, prefix + line), stats)
        assert isinstance(record, cls) and record.dialect == RIE
        assert {name: getattr(record, name) for name in wanted} == wanted


def test_malformed_rie_init_report_is_counted() -> None:
    stats = SourceStats("x", "rie")
    assert (
        parse_event(
            LogEvent("x", 3, None, None, "[INFO] (rapid) INIT REPORT(durationMs: ?)"), stats
        )
        == []
    )
    assert stats.errors == ["x:3: RIE INIT REPORT: expected 'durationMs: <number>'"]
