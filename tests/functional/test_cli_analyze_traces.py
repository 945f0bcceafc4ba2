"""lctrace's own output read back from CloudWatch: the wrapper's per-invocation line fills the
phase columns, stuck markers join the log findings, post-response work becomes a finding."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lifecycle_trace.cli.app import app

STREAM = "2026/02/01/[$LATEST]5f0c3a9e8d7b6a5f4e3d2c1b0a998877"
STUCK_STREAM = "2026/02/01/[$LATEST]0a1b2c3d4e5f60718293a4b5c6d7e8f9"
T0 = 1_769_904_000_000  # 2026-02-01T00:00:00Z


def export(tmp_path: Path) -> Path:
    rid, stuck = "5d1e6a0b-8c1f-4f57-9d7e-2b3c4a5e6f70", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    wrapper = {"lctrace": "invocation", "request_id": rid, "instance": STREAM, "cold": True,
               "init_ms": 120.5, "poll_wait_ms": 0.4, "handler_ms": 60.0, "response_ms": 1.2,
               "post_response_ms": 180.0, "outcome": "success", "trigger": "http",
               "start_ms": T0 + 130}
    marker = {"lctrace": "stuck", "kind": "never_polled", "request_id": None,
              "elapsed_ms": 8000, "timestamp_ms": T0 + 8000}
    events = [
        (STREAM, 0, "INIT_START Runtime Version: provided:al2023.v85\tRuntime Version ARN: "
                    "arn:aws:lambda:us-east-1::runtime:d4e0a6a9\n"),
        (STREAM, 130, f"START RequestId: {rid} Version: $LATEST\n"),
        (STREAM, 372, json.dumps(wrapper) + "\n"),
        (STREAM, 372, f"END RequestId: {rid}\n"),
        (STREAM, 372, f"REPORT RequestId: {rid}\tDuration: 241.60 ms\tBilled Duration: 363 ms"
                      "\tMemory Size: 512 MB\tMax Memory Used: 40 MB\t"
                      "Init Duration: 120.50 ms\t\n"),
        (STUCK_STREAM, 0, "INIT_START Runtime Version: provided:al2023.v85\tRuntime Version "
                          "ARN: arn:aws:lambda:us-east-1::runtime:d4e0a6a9\n"),
        (STUCK_STREAM, 8000, json.dumps(marker) + "\n"),
        (STUCK_STREAM, 10000, "INIT_REPORT Init Duration: 10000.05 ms\tPhase: init\t"
                              "Status: timeout\n"),
        (STUCK_STREAM, 10050, f"START RequestId: {stuck} Version: $LATEST\n"),
        (STUCK_STREAM, 13050, f"END RequestId: {stuck}\n"),
        (STUCK_STREAM, 13050, f"REPORT RequestId: {stuck}\tDuration: 3000.00 ms\tBilled "
                              "Duration: 3000 ms\tMemory Size: 512 MB\tMax Memory Used: 20 MB\t"
                              "Status: timeout\n"),
    ]
    doc = {"events": [{"logStreamName": s, "timestamp": T0 + at, "message": m,
                       "ingestionTime": T0 + at + 500, "eventId": f"{T0 + at:013d}{i:043d}"}
                      for i, (s, at, m) in enumerate(events)]}
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps(doc))
    return path


def test_wrapper_lines_fill_phases_and_markers_merge(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(export(tmp_path)), "-f", "json",
                                      "--invocations"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = {r["environment"]: r for r in doc["invocations"]}
    wrapped = rows[STREAM]
    assert (wrapped["poll_wait_ms"], wrapped["handler_ms"], wrapped["response_ms"],
            wrapped["post_response_ms"]) == (0.4, 60.0, 1.2, 180.0)
    assert wrapped["phase_source"] == "lctrace" and wrapped["sources"] == "lctrace+text"
    # custom runtime: ceil(241.60 + 120.50) = 363 billed, init inside the window
    assert wrapped["billing_rule"] == "duration+init" and wrapped["init_billed"] is True
    by_kind = {f["kind"]: f for f in doc["findings"]}
    assert set(by_kind) == {"never_polled", "post_response_overhead"}
    never = by_kind["never_polled"]
    assert never["environment"] == STUCK_STREAM and never["billed_ms"] == 3000
    assert any('"lctrace": "stuck"' in line for line in never["evidence"])
    assert any("INIT_REPORT" in line for line in never["evidence"])
    post = by_kind["post_response_overhead"]
    # 180 ms of post-response work in 363 ms billed (> 25 %): ceil(180) = 180 billed ms
    assert post["billed_ms"] == 180 and post["request_id"] == wrapped["request_id"]


def traces(fixtures_dir: Path, name: str) -> dict:
    result = CliRunner().invoke(app, ["analyze", str(fixtures_dir / "traces" / name), "-f",
                                      "json", "--invocations"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_xray_alone_gives_function_version_restore_and_phases(fixtures_dir: Path) -> None:
    doc = traces(fixtures_dir, "xray-snapstart.jsonl")
    first, warm = doc["invocations"]
    assert (first["function"], first["version"]) == ("ivr-snapstart-demo", "56")
    assert (first["cold"], first["cold_type"], first["restore_ms"]) == (True, "snapstart", 511.25)
    # no REPORT: Duration is the Invocation span (306.12 ms) and billed is computed, ceil = 307
    assert (first["duration_ms"], first["billed_ms"], first["billed_source"]) == (
        306.12, 307, "computed")
    assert (first["handler_ms"], first["post_response_ms"], first["phase_source"]) == (
        305.41, 0.6, "xray")
    assert first["environment"] is None  # X-Ray does not name the execution environment
    assert warm["cold"] is False and warm["status"] == "success"


def test_lctrace_spans_alone_make_findings_with_evidence(fixtures_dir: Path) -> None:
    doc = traces(fixtures_dir, "otlp-collector-file.jsonl")
    by_kind = {f["kind"]: f for f in doc["findings"]}
    assert set(by_kind) == {"no_response", "timeout", "post_response_overhead"}
    assert "span lambda.invocation 3000.000 ms outcome timeout" in by_kind["timeout"]["evidence"][0]
    # faas.max_memory 536870912 bytes = 512 MB
    assert {r["memory_mb"] for r in doc["invocations"]} == {512}


def test_logs_and_xray_join_into_one_row_per_request(fixtures_dir: Path, samples_dir: Path) -> None:
    logs = samples_dir / "docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"
    result = CliRunner().invoke(app, ["analyze", str(logs), str(fixtures_dir / "traces" /
                                                                "xray-snapstart.jsonl"),
                                      "-f", "json", "--invocations"])
    doc = json.loads(result.stdout)
    rows = doc["invocations"]
    assert len(rows) == 5  # the two traced requests are not counted twice
    assert doc["summary"]["environments"] == 1  # the trace file is no environment of its own
    first = rows[0]
    assert first["sources"] == "text+xray" and first["billed_ms"] == 610  # the REPORT wins
    assert first["handler_ms"] == 305.41
    assert first["environment"] == "2023/07/05/[56]374cd7798d2a4e36a494a23d658b9741"
    # the function name X-Ray gives holds for the whole stream, traced or not
    assert {r["function"] for r in rows} == {"ivr-snapstart-demo"}
