"""Merging: one row per request id across sources, values keep their source, the public API."""

from __future__ import annotations

import lifecycle_trace
from lifecycle_trace import records as r
from lifecycle_trace.analysis import analyze_records
from lifecycle_trace.analysis.tables import ENVIRONMENT_COLUMNS, INVOCATION_COLUMNS
from tests.fixtures.analysis.builders import T0, init_start, invoke, stream


def test_one_row_per_request_id_when_text_and_telemetry_describe_it() -> None:
    env = stream(1)
    text = invoke(env, "req", 100, 11.64, 12, init_ms=174.06)
    telemetry = [
        r.Start(source="tel.json", line=1, environment=env, timestamp_ms=T0 + 100,
                request_id="req", dialect=r.TELEMETRY, version="$LATEST"),
        r.RuntimeDone(source="tel.json", line=2, environment=env, timestamp_ms=T0 + 111,
                      request_id="req", dialect=r.TELEMETRY, status="success",
                      duration_ms=11.185, response_latency_ms=2.215, response_duration_ms=0.056,
                      runtime_overhead_ms=8.686),
        r.Report(source="tel.json", line=3, environment=env, timestamp_ms=T0 + 112,
                 request_id="req", dialect=r.TELEMETRY, duration_ms=11.642, billed_ms=12,
                 memory_mb=128, max_memory_mb=67, init_ms=174.055, status="success"),
    ]
    report = analyze_records([init_start(env, 0), *text, *telemetry])
    assert len(report.invocations) == 1
    row = report.invocations.iloc[0]
    assert row["sources"] == "telemetry+text"
    assert row["billed_ms"] == 12 and row["cold"]
    # Telemetry spans fill the phase columns: responseLatency/responseDuration/runtimeOverhead
    assert [row["handler_ms"], row["response_ms"], row["post_response_ms"]] == [
        2.215, 0.056, 8.686]
    assert row["phase_source"] == "telemetry"
    assert report.summary["invocations"] == 1 and report.summary["environments"] == 1


def test_phase_columns_exist_and_are_null_without_traces() -> None:
    report = analyze_records(invoke(stream(2), "a", 0, 5.0, 5))
    assert list(report.invocations.columns) == INVOCATION_COLUMNS
    assert list(report.environments.columns) == ENVIRONMENT_COLUMNS
    row = report.invocations.iloc[0]
    assert all(row[c] != row[c] for c in ("poll_wait_ms", "handler_ms", "response_ms",
                                          "post_response_ms"))  # NaN


def test_phase_spans_join_by_request_id() -> None:
    env = stream(3)
    spans = [r.PhaseSpan(source="otlp.jsonl", line=1, environment=env, timestamp_ms=T0,
                         request_id="a", dialect=r.LCTRACE, phase=phase, duration_ms=ms)
             for phase, ms in (("lambda.poll_wait", 3.0), ("lambda.handler", 40.0),
                               ("lambda.response", 1.5), ("lambda.post_response", 2.5))]
    row = analyze_records([*invoke(env, "a", 0, 45.0, 45), *spans]).invocations.iloc[0]
    assert [row["poll_wait_ms"], row["handler_ms"], row["response_ms"],
            row["post_response_ms"]] == [3.0, 40.0, 1.5, 2.5]
    assert row["phase_source"] == "lctrace"


def test_environment_table_counts_gaps_and_endings() -> None:
    env = stream(4, function="fn")
    records = [init_start(env, 0), *invoke(env, "a", 300, 100.0, 400, init_ms=300.0),
               *invoke(env, "b", 2400, 100.0, 100),  # gap 2400 - 400 = 2.0 s
               *invoke(env, "c", 7500, 3000.0, 3000, status="timeout")]  # gap 7500-2500 = 5 s
    envs = analyze_records(records).environments.set_index("environment")
    row = envs.loc[env]
    assert row["function"] == "fn" and row["invocations"] == 3 and row["cold_starts"] == 1
    assert row["idle_gap_max_s"] == 5.0 and row["idle_gap_total_s"] == 7.0
    assert row["ended"] == "timeout" and row["billed_ms"] == 3500
    assert row["init_ms"] == 300.0 and row["cold_start_cause"] == "first_environment"


def test_function_filter_and_per_function_summaries() -> None:
    a, b = stream(5, function="one"), stream(6, function="two")
    records = [*invoke(a, "a", 0, 10.0, 110, init_ms=100.0),
               *invoke(b, "b", 0, 3000.0, 3000, status="timeout", init_ms=80.0)]
    full = analyze_records(records)
    assert [(f["function"], f["invocations"], f["timeouts"]) for f in full.functions] == [
        ("one", 1, 0), ("two", 1, 1)]
    only = analyze_records(records, function="one")
    assert only.invocations["function"].unique().tolist() == ["one"]
    assert only.summary["timeouts"] == 0 and only.findings == []


def test_public_api_all_is_true() -> None:
    for name in lifecycle_trace.__all__:
        assert getattr(lifecycle_trace, name) is not None
    assert lifecycle_trace.Report.__name__ == "Report"
    assert set(lifecycle_trace.__all__) == {"Report", "__version__", "analyze"}


def test_empty_input_gives_an_empty_report() -> None:
    report = analyze_records([])
    assert report.summary["invocations"] == 0 and report.summary["cold_start_rate"] is None
    assert report.summary["duration_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}
    assert report.invocations.empty and report.findings == []


def test_function_name_given_by_one_record_holds_for_the_environment() -> None:
    env = "no-stream-name"
    records = [init_start(env, 0, function="named"), *invoke(env, "a", 300, 5.0, 5,
                                                              init_ms=250.0),
               *invoke(env, "b", 1000, 5.0, 5)]
    assert analyze_records(records).invocations["function"].tolist() == ["named", "named"]


def test_async_retries_with_the_same_request_id_are_separate_billed_runs() -> None:
    # Lambda retries an async event with the same request id; each run is billed.
    a, b = stream(20, function="async"), stream(21, function="async")
    records = [*invoke(a, "evt", 0, 3000.0, 3000, status="timeout", init_ms=200.0),
               *invoke(a, "evt", 63_000, 3000.0, 3000, status="timeout"),   # retry, same stream
               *invoke(b, "evt", 190_000, 40.0, 40, init_ms=210.0),           # retry elsewhere
               r.PhaseSpan(source="xray.json", line=1, environment=None, timestamp_ms=T0,
                           request_id="evt", dialect=r.XRAY, phase="lambda.handler",
                           duration_ms=2990.0)]
    report = analyze_records(records)
    inv = report.invocations
    assert inv["request_id"].tolist() == ["evt"] * 3
    assert sorted(inv["invocation"]) == ["evt", "evt#2", "evt#3"]
    assert report.summary["invocations"] == 3 and report.summary["billed_ms"] == 6040
    assert [f.kind for f in report.findings] == ["timeout", "timeout"]
    # the streamless X-Ray span joins the first run only
    assert inv["handler_ms"].notna().sum() == 1
    assert inv.loc[inv["invocation"] == "evt", "handler_ms"].item() == 2990.0


def test_importing_the_package_does_not_load_pandas() -> None:
    # `lctrace wrap` runs on the Lambda cold-start path and imports the package.
    import subprocess
    import sys

    code = "import sys, lifecycle_trace; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
