"""Cold starts: evidence, kinds (on-demand, provisioned, SnapStart, suppressed), inference at
stream starts, and causes (first environment, scale-out, replacement, idle)."""

from __future__ import annotations

from lifecycle_trace import records as r
from lifecycle_trace.analysis import analyze_records
from tests.fixtures.analysis.builders import (
    T0,
    init_report,
    init_start,
    invoke,
    stream,
    timed_out,
)


def by_id(report):
    return report.invocations.set_index("request_id")


def test_init_duration_in_report_is_an_on_demand_cold_start() -> None:
    env = stream(1)
    rows = by_id(analyze_records([*invoke(env, "cold", 0, 9.14, 10, init_ms=190.62),
                                  *invoke(env, "warm", 1000, 0.97, 1)]))
    assert rows.loc["cold", ["cold", "cold_type", "cold_source"]].tolist() == [
        True, "on-demand", "report"]
    assert rows.loc["cold", "init_ms"] == 190.62
    assert not rows.loc["warm", "cold"]


def test_json_init_start_tells_provisioned_concurrency_apart() -> None:
    env = stream(2)
    records = [init_start(env, 0, initialization_type="provisioned-concurrency", dialect=r.JSON),
               init_report(env, 900, 880.5, status="success",
                           initialization_type="provisioned-concurrency", dialect=r.JSON),
               *invoke(env, "pc", 3_600_000, 12.0, 12, dialect=r.JSON)]
    row = by_id(analyze_records(records)).loc["pc"]
    assert row["cold"] and row["cold_type"] == "provisioned-concurrency"
    assert row["cold_source"] == "init_start" and row["init_ms"] == 880.5
    assert row["cold_cause"] == "provisioned"


def test_text_init_report_success_without_init_duration_is_provisioned() -> None:
    # The text format prints INIT_REPORT on success only for provisioned concurrency/SnapStart.
    env = stream(3)
    records = [init_start(env, 0), init_report(env, 500, 480.0, status=None),
               *invoke(env, "pc", 60_000, 20.0, 20)]
    assert by_id(analyze_records(records)).loc["pc", "cold_type"] == "provisioned-concurrency"


def test_snapstart_restore_is_its_own_kind() -> None:
    env = stream(4, version="56")
    records = [r.RestoreStart(source="s", line=1, environment=env, timestamp_ms=T0),
               r.RestoreReport(source="s", line=2, environment=env, timestamp_ms=T0 + 363,
                               duration_ms=511.25),
               *invoke(env, "snap", 366, 306.34, 610, restore_ms=511.25, billed_restore_ms=303)]
    row = by_id(analyze_records(records)).loc["snap"]
    assert (row["cold"], row["cold_type"]) == (True, "snapstart")


def test_suppressed_init_after_init_timeout() -> None:
    # INIT_REPORT Phase: init Status: timeout, then the invoke re-runs init (no Init Duration).
    env = stream(5)
    first = invoke(env, "s1", 10_050, 2000.0, 2000)
    records = [init_start(env, 0), init_report(env, 10_000, 10000.12, status="timeout"), *first]
    row = by_id(analyze_records(records)).loc["s1"]
    assert row["cold"] and row["cold_type"] == "suppressed"
    assert row["cold_source"] == "init_start"


def test_export_starting_mid_stream_does_not_call_the_first_invocation_cold() -> None:
    # Stream created 2026-01-01; the input starts at 10:00 that day with a plain START.
    env = stream(6, "2026/01/01")
    rows = by_id(analyze_records([*invoke(env, "mid", 36_000_000, 30.0, 30),
                                  *invoke(env, "next", 36_001_000, 30.0, 30)]))
    assert not rows["cold"].any()


def test_stream_start_inside_the_input_without_init_evidence_is_inferred_cold() -> None:
    # Input begins 2025-12-31T23:50; the stream is dated 2026/01/01, so it began in the input.
    early = stream(7, "2026/01/01")
    other = stream(8, "2025/12/31")
    records = [*invoke(other, "before", -600_000, 5.0, 5), *invoke(early, "first", 100, 25.0, 25),
               *invoke(early, "second", 2000, 25.0, 25)]
    rows = by_id(analyze_records(records))
    assert rows.loc["first", ["cold", "cold_source", "cold_type"]].tolist() == [
        True, "inferred", "unknown"]
    assert not rows.loc["second", "cold"]


