"""Findings from logs alone (never_polled both patterns, timeout, init_timeout, init_error,
runtime_exit, out_of_memory) and from lctrace's own output (stuck markers, post-response)."""

from __future__ import annotations

from lifecycle_trace import records as r
from lifecycle_trace import schema
from lifecycle_trace.analysis import analyze_records
from tests.fixtures.analysis.builders import (
    T0,
    init_report,
    init_start,
    invoke,
    runtime_exit,
    stream,
    timed_out,
)


def kinds(report) -> list[str]:
    return [f.kind for f in report.findings]


def doom_loop(env: str) -> list:
    """INIT_REPORT init timeout, then three invokes that re-run init and time out (30 s)."""
    out = [init_start(env, 0), init_report(env, 10_000, 10000.12, status="timeout")]
    for i in range(3):
        at = 10_050 + i * 30_300
        out += invoke(env, f"loop{i}", at, 30000.0, 30000, memory_mb=1024, status="timeout",
                      output=0)
    return out


def test_never_polled_after_init_timeout_is_one_finding_with_all_billed_ms() -> None:
    env = stream(1, function="worker")
    report = analyze_records(doom_loop(env))
    assert kinds(report) == ["never_polled"]  # not also 3 timeouts and an init_timeout
    finding = report.findings[0]
    assert finding.environment == env and finding.request_id == "loop0"
    assert finding.request_ids == ["loop0", "loop1", "loop2"]
    assert finding.billed_ms == 90_000  # 3 x 30000
    assert finding.severity == "critical"
    assert any("INIT_REPORT Init Duration: 10000.12 ms\tPhase: init\tStatus: timeout" in line
               for line in finding.evidence)
    assert report.summary["findings_by_kind"]["never_polled"] == 1
    # every invoke re-ran init: suppressed cold starts
    assert report.invocations["cold_type"].tolist() == ["suppressed"] * 3


def test_never_polled_silent_environment_pattern() -> None:
    # PHP-CLI without a runtime loop: every invocation times out, nothing printed after START.
    env = stream(2)
    records = [*invoke(env, "p1", 0, 3000.0, 3000, status="timeout", output=0),
               *invoke(env, "p2", 4000, 3000.0, 3000, status="timeout", output=0)]
    report = analyze_records(records)
    assert kinds(report) == ["never_polled"]
    assert "no function output" in report.findings[0].message


def test_one_quiet_timeout_after_a_completed_init_is_a_timeout_not_never_polled() -> None:
    # Real 2020 sample shape: Init Duration shows init finished, so the runtime did poll.
    env = stream(3)
    records = [*invoke(env, "t", 0, 3003.16, 3000, init_ms=127.02, output=0),
               timed_out(env, "t", 3010, 3.0)]
    report = analyze_records(records)
    assert kinds(report) == ["timeout"]
    finding = report.findings[0]
    assert finding.billed_ms == 3000 and "3.00 s timeout" in finding.message
    assert any("Task timed out after 3.00 seconds" in line for line in finding.evidence)
    assert any(line.startswith("fixture.log:") and "REPORT RequestId: t" in line
               for line in finding.evidence)


def test_timeout_with_output_and_status_field() -> None:
    env = stream(4)
    records = [*invoke(env, "w", 0, 20.0, 20, init_ms=100.0),
               *invoke(env, "t", 1000, 6000.0, 6000, status="timeout", output=2)]
    report = analyze_records(records)
    assert kinds(report) == ["timeout"] and report.findings[0].request_id == "t"
    assert report.summary["timeouts"] == 1


def test_init_timeout_followed_by_a_successful_suppressed_init() -> None:
    env = stream(5)
    records = [init_start(env, 0), init_report(env, 10_000, 10000.3, status="timeout"),
               *invoke(env, "ok", 10_050, 1500.0, 1500)]
    report = analyze_records(records)
    assert kinds(report) == ["init_timeout"]
    assert report.findings[0].request_id == "ok" and report.findings[0].billed_ms == 1500


def test_init_error_and_orphan_init_timeout() -> None:
    env, dead = stream(6), stream(7)
    records = [init_start(env, 0),
               init_report(env, 150, 150.79, status="error",
                           error_type="Runtime.UserCodeSyntaxError"),
               *invoke(env, "e", 200, 1338.34, 1339, status="error",
                       error_type="Runtime.UserCodeSyntaxError"),
               init_start(dead, 0), init_report(dead, 10_000, 10000.0, status="timeout")]
    report = analyze_records(records)
    by_kind = {f.kind: f for f in report.findings}
    assert set(by_kind) == {"init_error", "init_timeout"}
    assert "Runtime.UserCodeSyntaxError" in by_kind["init_error"].message
    assert by_kind["init_timeout"].request_id is None
    assert by_kind["init_timeout"].environment == dead
    envs = report.environments.set_index("environment")
    assert envs.loc[dead, "ended"] == "init_timeout" and envs.loc[dead, "invocations"] == 0


