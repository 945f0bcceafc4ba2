"""Property tests: damaged inputs (truncated, bytes flipped, inserted, deleted, spliced; raw,
UTF-16 and gzipped) never make `read_source` raise anything but InputFormatError, and the
accounting in SourceStats stays consistent."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_trace import records
from lifecycle_trace.errors import InputFormatError
from lifecycle_trace.ingest import FORMATS, read_source
from lifecycle_trace.ingest.base import MAX_ERRORS_KEPT

ROOT = Path(__file__).resolve().parents[2]
_INPUTS = sorted(
    [p for p in (ROOT.parent / "shared" / "samples").iterdir() if p.name != "SOURCES.md"]
    + [p for p in (ROOT / "tests" / "fixtures" / "containers").iterdir() if p.suffix != ".md"]
)
CONTAINERS = [p.read_bytes() for p in _INPUTS]
OWN_FORMATS = [name for name in FORMATS if name not in ("otlp-json", "xray")]


@st.composite
def damaged(draw) -> bytes:
    data = draw(st.sampled_from(CONTAINERS))
    if draw(st.integers(0, 5)) == 0:  # Windows PowerShell 5 redirection
        data = data.decode("utf-8", "replace").encode("utf-16")
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice"]))
        if action == "truncate":
            data = data[:at]
        elif action == "flip" and size:
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif action == "insert":
            junk = draw(st.sampled_from([b"{", b"}", b"]", b'"', b"\\", b"\n", b",", b"\x00",
                                         b"\xff\xfe", b"\t", b"\x1b[0m", b"1e999",
                                         b"1" + b"0" * 400, b"9" * 5000]))
            data = data[:at] + junk + data[at:]
        elif action == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        elif action == "splice":
            data = data[:at] + data[draw(st.integers(0, max(size - 1, 0))) :]
    return data


def _check(data: bytes, input_format: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.bin"
        path.write_bytes(data)
        try:
            parsed = read_source(path, input_format=input_format)
        except InputFormatError as error:
            assert "\n" not in str(error)
            return
    stats = parsed.stats
    assert stats.records == len(parsed.records)
    assert stats.skipped >= 0 and stats.control >= 0
    assert len(stats.errors) == min(stats.skipped, MAX_ERRORS_KEPT)
    assert all(error.startswith(f"{path}:") for error in stats.errors)
    for record in parsed.records:
        assert isinstance(record, records.Record)
        assert record.source == str(path) and record.line >= 0


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_inputs_detected_automatically(data):
    _check(data, None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(), st.sampled_from(OWN_FORMATS))
def test_damaged_inputs_forced_into_any_format(data, input_format):
    _check(data, input_format)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    _check(data, None)
