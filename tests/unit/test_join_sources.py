"""Issue 5 joins: X-Ray with REPORT lines, the wrapper's spans with X-Ray's and with RIE's stdout,
the wrapper's `lambda.init` span, one watchdog firing from several sinks, exact idle from
`poll_wait`, and logs -> `--format otlp` -> analysed again."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from lifecycle_trace import records as r
from lifecycle_trace import schema
from lifecycle_trace.analysis import analyze, analyze_records
from lifecycle_trace.report.otlp import invocations_to_otlp_json
from tests.fixtures.analysis.builders import T0, invoke, stream

COLD_ID = "516a738f-f972-4d5a-9be9-eb1f3e3e0667"  # in xray-cold-start.json
CW_STREAM = "2023/04/12/[$LATEST]a1b2c3d4e5f60718293a4b5c6d7e8f90"


def cloudwatch_export(tmp_path: Path, init_duration: str | None) -> Path:
    """`aws logs filter-log-events` output for the cold request of xray-cold-start.json."""
    init = f"\tInit Duration: {init_duration} ms" if init_duration else ""
    messages = [
        (1681339656611, "INIT_START Runtime Version: nodejs:18.v5\tRuntime Version ARN: "
                        "arn:aws:lambda:us-east-1::runtime:abc"),
        (1681339657392, f"START RequestId: {COLD_ID} Version: $LATEST"),
        (1681339657483, f"END RequestId: {COLD_ID}"),
        (1681339657484, f"REPORT RequestId: {COLD_ID}\tDuration: 91.15 ms\tBilled Duration: "
                        f"92 ms\tMemory Size: 1024 MB\tMax Memory Used: 80 MB{init}\t"),
    ]
    events = [{"logStreamName": CW_STREAM, "timestamp": ts, "message": text + "\n",
               "ingestionTime": ts + 2000, "eventId": str(n)}
              for n, (ts, text) in enumerate(messages)]
    path = tmp_path / "logs.json"
    path.write_text(json.dumps({"events": events, "searchedLogStreams": []}))
    return path


def test_xray_joined_with_report_lines(tmp_path: Path, fixtures_dir: Path) -> None:
    logs = cloudwatch_export(tmp_path, "780.11")
    report = analyze([str(logs), str(fixtures_dir / "traces" / "xray-cold-start.json")])
    (row,) = report.invocations.to_dict("records")
    assert row["request_id"] == COLD_ID and row["environment"] == CW_STREAM
    assert row["function"] == "todo-list-app-dev-postTask"
    # billed from REPORT; phases from X-Ray's Invocation / Overhead subsegments
    assert (row["billed_ms"], row["billed_source"], row["duration_ms"]) == (92, "report", 91.15)
    assert (row["handler_ms"], row["post_response_ms"], row["phase_source"]) == (
        90.159, 0.419, "xray")
    assert row["sources"] == "text+xray"
    assert row["trace_id"] == "1-64373507-1fa10d7929b63ad548165c89"
    # REPORT's Init Duration and X-Ray's Initialization (780.113 ms) agree: nothing to note
    assert (row["cold"], row["init_ms"], row["cold_source"]) == (True, 780.11, "report")
    assert row["disagreements"] is None
    assert report.summary["source_disagreements"] == 0


def test_disagreeing_sources_say_which_value_was_used(tmp_path: Path,
                                                      fixtures_dir: Path) -> None:
    logs = cloudwatch_export(tmp_path, "700.00")
    report = analyze([str(logs), str(fixtures_dir / "traces" / "xray-cold-start.json")])
    (row,) = report.invocations.to_dict("records")
    assert row["init_ms"] == 700.0
    assert row["disagreements"] == "init_ms: report 700.0 vs xray 780.1 (used report)"
    assert report.summary["source_disagreements"] == 1


def test_init_from_xray_when_the_logs_lack_it(tmp_path: Path, fixtures_dir: Path) -> None:
    logs = cloudwatch_export(tmp_path, None)
    report = analyze([str(logs), str(fixtures_dir / "traces" / "xray-cold-start.json")])
    (row,) = report.invocations.to_dict("records")
    assert row["init_ms"] == pytest.approx(780.113, abs=1e-3)
    assert row["billed_ms"] == 92 and row["billed_source"] == "report"


def span(env: str | None, rid: str | None, phase: str, at: float, ms: float,
         dialect: str = r.LCTRACE, **kw: object) -> r.PhaseSpan:
    return r.PhaseSpan(source=f"{dialect}.jsonl", line=1, environment=env,
                       timestamp_ms=T0 + at, request_id=rid, dialect=dialect, phase=phase,
                       duration_ms=ms, **kw)


def test_wrapper_spans_beat_xray_and_the_difference_is_noted() -> None:
    env = stream(1)
    records = [*invoke(env, "req", 0, 130.0, 131),
               span(None, "req", schema.SPAN_HANDLER, 1, 123.6, dialect=r.XRAY),
               span(None, "req", schema.SPAN_POST_RESPONSE, 125, 1.8, dialect=r.XRAY),
               span(env, "req", schema.SPAN_HANDLER, 1, 80.0),
               span(env, "req", schema.SPAN_POST_RESPONSE, 82, 1.0)]
    report = analyze_records(records)
    (row,) = report.invocations.to_dict("records")
    assert (row["handler_ms"], row["post_response_ms"], row["phase_source"]) == (
        80.0, 1.0, "lctrace")
    # 1.0 vs 1.8 ms is the same fact measured at two points; 80 vs 123.6 is not
    assert row["disagreements"] == "handler_ms: lctrace 80.0 vs xray 123.6 (used lctrace)"
    assert row["sources"] == "lctrace+text+xray"


def test_report_duration_against_the_wrapper_invocation_span() -> None:
    env = stream(8)
    records = [*invoke(env, "agree", 0, 130.0, 131), *invoke(env, "differ", 1000, 130.0, 131),
               span(env, "agree", schema.SPAN_INVOCATION, 0, 129.2),
               span(env, "differ", schema.SPAN_INVOCATION, 1000, 80.0)]
    rows = analyze_records(records).invocations.set_index("request_id")
    assert pd.isna(rows.loc["agree", "disagreements"])
    assert rows.loc["differ", "disagreements"] == (
        "duration_ms: text 130.0 vs lctrace 80.0 (used text)")
    assert rows.loc["differ", "duration_ms"] == 130.0


def test_wrapper_init_span_belongs_to_the_next_invocation_of_its_environment() -> None:
    env = stream(2)
    attrs = {schema.ATTR_FAAS_VERSION: "7"}
    records = [span(env, None, schema.SPAN_INIT, 0, 250.0, function="fn"),
               span(env, "a", schema.SPAN_POLL_WAIT, 250, 2.0, function="fn"),
               span(env, "a", schema.SPAN_INVOCATION, 252, 40.0, function="fn", cold=True,
                    attributes=attrs),
               span(env, "a", schema.SPAN_HANDLER, 252, 39.0, function="fn"),
               span(env, "b", schema.SPAN_POLL_WAIT, 292, 1000.0, function="fn"),
               span(env, "b", schema.SPAN_INVOCATION, 1292, 20.0, function="fn",
                    attributes=attrs),
               span(env, "c", schema.SPAN_POLL_WAIT, 1312, 3000.0, function="fn"),
               span(env, "c", schema.SPAN_INVOCATION, 4312, 20.0, function="fn",
                    attributes=attrs)]
    report = analyze_records(records)
    rows = report.invocations.set_index("request_id")
    assert rows.loc["a", ["function", "version", "cold", "init_ms", "duration_ms"]].tolist() == [
        "fn", "7", True, 250.0, 40.0]
    assert rows.loc["a", "start"] == pd.Timestamp(T0 + 252, unit="ms", tz="UTC")
    assert rows.loc[["b", "c"], "cold"].tolist() == [False, False]
    assert pd.isna(rows.loc["b", "init_ms"])
    # exact idle: the GET /next waits between invocations (not the first, after init)
    (envrow,) = report.environments.to_dict("records")
    assert (envrow["idle_s"], envrow["idle_max_s"], envrow["idle_source"]) == (
        4.0, 3.0, "poll_wait")
    assert envrow["init_ms"] == 250.0


def test_idle_from_log_gaps_when_no_trace_measured_it() -> None:
    env = stream(3)
    report = analyze_records([*invoke(env, "a", 0, 100.0, 100), *invoke(env, "b", 600, 50.0, 50)])
    (envrow,) = report.environments.to_dict("records")
    assert (envrow["idle_s"], envrow["idle_source"]) == (0.5, "log_gaps")


def marker(env: str | None, source: str, dialect: str = r.LCTRACE) -> r.StuckMarker:
    return r.StuckMarker(source=source, line=2, environment=env, timestamp_ms=T0 + 300,
                         request_id=None, dialect=dialect, kind=schema.STUCK_NEVER_POLLED,
                         elapsed_ms=300.4, text=f"marker from {source}")


def test_one_watchdog_firing_from_three_sinks_is_one_finding() -> None:
    env = stream(4)
    records = [*invoke(env, "hung", 0, 2000.0, 2000, output=0),
               marker(env, "stderr.log"), marker(env, "spans.jsonl"),
               marker(None, "xray.json", dialect=r.XRAY)]  # X-Ray names no environment
    report = analyze_records(records)
    (finding,) = report.findings
    assert finding.kind == "never_polled" and finding.environment == env
    assert finding.evidence == ["stderr.log:2: marker from stderr.log [lctrace]",
                                "spans.jsonl:2: marker from spans.jsonl [lctrace]",
                                "xray.json:2: marker from xray.json [xray]"]
    assert finding.request_ids == ["hung"] and finding.billed_ms == 2000


def test_rie_stdout_joins_the_spans_environment_by_request_id() -> None:
    rie = "rie"
    env = stream(5)
    records = [*invoke(rie, "x", 0, 300.0, 300, dialect=r.RIE),
               span(env, "x", schema.SPAN_INVOCATION, 50, 250.0, function="fn"),
               span(env, "x", schema.SPAN_HANDLER, 50, 249.0, function="fn")]
    report = analyze_records(records)
    (row,) = report.invocations.to_dict("records")
    assert row["environment"] == env and row["function"] == "fn"
    assert row["billed_ms"] == 300 and row["handler_ms"] == 249.0
    assert report.environments["environment"].tolist() == [env]


def test_rie_stdout_stays_its_own_environment_when_nothing_links_it() -> None:
    records = [*invoke("rie", "x", 0, 300.0, 300, dialect=r.RIE),
               span(stream(6), "other", schema.SPAN_INVOCATION, 50, 250.0)]
    report = analyze_records(records)
    assert sorted(report.invocations["environment"]) == sorted(["rie", stream(6)])


@pytest.mark.parametrize("name", ["xray-cold-start.json", "xray-warm-and-error.json",
                                  "xray-snapstart.jsonl", "otlp-collector-file.jsonl"])
def test_our_otlp_output_analyses_again_to_the_same_rows(tmp_path: Path, fixtures_dir: Path,
                                                         name: str) -> None:
    first = analyze([str(fixtures_dir / "traces" / name)])
    spans = tmp_path / "spans.jsonl"
    with spans.open("w") as out:
        assert invocations_to_otlp_json(first.invocations, first.environments, out) > 0
    again = analyze([str(spans)])
    columns = ["request_id", "cold", "status", "handler_ms", "post_response_ms", "billed_ms"]
    timed = first.invocations.loc[first.invocations["start"].notna()]  # others have no place
    assert len(timed) >= len(first.invocations) - 1
    a = timed[columns].sort_values("request_id").reset_index(drop=True)
    b = again.invocations[columns].sort_values("request_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, atol=1e-3)
    assert (again.invocations.sort_values("request_id")["duration_ms"].to_numpy()
            == pytest.approx(timed.sort_values("request_id")["duration_ms"].to_numpy(),
                             abs=1e-3))


def test_logs_alone_become_spans_with_every_phase(tmp_path: Path) -> None:
    env = stream(7)
    lines = [r.WrapperInvocation(source="cw.log", line=9, environment=env, timestamp_ms=T0,
                                 request_id="w", dialect=r.LCTRACE, poll_wait_ms=3.0,
                                 handler_ms=60.0, response_ms=1.0, post_response_ms=30.0)]
    report = analyze_records([*invoke(env, "w", 0, 91.0, 91, init_ms=120.0), *lines])
    out = io.StringIO()
    invocations_to_otlp_json(report.invocations, report.environments, out)
    names = sorted(s["name"] for line in out.getvalue().splitlines()
                   for rs in json.loads(line)["resourceSpans"]
                   for ss in rs["scopeSpans"] for s in ss["spans"])
    assert names == sorted([schema.SPAN_INVOCATION, schema.SPAN_INIT, schema.SPAN_POLL_WAIT,
                            schema.SPAN_HANDLER, schema.SPAN_RESPONSE,
                            schema.SPAN_POST_RESPONSE])
