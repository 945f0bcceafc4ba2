"""`lctrace analyze` gives byte-identical output with the ingest fast path on and off
(`LCTRACE_FASTPATH=0`), for every output format that carries numbers, on a generated export in
both log formats read by two forked workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifecycle_trace.cli.app import app
from lifecycle_trace.ingest import fastpath, fastscan

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import generate_export  # noqa: E402


@pytest.mark.parametrize("output_format", ["json", "csv", "markdown"])
def test_same_output_with_the_fast_path_off(tmp_path: Path, monkeypatch, output_format) -> None:
    export = tmp_path / "export.json"
    generate_export.write(export, 150, 7, page_size=64)
    monkeypatch.setattr(fastscan, "SLICE_BYTES", 4096)
    monkeypatch.setattr(fastpath, "MIN_PARALLEL_BYTES", 0)
    outputs = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("LCTRACE_FASTPATH", switch)
        target = tmp_path / f"report-{switch}.{output_format}"
        extra = ["--invocations"] if output_format in ("json", "markdown") else []
        result = CliRunner().invoke(app, ["analyze", str(export), "-f", output_format,
                                          "-o", str(target), *extra])
        assert result.exit_code == 0, result.output
        outputs[switch] = target.read_bytes()
    assert outputs["1"] == outputs["0"]
    assert b"timeout" in outputs["1"]  # the export's timeouts made it into the report
