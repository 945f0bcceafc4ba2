"""The ingest fast path gives exactly what the general path gives: same frames, same stats, same
report. Compared on every shared sample, the example export and generated exports (text and
JSON log formats, pages, malformed events, output lines without a request id), with the
scanner's slices and the worker ranges made tiny so every boundary case is crossed."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pandas as pd
import pytest

from lifecycle_trace.analysis import model
from lifecycle_trace.analysis.frames import (
    CODE_COLUMNS,
    REQUEST_CODE,
    STREAM_CODE,
    PrebuiltColumns,
    records_to_frames,
)
from lifecycle_trace.ingest import fastpath, fastscan, read_source

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import generate_export  # noqa: E402


def _general_frames(path: Path) -> tuple[dict[str, pd.DataFrame], object]:
    parsed = read_source(path)
    return records_to_frames(parsed.records), parsed.stats


def _check_request_codes(frames: dict[str, pd.DataFrame]) -> None:
    """The fast path's request-id and stream codes (extra columns the merge groups on) name one
    id (stream) each, across every record type; dropped once checked, the frames must equal the
    general path's."""
    for code, named in ((REQUEST_CODE, "request_id"), (STREAM_CODE, "environment")):
        pairs = [frame[[code, named]] for frame in frames.values() if code in frame]
        if not pairs:
            continue
        pairs = pd.concat(pairs, ignore_index=True).drop_duplicates()
        assert pairs[code].is_unique and pairs[named].is_unique
        assert pairs[named].notna().all()
    for name in frames:
        frames[name] = frames[name].drop(columns=list(CODE_COLUMNS), errors="ignore")


def _assert_same(path: Path, monkeypatch: pytest.MonkeyPatch, *, workers: int = 2) -> bool:
    """Fast and general agree on `path`; True when the fast path took it."""
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    found = fastpath.read_fast(str(path), None, workers=workers)
    monkeypatch.setenv("LCTRACE_FASTPATH", "0")
    general = model.analyze([str(path)]).to_json(invocations=True)
    if found is not None:
        stats, columns, count = found
        frames, general_stats = _general_frames(path)
        assert stats == general_stats
        assert count == general_stats.records
        fast_frames = records_to_frames(PrebuiltColumns(columns))
        assert list(fast_frames) == list(frames)
        _check_request_codes(fast_frames)
        for name, frame in frames.items():
            pd.testing.assert_frame_equal(fast_frames[name], frame, check_exact=True, obj=name)
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    assert model.analyze([str(path)]).to_json(invocations=True) == general
    return found is not None


@pytest.fixture
def tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few events and forked workers even for small files."""
    monkeypatch.setattr(fastscan, "SLICE_BYTES", 2048)
    monkeypatch.setattr(fastpath, "MIN_PARALLEL_BYTES", 0)


def _export(tmp_path: Path, name: str = "export.json", **options: int) -> Path:
    path = tmp_path / name
    generate_export.write(path, options.get("invocations", 120), options.get("streams", 6),
                          options.get("page_size", 0))
    return path


def test_every_shared_sample_and_the_example(samples_dir: Path, monkeypatch, tiny_slices) -> None:
    taken = []
    for path in [*sorted(samples_dir.iterdir()), ROOT / "examples" / "lambda-logs.json"]:
        if path.suffix in (".json", ".ndjson", ".txt", ".log", ".csv"):
            try:
                if _assert_same(path, monkeypatch):
                    taken.append(path.name)
            except Exception as error:  # name the file that differs
                raise AssertionError(f"{path.name}: {error}") from error
    assert "lambda-logs.json" in taken  # the example is a filter-log-events export


def test_generated_export_one_document(tmp_path: Path, monkeypatch, tiny_slices) -> None:
    assert _assert_same(_export(tmp_path), monkeypatch)


def test_generated_export_in_pages(tmp_path: Path, monkeypatch, tiny_slices) -> None:
    assert _assert_same(_export(tmp_path, page_size=37), monkeypatch)


def test_single_process_and_default_slices(tmp_path: Path, monkeypatch) -> None:
    assert _assert_same(_export(tmp_path, invocations=60), monkeypatch, workers=1)


def _events(path: Path) -> list[dict]:
    return json.loads(path.read_text())["events"]


def _write_cli(path: Path, events: list[dict], tail: str = "") -> Path:
    """The AWS CLI's layout (indent 4), optionally with raw text spliced in for bad events."""
    body = json.dumps({"events": events, "searchedLogStreams": [
        {"logStreamName": "s", "searchedCompletely": True}]}, indent=4)
    path.write_text(body + tail)
    return path


def test_cli_layout_with_other_shapes(tmp_path: Path, monkeypatch, tiny_slices) -> None:
    """Messages of every other shape go through the general parser in file order: lines
    without a request id (attributed), init output, unknown platform lines, bad REPORTs
    (counted skips with their line numbers), escapes, non-ASCII, empty messages."""
    events = _events(_export(tmp_path, invocations=80))
    rng = random.Random(3)
    extra = [
        "plain output without an id\n", "  \n", "", "REPORT RequestId: broken",
        "START RequestId: x y", "ünïcödé output\twith tab", '{"level":"info","msg":"x"}',
        "EXTENSION\tName: ext\tState: Ready\tEvents: [INVOKE]",
        "2026-01-01T00:00:00.000Z\tundefined\tINFO\tinit line",
        "[ERROR] Runtime.ImportModuleError: nope", 'quote " and backslash \\ inside',
        "REPORT RequestId: 0b9f1d9c-0000-4000-8000-000000000001\tDuration: 1.5 ms\t"
        "Billed Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n"
        "XRAY TraceId: 1-abc\tSegmentId: def\tSampled: true",
        "REPORT RequestId: 0b9f1d9c-0000-4000-8000-000000000002\tDuration: abc ms\t",
        "Task timed out after 3.00 seconds",
    ]
    for message in extra * 3:
        at = rng.randrange(len(events))
        events.insert(at, {**events[at], "message": message})
    assert _assert_same(_write_cli(tmp_path / "cli.json", events), monkeypatch)


