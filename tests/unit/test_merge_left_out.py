"""Function output and END lines that name their request are left out of the ordered events
when that changes no owner (`merge._counted_with_ids`, `_left_out_owners`: a retried id's
records go to the run before them in their stream; `_with_left_out_ends`). The fast path
(request and stream codes from the reader) takes that shortcut; the general path (records, no
codes) never does. Small exports built to sit on each edge are analysed both ways and must
give the same report, and the shortcut must be taken -- or declined -- where the rules say."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lifecycle_trace.analysis import merge, model

STREAM_A = "2026/01/01/[$LATEST]" + "a" * 32
STREAM_B = "2026/01/01/[$LATEST]" + "b" * 32
T0 = 1_767_225_600_000


def _rid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-000000000000"


def _invoke(stream: str, n: int, at: int, duration: int = 20, lines: int = 2,
            status: str = "") -> list[tuple[int, str, str]]:
    rid = _rid(n)
    events = [(at, stream, f"START RequestId: {rid} Version: $LATEST\n")]
    events += [(at + 1 + i, stream, f"2026-01-01T00:00:00.000Z\t{rid}\tINFO\tline {i}\n")
               for i in range(lines)]
    report = (f"REPORT RequestId: {rid}\tDuration: {duration}.00 ms\tBilled Duration: "
              f"{duration} ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t")
    if status:
        report += f"Status: {status}\t"
    events += [(at + duration, stream, f"END RequestId: {rid}\n"),
               (at + duration, stream, report + "\n")]
    return events


def _write(path: Path, events: list[tuple[int, str, str]]) -> Path:
    """A filter-log-events export in the AWS CLI's layout (one key per line), in list order."""
    docs = [json.dumps({"logStreamName": stream, "timestamp": T0 + at, "message": message,
                        "ingestionTime": T0 + at + 400, "eventId": str(10**20 + i)},
                       indent=1).replace("\n", "\n  ")
            for i, (at, stream, message) in enumerate(events)]
    path.write_text('{\n "events": [\n' + ",\n".join(docs) + "\n ]\n}\n")
    return path


def _base() -> list[tuple[int, str, str]]:
    return [(0, STREAM_A, "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: "
                          "arn:aws:lambda:eu-west-1::runtime:0123456789abcdef\n"),
            *_invoke(STREAM_A, 1, 100), *_invoke(STREAM_B, 2, 110, status="timeout"),
            *_invoke(STREAM_A, 3, 300), *_invoke(STREAM_B, 4, 320, lines=0)]


def _by_time(events: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    return sorted(events, key=lambda event: event[0])  # (stable: ties keep list order)


CASES = {
    # (events, is the shortcut taken?)
    "plain": (_by_time(_base()), True),
    "output after the last REPORT": (_by_time(_base()) + [
        (400, STREAM_A, f"2026-01-01T00:00:00.000Z\t{_rid(3)}\tINFO\tlate\n")], True),
    "output at the same time as the stream's first START": (_by_time(
        [*_base(), (110, STREAM_B, f"2026-01-01T00:00:00.000Z\t{_rid(2)}\tINFO\ttied\n")]),
        True),
    "a retry of one request id": (_by_time(
        [*_base(), *_invoke(STREAM_A, 1, 500, lines=3)]), True),
    "a retry in another stream": (_by_time(
        [*_base(), *_invoke(STREAM_B, 1, 500, lines=1)]), True),
    "a retry's output before its START in that stream": (_by_time(
        [*_base(), (450, STREAM_B, f"2026-01-01T00:00:00.000Z\t{_rid(1)}\tINFO\tearly\n"),
         *_invoke(STREAM_B, 1, 500)]), False),
    "output written before its START": (_by_time(
        [*_base(), (50, STREAM_B, f"2026-01-01T00:00:00.000Z\t{_rid(2)}\tINFO\tearly\n")]),
        False),
    "a request seen only in its output": (_by_time(
        [*_base(), (600, STREAM_B, f"2026-01-01T00:00:00.000Z\t{_rid(9)}\tINFO\torphan\n")]),
        False),
    "an id in two streams": (_by_time(
        [*_base(), (330, STREAM_A, f"2026-01-01T00:00:00.000Z\t{_rid(4)}\tINFO\telsewhere\n")]),
        False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_with_left_out_records_is_the_general_report(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, shortcut = CASES[name]
    path = _write(tmp_path / "export.json", events)
    taken: list[bool] = []
    real = merge._left_out_owners

    def spy(*args: object) -> object:
        owners = real(*args)
        taken.append(owners is not None)
        return owners

    monkeypatch.setattr(merge, "_left_out_owners", spy)
    monkeypatch.setenv("LCTRACE_FASTPATH", "0")
    general = model.analyze([str(path)]).to_json(invocations=True)
    assert taken == []  # records without the reader's codes: nothing is left out
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    fast = model.analyze([str(path)]).to_json(invocations=True)
    assert taken == [shortcut]
    assert fast == general


def test_left_out_records_are_counted_and_the_stream_ends_where_they_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, _ = CASES["output after the last REPORT"]
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    report = model.analyze([str(_write(tmp_path / "export.json", events))])
    inv = report.invocations.set_index("request_id")
    assert inv.loc[_rid(1), "app_lines"] == 2 and inv.loc[_rid(3), "app_lines"] == 3
    assert inv.loc[_rid(4), "app_lines"] == 0
    env = report.environments.set_index("environment")
    assert env.loc[STREAM_A, "last_seen"] == env.loc[STREAM_A, "first_seen"] + \
        pd.Timedelta(milliseconds=400)


def test_generated_export_with_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed invocations run again with their request id (async retries), over many streams:
    the shortcut is taken and the report is the general path's, runs `<id>#2` included."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import generate_export

    path = tmp_path / "export.json"
    generate_export.write(path, 3000, 12, retries=0.5)
    taken: list[bool] = []
    real = merge._left_out_owners
    monkeypatch.setattr(merge, "_left_out_owners",
                        lambda *args: taken.append(real(*args) is not None) or real(*args))
    monkeypatch.setenv("LCTRACE_FASTPATH", "0")
    general = model.analyze([str(path)]).to_json(invocations=True)
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    fast = model.analyze([str(path)]).to_json(invocations=True)
    assert taken == [True]
    assert fast == general and '#2"' in fast
