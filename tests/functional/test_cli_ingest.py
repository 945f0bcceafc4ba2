"""`lctrace analyze` on the ingest side: unknown inputs exit 2 with one line, stdin and gzip
work, skipped records are reported, directories expand."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifecycle_trace.cli import main
from lifecycle_trace.cli.app import app
from lifecycle_trace.errors import InputFormatError
from lifecycle_trace.ingest import FORMATS

LCTRACE = Path(sys.executable).parent / "lctrace"


def _run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_unknown_format_exits_2_with_one_line(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: eggs, milk\n")
    code, out, err = _run_main(["analyze", str(notes), "--format", "json"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"lctrace: {notes}: not a Lambda log or trace format")
    assert "tried: " + ", ".join(FORMATS) in lines[0]


def test_cli_runner_surfaces_the_ingest_error(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("nothing to see\n")
    result = CliRunner().invoke(app, ["analyze", str(notes)])
    assert isinstance(result.exception, InputFormatError)
    assert str(notes) in str(result.exception)


def test_bad_input_format_name_exits_2(fixtures_dir, capsys):
    path = fixtures_dir / "containers" / "tail-short.txt"
    code, _, err = _run_main(["analyze", str(path), "--input-format", "cloudtrail"], capsys)
    assert code == 2 and "not a known format" in err and len(err.strip().splitlines()) == 1


def test_skipped_records_are_reported_and_the_rest_analysed(tmp_path, capsys):
    events = [
        {"logStreamName": "2024/05/09/[$LATEST]" + "a" * 32, "timestamp": 1715212800250,
         "message": "START RequestId: 11111111-2222-4333-8444-555555555555 Version: $LATEST\n"},
        {"logStreamName": "x", "timestamp": "soon", "message": "lost"},
        {"logStreamName": "2024/05/09/[$LATEST]" + "a" * 32, "timestamp": 1715212800300,
         "message": "REPORT RequestId: 11111111-2222-4333-8444-555555555555\tDuration: 48.20 "
                    "ms\tBilled Duration: 49 ms\tMemory Size: 256 MB\tMax Memory Used: 71 MB\t\n"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n{not json\n")
    with pytest.raises(SystemExit) as exited:
        main(["analyze", str(path), "--format", "json"])
    assert exited.value.code in (0, None)
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    (source,) = report["sources"]
    assert (source["format"], source["records"], source["skipped"]) == ("events-jsonl", 2, 2)
    assert report["summary"]["invocations"] == 1
    assert f"lctrace: skipped {path}:2: " in captured.err
    assert f"lctrace: skipped {path}:4: bad JSON line" in captured.err


def test_stdin_gzip_through_the_real_console_script(fixtures_dir):
    data = gzip.compress((fixtures_dir / "containers" / "tail-detailed-color.txt").read_bytes())
    done = subprocess.run(
        [str(LCTRACE), "analyze", "-", "--format", "json"],
        input=data, capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["sources"][0]["path"] == "<stdin>"
    assert report["sources"][0]["format"] == "tail"
    assert report["summary"]["invocations"] == 1 and report["summary"]["cold_starts"] == 1


def test_export_directory_is_read_recursively(tmp_path, fixtures_dir, capsys):
    obj = tmp_path / "task" / "2022" / "11" / "10" / "[$LATEST]26b6a45d574f442ea28438923cbf7bf7"
    obj.mkdir(parents=True)
    text = (fixtures_dir / "containers" / "s3-export-000000.txt").read_bytes()
    (obj / "000000.gz").write_bytes(gzip.compress(text))
    (tmp_path / "aws-logs-write-test").write_text("Permission Check Successful")
    with pytest.raises(SystemExit) as exited:
        main(["analyze", str(tmp_path), "--format", "json"])
    assert exited.value.code in (0, None)
    report = json.loads(capsys.readouterr().out)
    assert [s["format"] for s in report["sources"]] == ["s3-export"]
    assert report["summary"]["invocations"] == 1 and report["summary"]["environments"] == 1


def test_samples_directory_end_to_end(samples_dir, capsys):
    """All shared samples through `lctrace analyze DIR`: the cold ones are the ones whose logs
    show an init (or a SnapStart restore); SOURCES.md is listed as unknown, not fatal."""
    with pytest.raises(SystemExit) as exited:
        main(["analyze", str(samples_dir), "--format", "json", "--invocations"])
    assert exited.value.code in (0, None)
    report = json.loads(capsys.readouterr().out)
    formats = {Path(s["path"]).name: s["format"] for s in report["sources"]}
    assert formats["SOURCES.md"] == "unknown"
    assert formats["docwho2-squareup-ivr__sam-logs-snapstart-2023-07-05.txt"] == "sam-logs"
    cold = {i["request_id"]: i["cold"] for i in report["invocations"]}
    assert {rid for rid, is_cold in cold.items() if is_cold} == {
        "db275f87-a934-471a-8980-b63bf4dc1beb",  # coldstart: Init Duration 120.96
        "7c9567b5-107b-4a6c-8798-0157ac21db52",  # timeout: Init Duration 127.02
        "06e46194-f277-454e-88d3-1dd7e3860eaa",  # kinesis: Init Duration 190.62
        "b771fecc-1b53-4faf-922d-1d74357b1676",  # sam logs: SnapStart restore 511.25
    }
    assert len(cold) == 10
