"""Every fixture lctrace can read gives a JSON report that validates against lctrace.report/v1
(no NaN leaking out, no missing evidence), whatever the dialect or container."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import lifecycle_trace
from lifecycle_trace.errors import InputFormatError
from lifecycle_trace.report import SCHEMA_FILE

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
INPUTS = sorted(
    p for folder in ("containers", "platform", "traces", "analysis") for p in
    (ROOT / folder).iterdir() if p.is_file() and p.suffix not in (".md", ".py")
)
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_report_of_every_fixture_validates(path: Path) -> None:
    try:
        report = lifecycle_trace.analyze([str(path)])
    except InputFormatError as error:  # a parser fixture that is no input format by itself
        assert str(path) in str(error)  # fails cleanly, naming the file
        return
    doc = json.loads(report.to_json(invocations=True))  # allow_nan=False: NaN would raise
    VALIDATOR.validate(doc)
    assert doc["summary"]["invocations"] == len(doc["invocations"]) == len(
        {row["invocation"] for row in doc["invocations"]})
