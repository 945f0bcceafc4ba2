"""Renderers: JSON against the lctrace.report/v1 schema, CSV, Markdown, the rich table."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import pytest

from lifecycle_trace.analysis import analyze_records
from lifecycle_trace.analysis.tables import INVOCATION_COLUMNS
from lifecycle_trace.errors import ConfigError
from lifecycle_trace.report import SCHEMA_FILE, render
from tests.fixtures.analysis.builders import init_report, init_start, invoke, stream

SCHEMA_PATH = SCHEMA_FILE


@pytest.fixture(scope="module")
def report():
    env, stuck = stream(1, function="api"), stream(2, function="worker")
    records = [init_start(env, 0), *invoke(env, "cold", 300, 100.25, 401, init_ms=300.0),
               *invoke(env, "slow", 1000, 3000.0, 3000, status="timeout"),
               init_start(stuck, 0), init_report(stuck, 10_000, 10000.0, status="timeout"),
               *invoke(stuck, "loop", 10_050, 30000.0, 30000, status="timeout", output=0)]
    return analyze_records(records)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_json_report_validates_and_numbers_are_numbers(report, validator) -> None:
    doc = json.loads(render(report, "json", invocations=True))
    validator.validate(doc)
    assert doc["schema"] == "lctrace.report/v1"
    assert doc["summary"]["invocations"] == 3 and doc["summary"]["billed_ms"] == 33401
    assert [f["kind"] for f in doc["findings"]] == ["never_polled", "timeout"]
    rows = {row["request_id"]: row for row in doc["invocations"]}
    assert rows["cold"]["start"] == "2026-01-01T00:00:00.300Z"
    assert rows["cold"]["init_ms"] == 300.0 and rows["slow"]["init_ms"] is None
    assert rows["slow"]["handler_ms"] is None


def test_json_without_invocations_flag_has_no_rows(report) -> None:
    assert "invocations" not in json.loads(render(report, "json"))


def test_schema_rejects_a_report_that_breaks_the_contract(report, validator) -> None:
    doc = json.loads(render(report, "json"))
    doc["summary"]["billed_ms"] = "33401"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


def test_csv_has_one_row_per_invocation(report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert len(rows) == 3 and list(rows[0]) == INVOCATION_COLUMNS
    assert {row["request_id"]: row["billed_ms"] for row in rows}["cold"] == "401.0"


def test_markdown_and_table_show_summary_functions_and_evidence(report) -> None:
    markdown = render(report, "markdown", invocations=True)
    assert "## Findings (2)" in markdown and "### critical: never_polled — worker" in markdown
    assert "INIT_REPORT Init Duration: 10000.00 ms  Phase: init  Status: timeout" in markdown
    assert "| api | $LATEST | 2 | 1 (50%) |" in markdown
    table = render(report, "table", width=140)
    assert "never_polled" in table
    assert "cold starts  2 (67%)  [on-demand 1, suppressed 1]" in table
    assert "free tier not applied" in table
    assert "REPORT RequestId: slow" in table


def test_unknown_format_is_a_config_error(report) -> None:
    with pytest.raises(ConfigError, match="--format"):
        render(report, "yaml")


def test_json_carries_per_environment_totals(report, validator) -> None:
    doc = json.loads(render(report, "json"))
    validator.validate(doc)
    envs = {e["function"]: e for e in doc["environments"]}
    # api: 401 + 3000 billed; worker: one 30000 ms timeout, its init timed out
    assert envs["api"]["billed_ms"] == 3401 and envs["api"]["ended"] == "timeout"
    assert envs["worker"]["invocations"] == 1 and envs["worker"]["billed_ms"] == 30000
    assert envs["api"]["first_seen"] == "2026-01-01T00:00:00.000Z"


def test_text_reports_cap_findings_per_kind_but_json_keeps_all() -> None:
    env = stream(3, function="busy")
    records = [rec for i in range(12) for rec in
               invoke(env, f"t{i:02d}", i * 4000, 3000.0, 3000, status="timeout", init_ms=90.0)]
    many = analyze_records(records)
    assert len(many.findings) == 12
    table = render(many, "table", width=140)
    assert table.count("HIGH     timeout") == 10
    assert "Not shown: 2 more timeout" in table
    assert "Not shown: 2 more timeout" in render(many, "markdown")
    assert len(json.loads(render(many, "json"))["findings"]) == 12