def test_stream_opening_with_init_output_is_inferred_cold() -> None:
    env = stream(9)
    note = r.PlatformNote(source="s", line=1, environment=env, timestamp_ms=T0 + 10,
                          kind="EXTENSION", name="datadog-agent", state="Ready")
    row = by_id(analyze_records([note, *invoke(env, "a", 300, 5.0, 5)])).loc["a"]
    assert row["cold"] and row["cold_source"] == "inferred"


def test_causes_first_scale_out_replacement_idle() -> None:
    a, b, c, d = (stream(i, function="api") for i in (10, 11, 12, 13))
    records = [
        # a: first environment of the version (nothing earlier)
        init_start(a, 0), *invoke(a, "a1", 400, 100.0, 500, init_ms=400.0),
        # a busy from 1000 to 4000 ms; b starts init at 2000 ms -> scale_out
        *invoke(a, "a2", 1000, 3000.0, 3000),
        init_start(b, 2000), *invoke(b, "b1", 2300, 50.0, 350, init_ms=300.0),
        # b times out at 5000-8000 ms; c inits at 9000 -> replacement of b
        *invoke(b, "b2", 5000, 3000.0, 3000, status="timeout"), timed_out(b, "b2", 8000, 3.0),
        init_start(c, 9000), *invoke(c, "c1", 9300, 40.0, 340, init_ms=300.0),
        # silence for 20 minutes, then d inits -> idle (gap 1200 s >= 600 s)
        init_start(d, 9340 + 1_200_000), *invoke(d, "d1", 9640 + 1_200_000, 40.0, 340,
                                                  init_ms=300.0),
    ]
    rows = by_id(analyze_records(records))
    causes = rows.loc[rows["cold"], "cold_cause"].to_dict()
    assert causes == {"a1": "first_environment", "b1": "scale_out", "c1": "replacement",
                      "d1": "idle"}


def test_same_stream_reinit_after_a_crash_is_a_replacement() -> None:
    env = stream(14)
    records = [init_start(env, 0), *invoke(env, "x1", 300, 50.0, 350, init_ms=300.0),
               *invoke(env, "x2", 1000, 80.0, 80, status="error", error_type="Runtime.ExitError"),
               init_start(env, 1200), *invoke(env, "x3", 1500, 50.0, 350, init_ms=290.0)]
    rows = by_id(analyze_records(records))
    assert rows.loc["x2", "status"] == "crash"
    assert rows.loc["x3", "cold_cause"] == "replacement"


def test_idle_gap_is_configurable() -> None:
    a, b = stream(15, function="f"), stream(16, function="f")
    records = [*invoke(a, "a1", 0, 10.0, 110, init_ms=100.0),
               *invoke(b, "b1", 120_000, 10.0, 110, init_ms=100.0)]
    assert by_id(analyze_records(records, idle_gap_s=60)).loc["b1", "cold_cause"] == "idle"
    assert by_id(analyze_records(records, idle_gap_s=600)).loc["b1", "cold_cause"] == "unknown"


def test_a_crash_long_ago_does_not_make_a_replacement() -> None:
    a, b = stream(17, function="g"), stream(18, function="g")
    records = [*invoke(a, "a1", 0, 10.0, 110, init_ms=100.0),
               *invoke(a, "a2", 1000, 80.0, 80, status="error", error_type="Runtime.ExitError"),
               init_start(b, 3_600_000), *invoke(b, "b1", 3_600_300, 10.0, 310, init_ms=300.0)]
    rows = by_id(analyze_records(records, idle_gap_s=600))
    assert rows.loc["b1", "cold_cause"] == "idle"  # an hour later: not a replacement


def test_json_suppressed_init_before_start_is_still_suppressed() -> None:
    # JSON format: platform.initStart/initReport with phase "invoke" (init re-run in the invoke)
    env = stream(19)
    records = [init_report(env, 10_000, 10000.0, status="timeout", dialect=r.JSON),
               init_start(env, 10_010, phase="invoke", initialization_type="on-demand",
                          dialect=r.JSON),
               init_report(env, 12_000, 1980.0, phase="invoke", status="success",
                           dialect=r.JSON),
               *invoke(env, "after", 10_020, 2500.0, 2500, dialect=r.JSON)]
    row = by_id(analyze_records(records)).loc["after"]
    assert row["cold_type"] == "suppressed" and row["suppressed_init_ms"] == 1980.0
