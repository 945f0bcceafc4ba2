"""The vectorized scanner (`fastscan_lined`) makes the very chunk the regex scanner makes of the
same slice (`LINED_EVENT_RE` then `fastscan._columns`), on generated exports in both log
formats, the AWS CLI's own indentation, and messages built to sit just inside or just outside
each canonical shape; and it declines (None) every slice the regex scanner does not read as
one-key-per-line events."""

from __future__ import annotations

import json
import random
import sys
from itertools import islice
from operator import itemgetter
from pathlib import Path

import numpy as np
import pytest

from lifecycle_trace.ingest import fastscan, fastscan_lined

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import generate_export  # noqa: E402

RID = "5bd1e24a-dae8-4f64-bc4a-58056820a1ee"


def _json_report(memory: float = 128, status: str = "success", **extra: str) -> str:
    """A compact JSON `platform.report` of `RID` (variants sit inside or outside the shape)."""
    return json.dumps({"time": "1", "type": "platform.report", "record": {
        "requestId": RID, "metrics": {"durationMs": 1.25, "billedDurationMs": 2,
                                      "memorySizeMB": memory, "maxMemoryUsedMB": 70},
        "status": status, **extra}}, separators=(",", ":"))


ODD_MESSAGES = [
    "", "x", "START", "START ", "END ", "REPORT ", "[", "{", "2026-01-01T", "[INFO]",
    f"START RequestId: {RID} Version: $LATEST\n", f"START RequestId: {RID} Version: 12",
    f"START RequestId: {RID} Version: \n", f"START RequestId: {RID} Version: a b\n",
    f"START RequestId: {RID} Version: {'v' * 40}\n", f"START RequestId: {RID.upper()} "
    "Version: 1\n", f"START RequestId: {RID[:-1]}g Version: 1\n",
    f"END RequestId: {RID}\n", f"END RequestId: {RID}", f"END RequestId: {RID}\n\n",
    f"END RequestId: {RID} \n", f"END RequestId: {RID[:-1]}\n",
    f"REPORT RequestId: {RID}\tDuration: 1.5 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\t\n",
    f"REPORT RequestId: {RID}\tDuration: 12345678.25 ms\tBilled Duration: 12345679 ms\t"
    "Memory Size: 10240 MB\tMax Memory Used: 123456789 MB\tInit Duration: 0.001 ms\t"
    "Status: timeout\tError Type: Runtime.ExitError\t\n",
    f"REPORT RequestId: {RID}\tDuration: 123456789012345.123456789012345 ms\tBilled Duration:"
    " 3 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1234567890123456 ms\tBilled Duration: 3 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1. ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: .5 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1.2.3 ms\tBilled Duration: 2 ms\tMemory Size: 1 MB"
    "\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 1.5 MB"
    "\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 1234567890"
    " MB\tMax Memory Used: 64 MB",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\tStatus: Timeout\n",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\tStatus: \n",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\tError Type: x\tStatus: error\n",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\tInit Duration: 5 ms\n\t",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 64 MB\tInit Duration: 5 s\n",
    f"REPORT RequestId: {RID}\tDuration: 1 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
    f"\tMax Memory Used: 64 MB\tError Type: {'E' * 40}\n",
    f"2026-01-01T00:01:32.721Z\t{RID}\tINFO\tsaid \"hi\" to {{}}\n",
    f"2026-01-01T00:01:32.721Z\t{RID}\tWARNING\t\n", f"2026-01-01T00:01:32.721Z\t{RID}\tWARN\t",
    f"2026-01-01T00:01:32.721Z\t{RID}\tVERBOSE\tx\n", f"2026-01-01T00:01:32.721Z\t{RID}\tINFO",
    f"2026-01-01T00:01:32.72Z\t{RID}\tINFO\tx", f"2026-01-01 00:01:32.721Z\t{RID}\tINFO\tx",
    f"[ERROR]\t2026-01-01T00:01:32.721Z\t{RID}\tboom é\n", f"[ERROR]\t\t{RID}\tx",
    f"[ERROR]\t{'1' * 40}\t{RID}\tx", f"[ERROR]\t{'1' * 41}\t{RID}\tx",
    f"[ERROR]\t2026-01-01 00:01\t{RID}\tx", f"[ERROR] \t2026\t{RID}\tx", f"[]\t2026\t{RID}\tx",
    f"[ERROR]x]\t2026\t{RID}\tx", "[INFO]\t2026\tnot-an-id\tx",
    json.dumps({"time": "2026-01-01T00:00:00.000Z", "type": "platform.start",
                "record": {"requestId": RID, "version": "$LATEST"}}, separators=(",", ":")),
    json.dumps({"time": "2026-01-01T00:00:00.000+01:00", "type": "platform.start",
                "record": {"requestId": RID, "version": "7"}}, separators=(",", ":")),
    json.dumps({"time": "x", "type": "platform.start",
                "record": {"requestId": RID, "version": "7"}}, separators=(",", ":")),
    json.dumps({"time": "1", "type": "platform.start",
                "record": {"requestId": RID, "version": "7 8"}}, separators=(",", ":")),
    json.dumps({"time": "1", "type": "platform.start",
                "record": {"requestId": RID, "version": "7"}}),
    json.dumps({"time": "1", "type": "platform.report", "record": {
        "requestId": RID, "metrics": {"durationMs": 1.25, "billedDurationMs": 2,
                                      "memorySizeMB": 128, "maxMemoryUsedMB": 70,
                                      "initDurationMs": 99.5},
        "status": "error", "errorType": "Runtime.Unknown"}}, separators=(",", ":")),
    _json_report(),
    _json_report(memory=128.5),
    _json_report(status="Success"),
    _json_report(status="error", errorType=""),
    json.dumps({"timestamp": "2026-01-01T00:00:00Z", "level": "INFO", "requestId": RID,
                "message": "hello"}, separators=(",", ":")),
    json.dumps({"timestamp": "", "level": "notice", "requestId": RID, "message": ""},
               separators=(",", ":")),
    json.dumps({"timestamp": "t" * 41, "level": "INFO", "requestId": RID, "message": "m"},
               separators=(",", ":")),
    json.dumps({"timestamp": "t", "level": "I" * 21, "requestId": RID, "message": "m"},
               separators=(",", ":")),
    json.dumps({"timestamp": "t", "level": "IN-FO", "requestId": RID, "message": "m"},
               separators=(",", ":")),
    json.dumps({"timestamp": "t", "level": "INFO", "requestId": RID, "message": 'say "x"'},
               separators=(",", ":")),
    json.dumps({"timestamp": "t", "level": "INFO", "requestId": RID, "message": "m",
                "extra": 1}, separators=(",", ":")),
    "tab\there \"quoted\" \u2603 \x01", "ends with a tab\t", "a\\b", "\\", "\"",
]


