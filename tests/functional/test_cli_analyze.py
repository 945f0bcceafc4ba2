"""`lctrace analyze` end to end through the CLI runner: the README's sample, every format, the
CI gate, filters and pricing options, and the real shared samples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from lifecycle_trace.cli import main
from lifecycle_trace.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "lambda-logs.json"
SCHEMA = json.loads((ROOT / "lifecycle_trace/report/schema/report-v1.schema.json").read_text())


def run(*args: str):
    return CliRunner().invoke(app, ["analyze", *args])


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """Through the console-script entry, where lctrace errors become exit codes."""
    with pytest.raises(SystemExit) as exited:
        main(["analyze", *args])
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def sample_json() -> dict:
    result = run(str(SAMPLE), "--format", "json", "--invocations")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_readme_first_command_shows_cold_starts_timeout_and_never_polled() -> None:
    result = run(str(SAMPLE))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cold starts  10 (40%)" in out
    for text in ("CRITICAL never_polled  report-worker", "HIGH     timeout  orders-api",
                 "out_of_memory  image-resizer", "runtime_exit  image-resizer",
                 "scale_out 1", "idle 1"):
        assert text in out, text
    assert any("INIT_REPORT" in line and "Phase: init" in line and "Status: timeout" in line
               for line in out.splitlines())


def test_sample_json_validates_and_holds_the_worked_numbers(sample_json) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(sample_json)
    summary = sample_json["summary"]
    assert summary["invocations"] == 25 and summary["environments"] == 8
    assert summary["timeouts"] == 4 and summary["crashes"] == 2
    assert summary["cold_starts_by_cause"] == {"first_environment": 4, "replacement": 4,
                                               "scale_out": 1, "idle": 1}
    rows = {row["request_id"]: row for row in sample_json["invocations"]}
    snap = next(r for r in rows.values() if r["cold_type"] == "snapstart")
    assert snap["billed_ms"] == 610 and snap["billing_rule"] == "duration+restore"
    # orders-api first cold start: ceil(183.52 + 412.37) = 596, init billed
    first = next(r for r in rows.values() if r["init_ms"] == 412.37)
    assert first["billed_ms"] == 596 and first["init_billed"] is True
    # image-resizer first cold start: billed ceil(812.30) = 813, init not billed
    resizer = next(r for r in rows.values() if r["init_ms"] == 287.44)
    assert resizer["billing_rule"] == "duration" and resizer["init_billed"] is False
    never = next(f for f in sample_json["findings"] if f["kind"] == "never_polled")
    assert never["billed_ms"] == 90000 and len(never["request_ids"]) == 3
    assert sample_json["pricing"]["region"] == "us-east-1"
    assert sample_json["pricing"]["region_source"] == "runtime ARN"


def test_fail_on_gates_ci(capsys) -> None:
    failed = run(str(SAMPLE), "--format", "json", "--fail-on", "never_polled,timeout")
    assert failed.exit_code == 1
    assert "--fail-on matched 2 finding(s): never_polled, timeout" in failed.stderr
    passed = run(str(SAMPLE), "--format", "json", "--fail-on", "stopped_polling")
    assert passed.exit_code == 0
    code, out, err = run_main(capsys, str(SAMPLE), "--fail-on", "slow")
    assert code == 2 and out == "" and err.startswith("lctrace: --fail-on slow: expected")


def test_function_filter_output_file_and_csv(tmp_path: Path) -> None:
    target = tmp_path / "inv.csv"
    result = run(str(SAMPLE), "--function", "ledger-java", "-f", "csv", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    lines = target.read_text().splitlines()
    assert len(lines) == 5 and all(",ledger-java," in line for line in lines[1:])


def test_markdown_and_pricing_overrides(capsys) -> None:
    md = run(str(SAMPLE), "-f", "markdown", "--arch", "arm64", "--region", "eu-west-1")
    assert md.exit_code == 0 and "arm64 eu-west-1 list prices" in md.stdout
    flat = run(str(SAMPLE), "-f", "json", "--price-per-gb-second", "0.00002")
    doc = json.loads(flat.stdout)
    expected = doc["summary"]["gb_seconds"] * 0.00002 + 25 * 0.2e-6
    assert doc["summary"]["cost_usd"] == pytest.approx(expected, rel=1e-6)
    code, _, err = run_main(capsys, str(SAMPLE), "--arch", "mips")
    assert code == 2 and "--arch 'mips'" in err


def test_sample_is_reproducible_from_its_build_script() -> None:
    spec = importlib.util.spec_from_file_location("build_sample", ROOT / "examples/build_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert json.dumps(module.build(), indent=1) + "\n" == SAMPLE.read_text()


def test_real_shared_samples(samples_dir: Path) -> None:
    timeout = run(str(samples_dir / "datadog-forwarder__cloudwatch_log_timeout.json"), "-f",
                  "json", "--invocations")
    doc = json.loads(timeout.stdout)
    row = doc["invocations"][0]
    assert (row["duration_ms"], row["billed_ms"], row["billing_rule"]) == (3003.16, 3000,
                                                                            "clamped")
    assert [f["kind"] for f in doc["findings"]] == ["timeout"]
    assert doc["findings"][0]["function"] == "storms-cloudwatch-event"
    snap = run(str(samples_dir / "docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"),
               "-f", "json", "--invocations")
    rows = json.loads(snap.stdout)["invocations"]
    assert [r["billed_ms"] for r in rows] == [610, 139, 51, 11, 9]
    assert [r["cold"] for r in rows] == [True, False, False, False, False]
    mid = run(str(samples_dir / "datadog-forwarder__cloudwatch_log_lambda_invocation.json"),
              "-f", "json", "--invocations")
    only = json.loads(mid.stdout)["invocations"]
    assert len(only) == 1 and only[0]["cold"] is False  # the batch starts mid-invocation


def test_json_log_format_cold_start_and_clamped_timeout(fixtures_dir: Path) -> None:
    # Reference §2: JSON-format cold start (report 11.642 ms, billed 12, initDurationMs 174.055;
    # ceil(11.642) = 12 so init was not billed) and a timeout clamped to 5000 ms.
    result = run(str(fixtures_dir / "analysis" / "json-format-coldstart.jsonl"), "-f", "json",
                 "--invocations")
    doc = json.loads(result.stdout)
    cold, slow = doc["invocations"]
    assert (cold["cold"], cold["cold_type"], cold["init_ms"], cold["billed_ms"]) == (
        True, "on-demand", 174.055, 12)
    assert (cold["handler_ms"], cold["post_response_ms"], cold["phase_source"]) == (
        2.215, 8.686, "telemetry")
    assert slow["function"] == cold["function"] == (
        "ColdStartPerfStack-Function76856677-qnwBXhjb6klt")
    assert (slow["status"], slow["billed_ms"], slow["cold"]) == ("timeout", 5000, False)
    assert [f["kind"] for f in doc["findings"]] == ["timeout"]
    assert doc["pricing"]["region"] == "eu-west-3"


def test_rie_output_init_is_evidence_not_billed(fixtures_dir: Path) -> None:
    result = run(str(fixtures_dir / "analysis" / "rie-stdout.log"), "-f", "json", "--invocations")
    first, second = json.loads(result.stdout)["invocations"]
    assert first["cold"] and first["init_ms"] is None  # RIE's 0.03 ms is meaningless
    assert first["billed_ms"] == 153 and first["billing_rule"] == "duration"
    assert not second["cold"] and second["billed_ms"] == 5
    assert json.loads(result.stdout)["findings"] == []  # Max Memory Used = Memory Size is fake
