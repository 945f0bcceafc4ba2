"""`--format json` is written as it is made (to stdout or `-o`): the same bytes as `render`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lifecycle_trace import analyze
from lifecycle_trace.cli.app import app
from lifecycle_trace.report import render

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "lambda-logs.json"


def test_streamed_json_is_the_rendered_json(tmp_path: Path) -> None:
    report = analyze([str(SAMPLE)])
    for extra in ([], ["--invocations"]):
        expected = render(report, "json", invocations=bool(extra))
        printed = CliRunner().invoke(app, ["analyze", str(SAMPLE), "-f", "json", *extra])
        assert printed.exit_code == 0, printed.output
        assert printed.stdout == expected
        target = tmp_path / "report.json"
        written = CliRunner().invoke(app, ["analyze", str(SAMPLE), "-f", "json", "-o",
                                           str(target), *extra])
        assert written.exit_code == 0, written.output
        assert target.read_text(encoding="utf-8") == expected