def test_layouts_mixed_within_one_export(tmp_path: Path, monkeypatch, tiny_slices) -> None:
    """Events one key per line (line numbers known without counting) next to events on one
    line, blank lines and CRLF separators: the same lines and records as the general path."""
    events = _events(_export(tmp_path, invocations=80))
    texts = []
    for index, event in enumerate(events):
        if index % 37 == 5:
            texts.append(json.dumps(event))  # one line
        elif index % 53 == 7:
            texts.append(json.dumps(event, indent=2).replace("\n", "\n\n", 1))  # blank line
        else:
            texts.append(json.dumps(event, indent=4))
    body = "".join(text + (",\r\n" if index % 41 == 3 else ",\n")
                   for index, text in enumerate(texts))
    path = tmp_path / "mixed.json"
    path.write_text('{"events": [\n' + body.rstrip(",\r\n") + "\n]}\n")
    assert _assert_same(path, monkeypatch)


@pytest.mark.parametrize("change", ["stream_backslash", "stream_quote", "event_id_letters",
                                    "event_id_escape"])
def test_odd_stream_names_and_event_ids(tmp_path: Path, monkeypatch, tiny_slices,
                                        change: str) -> None:
    """Stream names with escapes and event ids that are not digits (the one-key-per-line
    scan reads both loosely, then checks them): the general path's report either way."""
    events = _events(_export(tmp_path, invocations=40))
    for event in events[7::11]:
        if change == "stream_backslash":
            event["logStreamName"] += "\\x"
        elif change == "stream_quote":
            event["logStreamName"] += '"x'
        elif change == "event_id_letters":
            event["eventId"] = "12ab"
        else:
            event["eventId"] = "12\u0033"
    _assert_same(_write_cli(tmp_path / "odd.json", events), monkeypatch)


def test_malformed_events_fall_back_with_the_same_report(tmp_path: Path, monkeypatch,
                                                         tiny_slices) -> None:
    """A broken event (no message, string timestamp, truncated document): the scanner gives
    up and the general path reads the file, so skips and messages are the general path's."""
    events = _events(_export(tmp_path, invocations=40))
    events.insert(5, {"logStreamName": "s", "timestamp": 1})
    events.insert(9, {**events[9], "timestamp": "yesterday"})
    path = _write_cli(tmp_path / "bad.json", events, tail='\n{"events": [{"message": ')
    assert not _assert_same(path, monkeypatch)
    report = model.analyze([str(path)]).to_dict()
    assert report["sources"][0]["skipped"] >= 3


def test_json_lines_and_text_exports_take_the_general_path(tmp_path: Path, monkeypatch) -> None:
    events = _events(_export(tmp_path, invocations=30))
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert not _assert_same(jsonl, monkeypatch)


def test_switch_off(tmp_path: Path, monkeypatch) -> None:
    path = _export(tmp_path, invocations=10)
    monkeypatch.setenv("LCTRACE_FASTPATH", "0")
    assert fastpath.read_fast(str(path), None) is None
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    assert fastpath.read_fast(str(path), None) is not None


def _both_ways(paths: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LCTRACE_FASTPATH", "0")
    general = model.analyze(paths).to_json(invocations=True)
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    assert model._fast_path(paths, None) is not None  # the fast path took them
    fast = model.analyze(paths).to_json(invocations=True)
    assert fast == general
    return fast


def test_several_inputs_and_a_directory(tmp_path: Path, samples_dir: Path, monkeypatch,
                                        tiny_slices) -> None:
    """Exports next to inputs of other formats, named together or found in a directory (with
    a README that is no log): one running record order over all of them, as the general path
    numbers them; each source keeps its own stats."""
    folder = tmp_path / "exports"
    folder.mkdir()
    first = _export(folder, "a.json", invocations=50, streams=3)
    second = _export(folder, "b.json", invocations=40, streams=4, page_size=25)
    events = _events(first)[:30]
    (folder / "c.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (folder / "README.md").write_text("not a log\n")
    sample = ROOT / "examples" / "lambda-logs.json"
    report = json.loads(_both_ways([str(folder)], monkeypatch))
    assert [s["format"] for s in report["sources"]] == [
        "unknown", "filter-log-events", "filter-log-events", "events-jsonl"]
    _both_ways([str(second), str(sample), str(samples_dir / "otel-contrib__valid_cloudwatch_"
                                                              "log_control.json"), str(first)],
               monkeypatch)


def test_no_export_among_the_inputs_is_read_once_the_general_way(tmp_path: Path,
                                                                   monkeypatch) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in _events(_export(tmp_path))[:20]))
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    assert model._fast_path([str(jsonl)], None) is None