def _events(count: int, odd: bool, seed: int) -> list[dict]:
    """Generated events (both log formats), with odd messages mixed in when `odd`."""
    events = list(islice(generate_export.generate(count // 8 + 1, 5, seed=seed), count))
    if odd:
        rng = random.Random(seed)
        for message in ODD_MESSAGES:
            events.insert(rng.randrange(len(events) + 1),
                          {**events[0], "message": message})
    return events


def _bench_layout(events: list[dict]) -> bytes:
    """As `generate_export.write` (and so the benchmark files) lays events out."""
    body = ",\n".join(json.dumps(event, indent=1).replace("\n", "\n  ") for event in events)
    return ('{\n "events": [\n' + body + "\n ]\n}\n").encode()


def _cli_layout(events: list[dict]) -> bytes:
    """As the AWS CLI prints the response (`--output json`)."""
    return json.dumps({"events": events}, indent=4, ensure_ascii=False).encode()


def _slices(data: bytes, size: int) -> list[tuple[int, int]]:
    pos = fastscan.find_boundary(data, 1, len(data))
    out = []
    while pos < len(data):
        cut = fastscan.find_boundary(data, min(pos + size, len(data)), len(data))
        out.append((pos, cut))
        pos = cut
    return out


def _same(a: object, b: object, where: str) -> None:
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where, strict=True)
    elif isinstance(a, fastscan.Ids):
        _same(a.codes, b.codes, where)
        assert a.table.blob == b.table.blob, where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{k}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    else:
        assert a == b, where


def _regex_chunk(data: bytes, pos: int, cut: int) -> fastscan.Chunk | None:
    found = fastscan.LINED_EVENT_RE.findall(data, pos, cut)
    if sum(map(len, map(itemgetter(0), found))) != cut - pos or not fastscan._lined_ok(found):
        return None
    return fastscan._columns(found, [], uniform=True)


def _check(data: bytes, size: int) -> int:
    """Every slice: the same chunk both ways, or declined; how many the vectorized one read."""
    read = 0
    for pos, cut in _slices(data, size):
        chunk = fastscan_lined.scan_slice(data, pos, cut)
        expected = _regex_chunk(data, pos, cut)
        if chunk is None:
            continue
        assert expected is not None, (pos, cut)
        for name in ("kinds", "lines", "ts", "streams", "stream_codes", "fields", "others",
                     "newlines", "tokens"):
            _same(getattr(chunk, name), getattr(expected, name), name)
        read += 1
    return read


@pytest.mark.parametrize("layout", [_bench_layout, _cli_layout])
@pytest.mark.parametrize("size", [1500, 20_000, 1 << 20])
def test_generated_exports_read_the_same(layout, size: int) -> None:
    data = layout(_events(3000, odd=False, seed=3))
    slices = len(_slices(data, size))
    assert _check(data, size) >= slices - 1  # all but the file's last slice (the array's end)


@pytest.mark.parametrize("seed", range(6))
def test_odd_messages_read_the_same(seed: int) -> None:
    data = _bench_layout(_events(600, odd=True, seed=seed))
    assert _check(data, 4000 + 3000 * seed) > 0


def test_each_odd_message_alone() -> None:
    """Each odd message among plain events: read the same, slice by slice."""
    plain = _events(40, odd=False, seed=1)
    for message in ODD_MESSAGES:
        events = plain[:20] + [{**plain[0], "message": message}] + plain[20:]
        _check(_bench_layout(events), 1 << 20)


@pytest.mark.parametrize("change", [
    lambda e: {**e, "logStreamName": "a\\b"},
    lambda e: {**e, "logStreamName": 'a"b'},
    lambda e: {**e, "eventId": "12a"},
    lambda e: {**e, "eventId": ""},
    lambda e: {**e, "timestamp": 10 ** 16},
    lambda e: {**e, "message": "a\\\\\"b"},
    lambda e: {"timestamp": e["timestamp"], "logStreamName": e["logStreamName"],
               "message": e["message"], "ingestionTime": 1, "eventId": "1"},
    lambda e: {**e, "extra": 1},
])
def test_declines_what_it_cannot_prove(change) -> None:
    """Odd events: the slice is declined, or read exactly as the regexes read it."""
    plain = _events(40, odd=False, seed=2)
    events = plain[:20] + [change(plain[20])] + plain[21:]
    for layout in (_bench_layout, _cli_layout):
        _check(layout(events), 1 << 20)


def test_indentation_must_repeat() -> None:
    data = _bench_layout(_events(50, odd=False, seed=4))
    changed = data.replace(b'\n   "timestamp"', b'\n    "timestamp"', 1)
    (pos, cut), = _slices(changed, 1 << 20)[:1]
    assert fastscan_lined.scan_slice(changed, pos, cut) is None


def test_words_and_numbers() -> None:
    """The 8-byte tricks against plain Python on every length and shape."""
    rng = random.Random(5)
    texts = [b"0", b"7", b"12.5", b"1234567", b"0.001", b"99999.9", b"1.", b".5", b"1.2.3",
             b"", b"12a", b"1234567.", b"123.4567", b"12345678", b"123456789", b"1234567890",
             b"12345678.25", b"1234567890.12345", b"000000000000001", b"0.00000000000001"]
    texts += [str(rng.randrange(10 ** rng.randrange(1, 8))).encode() for _ in range(200)]
    texts += [f"{rng.random() * 10 ** rng.randrange(0, 6):.{rng.randrange(1, 4)}f}".encode()
              for _ in range(200)]
    data = b"".join(b"|" + t + b" ms" for t in texts) + b"\0" * 64
    starts, at = [], 0
    for text in texts:
        starts.append(at + 1)
        at += len(text) + 4
    sl = fastscan_lined._Slice(data, 0, len(data) - 64)
    for integer in (False, True):
        rows = fastscan_lined._Rows(sl, np.zeros(0, np.int64), np.zeros(0, np.int64),
                                    np.array(starts),
                                    np.array(starts) + 40)
        values = rows.number(integer)
        rows.lit(b" ms")
        for text, ok, value in zip(texts, rows.ok, values, strict=True):
            pattern = rb"\d{1,9}" if integer else rb"\d{1,15}(?:\.\d{1,15})?"
            expected = fastscan_lined.re.fullmatch(pattern, text) is not None
            assert ok == expected, text
            if ok:
                assert value == (int(text) if integer else float(text)), text


@pytest.mark.parametrize("collide", [False, True])
def test_factorize_words(monkeypatch: pytest.MonkeyPatch, collide: bool) -> None:
    """Codes in order of first appearance and each code's first row, as a dict gives them;
    also when every hash collides (the rows are then told apart word by word)."""
    if collide:
        monkeypatch.setattr(fastscan_lined, "_KEYS", np.zeros(8, dtype=np.uint64))
    rng = np.random.default_rng(3)
    distinct = rng.integers(0, 4, size=(9, 3)).astype(np.uint64)
    words = distinct[rng.integers(0, 9, size=200)]
    codes, firsts = fastscan_lined._factorize_words(words)
    index: dict[tuple, int] = {}
    expected = [index.setdefault(tuple(row), len(index)) for row in words.tolist()]
    assert codes.dtype == np.int32 and codes.tolist() == expected
    assert firsts.tolist() == [expected.index(code) for code in range(len(index))]


def test_escaped_backslashes_are_read() -> None:
    """Runs of backslashes (a path, an escaped quote after an escaped backslash, a message
    ending in one) are read, the same as the regexes read them."""
    plain = _events(60, odd=False, seed=6)
    messages = ["C:\\dir\\file.txt", 'say \\"x\\"', "end\\", "\\\\\\", "a\\\"b",
                f"2026-01-01T00:01:32.721Z\t{RID}\tINFO\tC:\\temp\\x\n"]
    events = plain[:30] + [{**plain[0], "message": m} for m in messages] + plain[30:]
    data = _bench_layout(events)
    assert _check(data, 1 << 12) >= len(_slices(data, 1 << 12)) - 1


@pytest.mark.parametrize("raw", [b'a \\\\" b', b'a " b', b"a \\", b"a \\\\\\"])
def test_unescaped_quotes_are_declined(raw: bytes) -> None:
    """A message whose quote ends the string early (after an escaped backslash, or bare), or
    whose closing quote is escaped: the slice is not read as events."""
    plain = _events(60, odd=False, seed=6)
    data = _bench_layout(plain[:30] + [{**plain[0], "message": "MARK"}] + plain[30:])
    where = data.index(b"MARK")
    data = data.replace(b"MARK", raw, 1)
    for pos, cut in _slices(data, 1 << 12):
        if pos <= where < cut:
            assert fastscan_lined.scan_slice(data, pos, cut) is None
            assert _regex_chunk(data, pos, cut) is None


def test_lengths_that_vary() -> None:
    """Stream names, times and event ids of several lengths (read line by line, not as one
    frame per event): the same chunks."""
    rng = random.Random(8)
    events = [{**event, "logStreamName": rng.choice(["s", "a/[$LATEST]" + "b" * 40, "c" * 9]),
               "timestamp": rng.choice([7, 123456789012345, event["timestamp"]]),
               "ingestionTime": rng.randrange(1, 10 ** rng.randrange(1, 15)),
               "eventId": str(rng.randrange(10 ** 60))[: rng.randrange(0, 60)]}
              for event in _events(400, odd=True, seed=8)]
    for layout in (_bench_layout, _cli_layout):
        data = layout(events)
        assert _check(data, 1 << 13) >= len(_slices(data, 1 << 13)) - 1


@pytest.mark.parametrize("old, new", [(b'"ingestionTime"', b'"ingestionTimX"'),
                                      (b"},\n{", b"} ,\n{"), (b'"eventId": "3', b'"eventId": "x'),
                                      (b'"timestamp": 1', b'"timestamp": x')])
def test_a_wrong_frame_is_declined(old: bytes, new: bytes) -> None:
    data = _bench_layout(_events(200, odd=False, seed=9))
    where = data.index(old, len(data) // 2)
    data = data[:where] + data[where:].replace(old, new, 1)
    (pos, cut), = [(pos, cut) for pos, cut in _slices(data, 1 << 20) if pos <= where < cut]
    assert fastscan_lined.scan_slice(data, pos, cut) is None


def _resolved(chunk: fastscan.Chunk) -> dict[str, object]:
    """A merged chunk's columns as values (id tables and codes depend on the slicing)."""
    out: dict[str, object] = {
        "kinds": chunk.kinds, "lines": chunk.lines, "ts": chunk.ts,
        "streams": np.array(chunk.streams, dtype=object)[chunk.stream_codes],
        "others": chunk.others, "newlines": chunk.newlines, "tokens": chunk.tokens}
    for name, value in chunk.fields.items():
        if isinstance(value, fastscan.Ids):
            out[name] = value.values()
        elif isinstance(value, tuple):
            out[name] = np.array([*value[1], b""], dtype=object)[value[0]]
        else:
            out[name] = value
    return out


@pytest.mark.parametrize("layout", ["bench", "cli"])
def test_pages_between_vector_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     layout: str) -> None:
    """Concatenated pages: the events between page ends read by numpy, the ends by the
    regexes; the same columns as the regexes alone give."""
    path = tmp_path / "paged.json"
    generate_export.write(path, 300, 7, page_size=170)
    data = path.read_bytes()
    if layout == "cli":
        pages = data.decode().replace("}\n{", "}\n\n{").split("\n\n")
        data = "\n".join(json.dumps(json.loads(page), indent=4) for page in pages).encode()
    monkeypatch.setattr(fastscan, "VECTOR_SLICE_BYTES", 30_000)
    calls = []
    real = fastscan_lined.scan_slice

    def counted(*args):
        chunk = real(*args)
        calls.append(chunk is not None)
        return chunk

    monkeypatch.setattr(fastscan_lined, "scan_slice", counted)
    scanned = fastscan.merge_chunks(fastscan.scan_range(data, 0, len(data), at_file_start=True,
                                                        at_file_end=True))
    assert sum(calls) > 5
    monkeypatch.setattr(fastscan_lined, "scan_slice", lambda *args: None)
    expected = fastscan.merge_chunks(fastscan.scan_range(data, 0, len(data),
                                                         at_file_start=True, at_file_end=True))
    _same(_resolved(scanned[0]), _resolved(expected[0]), "chunk")


def test_popcount_without_numpy_2() -> None:
    """The bit count used where numpy has no `bitwise_count` counts as Python does."""
    values = np.random.default_rng(4).integers(0, 2 ** 63, 500, dtype=np.int64).view(np.uint64)
    values = np.concatenate([values, np.array([0, 2 ** 64 - 1, 1, 2 ** 63], dtype=np.uint64)])
    counted = fastscan_lined._swar_popcount(values)
    assert counted.tolist() == [bin(int(v)).count("1") for v in values]