def test_runtime_exit_and_out_of_memory() -> None:
    env = stream(8)
    exit_text = "RequestId: x Error: Runtime exited with error: exit status 1\nRuntime.ExitError"
    oom_text = "RequestId: k Error: Runtime exited with error: signal: killed\nRuntime.ExitError"
    records = [
        *invoke(env, "x", 0, 96.14, 97, memory_mb=512, max_memory_mb=201, status="error",
                error_type="Runtime.ExitError"),
        runtime_exit(env, "x", 96, exit_text, exit_status=1, error_type="Runtime.ExitError"),
        *invoke(env, "k", 1000, 1533.08, 1534, memory_mb=512, max_memory_mb=512,
                status="error", error_type="Runtime.ExitError"),
        runtime_exit(env, "k", 2533, oom_text, signal="killed", error_type="Runtime.ExitError"),
    ]
    report = analyze_records(records)
    by_kind = {f.kind: f for f in report.findings}
    assert set(by_kind) == {"runtime_exit", "out_of_memory"}
    assert by_kind["runtime_exit"].request_id == "x" and by_kind["runtime_exit"].billed_ms == 97
    assert "exit status 1" in by_kind["runtime_exit"].message
    assert by_kind["out_of_memory"].request_id == "k"
    assert "512 MB of 512 MB" in by_kind["out_of_memory"].message
    assert report.summary["crashes"] == 2


def test_exit_line_without_request_id_belongs_to_the_open_invocation() -> None:
    env = stream(9)
    inv = invoke(env, "open", 0, 500.0, 500, max_memory_mb=128)
    killed = runtime_exit(env, None, 400, "Error: Runtime exited with error: signal: killed")
    report = analyze_records([*inv[:-2], killed, *inv[-2:]])
    assert [(f.kind, f.request_id) for f in report.findings] == [("out_of_memory", "open")]


def test_stuck_marker_joins_the_log_finding_and_adds_its_evidence() -> None:
    env = stream(10)
    marker = r.StuckMarker(source="stderr.log", line=9, environment=env, timestamp_ms=T0 + 8000,
                           kind=schema.STUCK_NEVER_POLLED, elapsed_ms=8000.0,
                           text='{"lctrace":"stuck","kind":"never_polled","elapsed_ms":8000}')
    report = analyze_records([*doom_loop(env), marker])
    assert kinds(report) == ["never_polled"]
    assert report.findings[0].evidence[-1].startswith("stderr.log:9:")


def test_no_response_marker_merges_with_the_timeout() -> None:
    env = stream(11)
    marker = r.StuckMarker(source="stderr.log", line=3, environment=env, timestamp_ms=T0 + 2500,
                           request_id="t", kind=schema.STUCK_NO_RESPONSE, elapsed_ms=2500.0)
    report = analyze_records([*invoke(env, "t", 0, 3000.0, 3000, status="timeout",
                                      init_ms=100.0), marker])
    assert [(f.kind, f.related_kinds) for f in report.findings] == [("no_response", ["timeout"])]


def test_post_response_overhead_from_wrapper_lines() -> None:
    env = stream(12)
    records = [*invoke(env, "slow", 0, 400.0, 400),
               r.WrapperInvocation(source="w", line=1, environment=env, timestamp_ms=T0,
                                   request_id="slow", dialect=r.LCTRACE, handler_ms=100.0,
                                   response_ms=2.0, post_response_ms=298.0, poll_wait_ms=5.0),
               *invoke(env, "fine", 1000, 100.0, 100),
               r.WrapperInvocation(source="w", line=2, environment=env, timestamp_ms=T0 + 1000,
                                   request_id="fine", dialect=r.LCTRACE, handler_ms=95.0,
                                   response_ms=1.0, post_response_ms=4.0)]
    report = analyze_records(records)
    assert kinds(report) == ["post_response_overhead"]
    finding = report.findings[0]
    assert finding.request_id == "slow" and finding.billed_ms == 298  # ceil(298.0)
    assert finding.cost_usd is not None and finding.cost_usd > 0
    # the worst invocation named by its key, then what billed it and what measured it
    assert finding.evidence[0] == "slow: post_response 298.0 ms of 400 ms billed (lctrace)"
    assert [line.split(": ", 1)[1].split(" ")[0] for line in finding.evidence[1:]] == [
        "REPORT", "lctrace"]
    rows = report.invocations.set_index("request_id")
    assert rows.loc["slow", ["handler_ms", "post_response_ms", "phase_source"]].tolist() == [
        100.0, 298.0, "lctrace"]
    assert rows.loc["slow", "sources"] == "lctrace+text"


def test_findings_are_ordered_by_severity() -> None:
    records = [*invoke(stream(13), "t", 0, 3000.0, 3000, status="timeout", init_ms=90.0),
               *doom_loop(stream(14)),
               *invoke(stream(15), "m", 0, 50.0, 50, max_memory_mb=128, status="error",
                       error_type="Runtime.OutOfMemory")]
    assert kinds(analyze_records(records)) == ["never_polled", "timeout", "out_of_memory"]
