"""After the merge only the records of invocations a finding may quote are kept for quoting
(`merge.quotable`). The report must be the one the uncut frames give: every sample and fixture
input is analysed both ways (`keep_events=True` keeps every record), and the raw facts that make
an invocation quotable are pinned one by one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lifecycle_trace.analysis.merge import merge_records, quotable
from lifecycle_trace.analysis.model import analyze_merged
from lifecycle_trace.ingest import read_sources

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLES = ROOT.parent / "shared" / "samples"
sys.path.insert(0, str(ROOT / "benchmarks"))
import generate_export  # noqa: E402

INPUTS = sorted(
    [ROOT / "examples" / "lambda-logs.json",
     *(p for p in SAMPLES.iterdir() if p.suffix in (".json", ".txt", ".ndjson")),
     *(p for sub in ("analysis", "platform", "traces", "containers")
       for p in (FIXTURES / sub).rglob("*") if p.is_file() and p.suffix not in (".md", ".py")
       and p.name != "app-lines.log")],  # (function output alone: no format of its own)
    key=str)


def _records(paths: list[Path]) -> list[object]:
    parsed = read_sources([str(p) for p in paths])
    return [record for source in parsed for record in source.records]


def _both(records: list[object]) -> tuple[dict, dict, dict]:
    """(report with the cut, report without it, rows kept per record type with the cut)"""
    cut = merge_records(list(records))
    kept = {kind: len(frame) for kind, frame in cut.frames.items()}
    with_cut = analyze_merged(cut).to_dict(invocations=True)
    whole = analyze_merged(merge_records(list(records), keep_events=True)).to_dict(
        invocations=True)
    return with_cut, whole, kept


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_report_is_the_uncut_report(path: Path) -> None:
    with_cut, whole, _ = _both(_records([path]))
    assert json.dumps(with_cut, sort_keys=True) == json.dumps(whole, sort_keys=True)


def test_generated_export_keeps_few_records_and_the_same_evidence(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    generate_export.write(export, 3000, 12)
    with_cut, whole, kept = _both(_records([export]))
    assert with_cut["findings"] and with_cut["findings"] == whole["findings"]
    assert json.dumps(with_cut, sort_keys=True) == json.dumps(whole, sort_keys=True)
    # most invocations simply succeed: their START and REPORT records are let go
    assert 0 < kept["Report"] < 3000 * 0.2 and 0 < kept["Start"] < 3000 * 0.2
    quoted = [line for f in with_cut["findings"] for line in f["evidence"]]
    assert any("START RequestId" in line for line in quoted)
    assert any("REPORT RequestId" in line for line in quoted)


PLAIN = {"duration_ms": 12.0, "report_status": np.nan, "memory_mb": 128.0,
         "max_memory_mb": 60.0, "start_env": "env-a", "init_status": np.nan}


@pytest.mark.parametrize("change", [
    {"duration_ms": np.nan}, {"report_status": "timeout"}, {"report_status": "error"},
    {"rd_status": "failure"}, {"wr_outcome": "crash"}, {"span_outcome": "timeout"},
    {"report_error_type": "Runtime.ExitError"}, {"rd_error_type": "Function.Crash"},
    {"exit_reason": "exit"}, {"exit_text": "signal: killed"}, {"exit_signal": "killed"},
    {"exit_status": 2}, {"timed_out_text": "Task timed out after 3.00 seconds"},
    {"timeout_s": 3.0}, {"stuck_kind": "never_polled"}, {"max_memory_mb": 128.0},
    {"wr_post_response_ms": 10.0}, {"span_post_response_ms": 25.0},
    {"span_alt_post_response_ms": 11.0}, {"rd_post_response_ms": 40.0},
    {"init_status": "timeout"}, {"init_rd_status": "error"}, {"restore_status": "failure"},
    {"init_error_type": "Runtime.Unknown"}, {"suppressed_init_ms": 2000.0},
    {"suppressed_status": "timeout"},
], ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()))
def test_each_sign_makes_an_invocation_quotable(change: dict) -> None:
    rows = [{**PLAIN, "start_env": f"env-{i}"} for i in range(3)]
    rows[1].update(change)
    assert quotable(pd.DataFrame(rows)).tolist() == [False, True, False]


def test_plain_successes_are_not_quotable() -> None:
    inv = pd.DataFrame([PLAIN, {**PLAIN, "report_status": "success", "rd_status": "success",
                                "wr_outcome": "success", "wr_post_response_ms": 9.9}])
    assert not quotable(inv).any()


def test_an_environment_whose_init_failed_is_quoted_whole() -> None:
    rows = [{**PLAIN, "start_env": "bad"}, {**PLAIN, "start_env": "bad", "init_status": "timeout"},
            {**PLAIN, "start_env": "good"}, {**PLAIN, "start_env": np.nan, "report_env": "bad"}]
    assert quotable(pd.DataFrame(rows)).tolist() == [True, True, False, True]
