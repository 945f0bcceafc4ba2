"""Byte-level scanner of `filter-log-events` / `get-log-events` JSON for the ingest fast path.

One precompiled regex matches a whole CloudWatch event object as the AWS CLI writes it
(`logStreamName`, `timestamp`, `message`, then `ingestionTime` and `eventId`) and, inside the
message, the shapes that make up nearly every large export: text `START` / `END` / `REPORT`,
Node.js and Python logger lines, and the JSON log format's `platform.start`, `platform.report`
and `{timestamp, level, requestId, message}` lines. `re.findall` runs it over 2 MB slices of
the mapped file, so the per-event work happens in C (`LINED_EVENT_RE`, its twin for the CLI's
one-key-per-line layout, is tried first: it knows each event's line without counting); anything
else in a message is kept raw and
handed to the general message parser (`platform.parse_event`), which stays the one definition of
what a message means. The canonical shapes are strict subsets of what that parser accepts and
give the very same fields.

The scan also proves the slice holds nothing but such events: the matches' lengths must add up
to the slice. Page boundaries (`], "nextToken": ...}{"events": [`) are matched by their own
regex. Any other byte (an event in another key order, an escaped stream name, a malformed
event) makes the scan give up with `Unsupported`, and the caller reads the file the general way.

Slices in the one-key-per-line layout the AWS CLI writes are first offered to `fastscan_lined`,
which reads them with numpy on their bytes (no object per event) and gives the very same
`Chunk`; the regexes here read what it declines.

Each slice becomes a `Chunk` of compact columns made in the worker: kind codes, lines, times
and stream codes per event, numbers parsed, short texts and request ids factorized (an
invocation's START, END, REPORT and output lines share one id string in the end).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import re
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter

import numpy as np

_U = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_N = rb"\d{1,15}(?:\.\d{1,15})?"
_LEVEL = rb"(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL|NOTICE)"  # = APP_LEVELS
_ISO = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
_TEXT = rb'[^"\\]*+(?:\\.[^"\\]*+)*+'  # the rest of a JSON string, escapes included
_Q = rb'\\"'  # a quote inside the (JSON-in-JSON) message

# Message alternatives, in the order of the groups they capture (see GROUPS).
_TAGS = (rb"(?:(?=(START |END |REPORT |\d{4}-\d\d-\d\dT|\[|\{" + _Q + rb"time" + _Q + rb"|\{" + _Q
         + rb"timestamp" + _Q + rb"))|)")
"""The message's first bytes, captured (without consuming them) when they open a canonical
shape: their length tells the kind (`TAG_KINDS`), so the kind takes one look per event."""
MESSAGE_ALTERNATIVES = {
    "start": rb"START RequestId: (" + _U + rb") Version: ([\w$.-]+)(?:\\n)?",
    "end": rb"END RequestId: (" + _U + rb")(?:\\n)?",
    "report": (
        rb"REPORT RequestId: (" + _U + rb")\\tDuration: (" + _N + rb") ms\\tBilled Duration: ("
        + _N + rb") ms\\tMemory Size: (\d{1,9}) MB\\tMax Memory Used: (\d{1,9}) MB"
        rb"(?:\\tInit Duration: (" + _N + rb") ms)?(?:\\tStatus: ([a-z]+))?"
        rb"(?:\\tError Type: ([\w.]+))?(?:\\t)?(?:\\n)?"),
    "node": _ISO + rb"\\t(" + _U + rb")\\t(" + _LEVEL + rb")\\t" + _TEXT,
    "py": rb"\[(" + _LEVEL + rb")\]\\t[0-9T:.Z-]{1,40}\\t(" + _U + rb")\\t" + _TEXT,
    "jstart": (
        rb"\{" + _Q + rb"time" + _Q + rb":" + _Q + rb"[0-9T:.Z+-]{1,40}" + _Q + rb"," + _Q
        + rb"type" + _Q + rb":" + _Q + rb"platform\.(?:"
        rb"start" + _Q + rb"," + _Q + rb"record" + _Q + rb":\{" + _Q + rb"requestId" + _Q + rb":"
        + _Q + rb"(" + _U + rb")" + _Q + rb"," + _Q + rb"version" + _Q + rb":" + _Q
        + rb"([\w$.-]+)" + _Q + rb"\}\}"
        rb"|report" + _Q + rb"," + _Q + rb"record" + _Q + rb":\{" + _Q + rb"requestId" + _Q
        + rb":" + _Q + rb"(" + _U + rb")" + _Q + rb"," + _Q + rb"metrics" + _Q + rb":\{" + _Q
        + rb"durationMs" + _Q + rb":(" + _N + rb")," + _Q + rb"billedDurationMs" + _Q + rb":("
        + _N + rb")," + _Q + rb"memorySizeMB" + _Q + rb":(\d{1,9})," + _Q + rb"maxMemoryUsedMB"
        + _Q + rb":(\d{1,9})(?:," + _Q + rb"initDurationMs" + _Q + rb":(" + _N + rb"))?\},"
        + _Q + rb"status" + _Q + rb":" + _Q + rb"([a-z]+)" + _Q + rb"(?:," + _Q + rb"errorType"
        + _Q + rb":" + _Q + rb"([\w.]+)" + _Q + rb")?\}\})"),
    "japp": (
        rb"\{" + _Q + rb"timestamp" + _Q + rb":" + _Q + rb'[^"\\]{0,40}' + _Q + rb"," + _Q
        + rb"level" + _Q + rb":" + _Q + rb"([A-Za-z]{1,20})" + _Q + rb"," + _Q + rb"requestId"
        + _Q + rb":" + _Q + rb"(" + _U + rb")" + _Q + rb"," + _Q + rb"message" + _Q + rb":" + _Q
        + rb'[^"\\]*' + _Q + rb"\}"),
}
"""The canonical message shapes, one per tag (jstart covers jreport), in the order of the
groups they capture (see GROUPS)."""
_MESSAGE = _TAGS + rb"(?:" + rb"|".join(MESSAGE_ALTERNATIVES.values()) + rb"|(" + _TEXT + rb"))"
GROUPS = (
    "whole", "sep", "stream", "ts", "tag",
    "start_rid", "start_version",
    "end_rid",
    "report_rid", "report_duration", "report_billed", "report_memory", "report_max_memory",
    "report_init", "report_status", "report_error",
    "node_rid", "node_level",
    "py_level", "py_rid",
    "jstart_rid", "jstart_version",
    "jreport_rid", "jreport_duration", "jreport_billed", "jreport_memory",
    "jreport_max_memory", "jreport_init", "jreport_status", "jreport_error",
    "japp_level", "japp_rid",
    "other", "event_id",
)
G = {name: index for index, name in enumerate(GROUPS)}
EVENT_RE = re.compile(
    rb'(([\s,]*+)\{\s*+"logStreamName"\s*+:\s*+"([^"\\]+)"\s*+,\s*+"timestamp"\s*+:\s*+(\d{1,15})\s*+,'
    rb'\s*+"message"\s*+:\s*+"' + _MESSAGE + rb'"\s*+,\s*+"ingestionTime"\s*+:\s*+\d{1,15}\s*+,'
    rb'\s*+"eventId"\s*+:\s*+"(\d*)"\s*+\})'
)
assert EVENT_RE.groups == len(GROUPS), (EVENT_RE.groups, len(GROUPS))

_H = rb"[ \t]*+"
_NL = _H + rb"\n" + _H
LINED_EVENT_RE = re.compile(
    rb'(([ \t,]*+\n[ \t]*+)\{' + _NL + rb'"logStreamName"' + _H + rb":" + _H
    + rb'"([^"]+)"' + _H + rb"," + _NL + rb'"timestamp"' + _H + rb":" + _H + rb"(\d{1,15})" + _H
    + rb"," + _NL + rb'"message"' + _H + rb":" + _H + rb'"'
    + _MESSAGE.replace(rb'[^"\\]', rb'[^"\\\n]') + rb'"' + _H + rb"," + _NL
    + rb'"ingestionTime"' + _H + rb":" + _H + rb"\d{1,15}" + _H + rb"," + _NL + rb'"eventId"' + _H
    + rb":" + _H + rb'"([^"]*)"' + _NL + rb"\})"
)
"""`EVENT_RE` for the layout the AWS CLI writes: one key per line, so every event takes
`LINES_PER_EVENT` newlines (no raw newline in its strings either) and its line is known
without counting. Same groups. Stream names and event ids are matched up to their closing
quote (a much faster loop than a class of several bytes) and checked afterwards
(`_lined_ok`): what passes, `EVENT_RE` matches the same way."""
LINES_PER_EVENT = 7  # its separator's newline, then six inside
RETRY_LINED = 16
"""Slices read with `EVENT_RE` alone after one that `LINED_EVENT_RE` did not cover."""
assert LINED_EVENT_RE.groups == len(GROUPS)
assert b'[^"\\]' not in LINED_EVENT_RE.pattern


def _lined_ok(found: list[tuple]) -> bool:
    """`LINED_EVENT_RE`'s loose captures hold what `EVENT_RE` (and the line count) allow:
    event ids of digits only, stream names without a backslash or a raw newline."""
    event_ids = b"".join(map(itemgetter(G["event_id"]), found))
    if event_ids and not event_ids.isdigit():
        return False
    return not any(b"\\" in name or b"\n" in name
                   for name in set(map(itemgetter(G["stream"]), found)))

_SEARCHED = (rb'\[(?:[\s,]*\{\s*"logStreamName"\s*:\s*"[^"\\]*"\s*,\s*"searchedCompletely"\s*:'
             rb"\s*(?:true|false)\s*\})*[\s,]*\]")
PAGE_OPEN_RE = re.compile(rb'\s*(?:\{\s*"events"\s*:\s*\[|\[)')
"""A page's start (`{"events": [`) or a bare event array (`--query events`)."""
PAGE_CLOSE_RE = re.compile(
    rb'[\s,]*\](?:\s*,\s*"(?:nextToken|nextForwardToken|nextBackwardToken)"\s*:\s*"[^"\\]*"'
    rb'|\s*,\s*"searchedLogStreams"\s*:\s*' + _SEARCHED + rb")*\s*\}"
)
ARRAY_CLOSE_RE = re.compile(rb"[\s,]*\]")
TRAILER_RE = re.compile(rb"\s*")
LINED_PAGE_END_RE = re.compile(rb"\}[ \t]*\n[ \t]*\]")
"""An event's end, then a line that closes the events array (a page's end, or the file's)."""
BOUNDARY_RE = re.compile(rb'\}[\s,]*?\n[ \t]*\{\s*"logStreamName"')
"""Between two events (a newline cannot be inside a JSON string): split points for slices."""

SLICE_BYTES = 2 << 20
"""Bytes per regex `findall`: small enough that the objects it makes (~3x the bytes) are still in
the CPU cache when they are turned into columns (32 MB slices ran at twice the time per event)."""
VECTOR_SLICE_BYTES = 8 << 20
"""Bytes per `fastscan_lined.scan_slice` (its cost per event falls with larger slices; where it
declines, the next this many bytes are read by the regexes in `SLICE_BYTES` slices)."""


_WHOLE = itemgetter(0)


class Unsupported(Exception):
    """The input holds something the fast path does not read; use the general path."""


KINDS = ("start", "end", "report", "node", "py", "jstart", "jreport", "japp", "other")
TAG_KINDS = np.full(16, len(KINDS) - 1, dtype=np.int8)
for _length, _kind in ((6, "start"), (4, "end"), (7, "report"), (11, "node"), (1, "py"),
                       (9, "jstart"), (14, "japp")):
    TAG_KINDS[_length] = KINDS.index(_kind)
"""Kind by the tag's length (0: no canonical opening). 9 (`{"time"`) is jstart or jreport."""
KIND_GROUPS = {kind: [name for name in GROUPS if name.startswith(kind + "_")]
               for kind in KINDS[:-1]}


NUMBER_GROUPS = {
    "report_duration": "float", "report_billed": "float", "report_memory": "int",
    "report_max_memory": "int", "report_init": "float",
    "jreport_duration": "float", "jreport_billed": "float", "jreport_memory": "int",
    "jreport_max_memory": "int", "jreport_init": "float",
}
"""Captures parsed to numbers in the worker: floats (NaN where absent), ints (int64 when none is
absent, else floats with NaN)."""
ID_GROUPS = frozenset({"start_rid", "end_rid", "report_rid", "node_rid", "py_rid", "jstart_rid",
                       "jreport_rid", "japp_rid"})
"""Request ids: every kind's ids in a slice are factorized together (an invocation's START,
END, REPORT and output lines share one id) and sent as `Ids`. The other text captures (levels,
versions, statuses, error types: few distinct values) are sent factorized too."""


class IdTable:
    """The distinct request ids of one slice, NUL-joined; decoded once, when first needed."""

    __slots__ = ("blob", "strings", "space")

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.strings = None
        self.space = None

    def __getstate__(self):
        return self.blob

    def __setstate__(self, blob: bytes) -> None:
        self.blob, self.strings, self.space = blob, None, None

    def numbered(self, values: np.ndarray, codes: np.ndarray) -> None:
        """Its ids are `values[codes]` (numbered with other tables'): its bytes let go."""
        if self.strings is None:
            self.blob, self.space = b"", (values, codes)

    def decoded(self) -> np.ndarray:
        if self.strings is None:
            if self.space is not None:
                values, codes = self.space
                self.strings, self.space = values[codes], None
                return self.strings
            strings = self.blob.decode("utf-8").split("\0") if self.blob else []
            self.strings = np.empty(len(strings), dtype=object)
            self.strings[:] = strings
            self.blob = b""
        return self.strings


class Ids:
    """One kind's request ids in a slice: codes into the slice's `IdTable`."""

    __slots__ = ("codes", "table")

    def __init__(self, codes: np.ndarray, table: IdTable) -> None:
        self.codes, self.table = codes, table

    def __getstate__(self):
        return self.codes, self.table

    def __setstate__(self, state) -> None:
        self.codes, self.table = state

    def values(self) -> np.ndarray:
        return self.table.decoded()[self.codes]


@dataclass
class Chunk:
    """What one byte range held: per-event kind codes, lines, times, stream codes and, per
    canonical kind, its events' indices and captured fields: request ids as NUL-joined bytes,
    numbers as arrays, other text as (int32 codes, distinct values, b"" where absent)."""

    kinds: np.ndarray  # int8 index into KINDS
    lines: np.ndarray
    ts: np.ndarray
    streams: list[str]
    stream_codes: np.ndarray
    fields: dict[str, object] = field(default_factory=dict)
    others: list[tuple[int, bytes]] = field(default_factory=list)  # (event index, raw message)
    newlines: int = 0  # in the whole range (the next range's lines start after them)
    tokens: list[str] = field(default_factory=list)  # "{" "[" "}" "]": pages opened/closed

    def release(self) -> None:
        """Let go of the per-event columns and captures (once they have been taken)."""
        self.fields, self.others = {}, []
        self.kinds = self.lines = self.ts = self.stream_codes = np.zeros(0)


def find_boundary(data, offset: int, end: int) -> int:
    """The first split point between two events at or after `offset` (else `end`)."""
    if offset >= end:
        return end
    match = BOUNDARY_RE.search(data, offset, end)
    return end if match is None else match.start() + 1


def _picker(index: np.ndarray):
    """A function that takes the items at `index` out of a column (a tuple or list)."""
    if len(index) == 0:
        return lambda column: ()
    if len(index) == 1:
        at = int(index[0])
        return lambda column: (column[at],)
    return itemgetter(*index.tolist())


def scan_range(data, start: int, end: int, *, at_file_start: bool,
               at_file_end: bool) -> list[Chunk]:
    """Scan `data[start:end]` (event-aligned, see `find_boundary`): every event, and page
    boundaries between them (as `tokens`). Raises Unsupported for anything else. Lines are
    counted from the range start (the caller adds the lines before it). A slice of the AWS
    CLI's layout is read by `fastscan_lined` first, the regexes only where it declines."""
    from lifecycle_trace.ingest import fastscan_lined
    pos = start
    chunks: list[Chunk] = []
    rows: list[tuple] = []
    tokens: list[str] = []
    if at_file_start:
        pos = _open_page(data, pos, end, rows, tokens)
        if pos < 0:
            raise Unsupported("no events array at the start")
        chunks.append(_columns(rows, tokens))  # the page's opening alone: the events after
        rows, tokens = [], []  # it may be read by fastscan_lined
    done = start
    wait = 0  # slices to go before the next try of LINED_EVENT_RE (after one of another layout)
    vector_wait = 0  # the same for fastscan_lined
    while pos < end:
        if not rows and vector_wait == 0:
            cut = find_boundary(data, min(pos + VECTOR_SLICE_BYTES, end), end)
            chunk = fastscan_lined.scan_slice(data, pos, cut)
            closing = (None if chunk is not None
                       else LINED_PAGE_END_RE.search(data, max(start, pos - 1), cut))
            if closing is not None and closing.start() + 1 > pos:  # events, then a page's end
                cut = closing.start() + 1
                chunk = fastscan_lined.scan_slice(data, pos, cut)
            if chunk is not None:  # all events of the one-key-per-line layout, read by numpy
                chunks.append(chunk)
                _let_go(data, done, cut)
                done = pos = cut
                continue
            if closing is not None and closing.start() + 1 == pos:
                # a page's end and the next one's start, up to its first event's end
                cut = find_boundary(data, pos + 1, end)
                pos = _slow_slice(data, pos, cut, rows, tokens, at_end=at_file_end and cut == end)
                chunks.append(_columns(rows, tokens))
                rows, tokens = [], []
                _let_go(data, done, pos)
                done = pos
                continue
            vector_wait = VECTOR_SLICE_BYTES // SLICE_BYTES
        vector_wait = max(0, vector_wait - 1)
        cut = find_boundary(data, min(pos + SLICE_BYTES, end), end)
        tried = uniform = not rows and wait == 0
        if tried:
            found = LINED_EVENT_RE.findall(data, pos, cut)
            uniform = sum(map(len, map(_WHOLE, found))) == cut - pos and _lined_ok(found)
        if not uniform:
            found = EVENT_RE.findall(data, pos, cut)
        if uniform or sum(map(len, map(_WHOLE, found))) == cut - pos:
            wait = RETRY_LINED if tried and not uniform else max(0, wait - 1)
            rows.extend(found)
            pos = cut
        else:
            pos = _slow_slice(data, pos, cut, rows, tokens, at_end=at_file_end and cut == end)
        chunks.append(_columns(rows, tokens, uniform=uniform))
        rows, tokens = [], []
        _let_go(data, done, pos)
        done = pos
    if rows or tokens:
        chunks.append(_columns(rows, tokens))
    return chunks


def _let_go(data, start: int, end: int) -> None:
    """Unmap the scanned pages of `data[start:end]` from this process (they stay in the page
    cache; touched again, they are mapped again), so a worker's resident size does not grow
    with the file."""
    madvise = getattr(data, "madvise", None)
    if madvise is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only
    last = end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        with contextlib.suppress(OSError, ValueError):
            madvise(mmap.MADV_DONTNEED, first, last - first)


def _open_page(data, pos: int, cut: int, rows: list, tokens: list[str]) -> int:
    """Consume a page start at `pos`; its end, or -1 when there is none."""
    opening = PAGE_OPEN_RE.match(data, pos, cut)
    if opening is None:
        return -1
    tokens.append(opening.group().strip()[:1].decode())
    rows.append(_gap_row(data[pos : opening.end()]))
    return opening.end()


def _slow_slice(data, pos: int, cut: int, rows: list, tokens: list[str], *, at_end: bool) -> int:
    """Event by event through a slice that holds page boundaries (or something else)."""
    while pos < cut:
        for match in EVENT_RE.finditer(data, pos, cut):
            if match.start() != pos:
                break
            rows.append(match.groups(b""))
            pos = match.end()
        if pos == cut:
            break
        closing = PAGE_CLOSE_RE.match(data, pos, cut)
        tokens.append("}" if closing is not None else "]")
        closing = closing or ARRAY_CLOSE_RE.match(data, pos, cut)
        if closing is None:
            raise Unsupported(f"unexpected content at byte {pos}")
        rows.append(_gap_row(data[pos : closing.end()]))
        pos = closing.end()
        after = _open_page(data, pos, cut, rows, tokens)
        if after >= 0:
            pos = after
            continue
        if at_end and TRAILER_RE.match(data, pos, cut).end() == cut:
            return cut
        raise Unsupported(f"unexpected content at byte {pos}")
    return pos


def check_tokens(tokens: list[str]) -> None:
    """Pages must open and close in turn, each closed by its own kind of bracket."""
    pairs = {"{": "}", "[": "]"}
    if len(tokens) % 2 or not tokens:
        raise Unsupported("pages not closed")
    for opening, closing in zip(tokens[::2], tokens[1::2], strict=True):
        if pairs.get(opening) != closing:
            raise Unsupported("pages not closed in order")


def _gap_row(text: bytes) -> tuple:
    """A pseudo-row for the text between two pages (no event; only its newlines count)."""
    row = [b""] * len(GROUPS)
    row[0] = text
    row[1] = text
    return tuple(row)


def _columns(rows: list[tuple], tokens: list[str], *, uniform: bool = False) -> Chunk:
    """The matched rows as per-kind columns (numbers parsed, texts compacted). Rows of page
    gaps (there is one per token) hold no event; only their newlines count. `uniform`: the
    rows are all `LINED_EVENT_RE` matches, `LINES_PER_EVENT` newlines each."""
    if not rows:
        return Chunk(np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0),
                     [], np.zeros(0, np.int32), tokens=tokens)
    count = len(rows)

    def column(name: str):
        return map(itemgetter(G[name]), rows)

    if uniform and not tokens:
        newlines = LINES_PER_EVENT * count
        lines = np.arange(1, newlines, LINES_PER_EVENT, dtype=np.int64)
    else:
        total_nl = np.fromiter(map(bytes.count, column("whole"), repeat(b"\n")), np.int64,
                               count)
        sep_nl = np.fromiter(map(bytes.count, column("sep"), repeat(b"\n")), np.int64, count)
        lines = np.cumsum(total_nl) - total_nl + sep_nl
        newlines = int(total_nl.sum())
    kinds = TAG_KINDS[np.fromiter(map(len, column("tag")), np.int64, count)]
    kinds[np.fromiter(map(bool, column("other")), bool, count)] = len(KINDS) - 1
    timed = np.flatnonzero(kinds == KINDS.index("jstart"))
    if len(timed):
        starts = np.fromiter(map(bool, map(itemgetter(G["jstart_rid"]), _picker(timed)(rows))),
                             bool, len(timed))
        kinds[timed[~starts]] = KINDS.index("jreport")
    if tokens:  # drop the gap rows
        is_event = np.fromiter(map(bool, column("stream")), bool, count)
        event_rows = np.flatnonzero(is_event)
        rows = _picker(event_rows)(rows)
        lines, kinds = lines[event_rows], kinds[event_rows]
    ts = (np.fromstring(b" ".join(column("ts")), dtype=np.int64, sep=" ").astype(np.float64)
          if len(kinds) else np.zeros(0))  # exact: below 2**53
    codes, streams = _factorize(list(column("stream")))
    chunk = Chunk(kinds, lines.astype(np.int64), ts, [s.decode("utf-8") for s in streams],
                  codes, newlines=newlines, tokens=tokens)
    ids: list[tuple[str, list]] = []
    for code, kind in enumerate(KINDS[:-1]):
        index = np.flatnonzero(kinds == code)
        chunk.fields[kind] = index
        picked = _picker(index)(rows)
        for name in KIND_GROUPS[kind]:
            values = list(map(itemgetter(G[name]), picked))
            if name in ID_GROUPS:
                ids.append((name, values))
            else:
                chunk.fields[name] = _field(name, values)
    if ids:
        codes, uniques = _factorize(list(chain.from_iterable(values for _, values in ids)))
        table = IdTable(b"\0".join(uniques))
        at = 0
        for name, values in ids:
            chunk.fields[name] = Ids(codes[at : at + len(values)], table)
            at += len(values)
    other = np.flatnonzero(kinds == len(KINDS) - 1)
    chunk.others = list(zip(other.tolist(), map(itemgetter(G["other"]), _picker(other)(rows)),
                            strict=True))
    return chunk


def _field(name: str, values: tuple) -> object:
    """One kind's captures of one group, compacted (see `Chunk`)."""
    how = NUMBER_GROUPS.get(name)
    if how is None:  # text of few distinct values
        return _factorize(values)
    return _numbers(values, np.int64 if how == "int" else np.float64)


def _factorize(values: list) -> tuple[np.ndarray, list]:
    """(int32 codes, distinct values in order of first appearance)."""
    index = dict.fromkeys(values)
    index = dict(zip(index, range(len(index)), strict=True))
    return np.fromiter(map(index.__getitem__, values), np.int32, len(values)), list(index)


def _numbers(values: tuple, dtype: type) -> np.ndarray:
    """Captured digits -> numbers; absent (empty) ones make the column floats with NaN there.
    `np.fromstring` reads text with Python's own float parser (`PyOS_string_to_double`)."""
    count = len(values)
    if count == 0:
        return np.zeros(0)
    if b"" not in values:
        return np.fromstring(b" ".join(values), dtype=dtype, sep=" ")
    present = np.fromiter(map(bool, values), bool, count)
    out = np.full(count, np.nan)
    if present.any():
        out[present] = np.fromstring(b" ".join(filter(None, values)), dtype=np.float64, sep=" ")
    return out


def merge_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks of one range as one (fewer, larger pieces for the parent to put together):
    events, lines and codes renumbered, request id tables and short texts' values joined."""
    if len(chunks) <= 1:
        return chunks
    counts = [len(chunk.kinds) for chunk in chunks]
    firsts = np.cumsum([0, *counts[:-1]]).tolist()
    line_firsts = np.cumsum([0, *(chunk.newlines for chunk in chunks[:-1])]).tolist()
    streams: dict[str, int] = {}
    stream_codes = []
    for chunk in chunks:
        mapping = np.array([streams.setdefault(name, len(streams)) for name in chunk.streams],
                           dtype=np.int32)
        stream_codes.append(mapping[chunk.stream_codes])
    merged = Chunk(
        np.concatenate([chunk.kinds for chunk in chunks]),
        np.concatenate([chunk.lines + first for chunk, first in
                        zip(chunks, line_firsts, strict=True)]),
        np.concatenate([chunk.ts for chunk in chunks]), list(streams),
        np.concatenate(stream_codes), newlines=sum(chunk.newlines for chunk in chunks),
        tokens=[token for chunk in chunks for token in chunk.tokens],
        others=[(index + first, raw) for chunk, first in zip(chunks, firsts, strict=True)
                for index, raw in chunk.others])
    table_firsts, blobs, size = {}, [], 0
    for chunk in chunks:
        for value in chunk.fields.values():
            if isinstance(value, Ids) and id(value.table) not in table_firsts:
                table_firsts[id(value.table)] = size
                if value.table.blob:
                    blobs.append(value.table.blob)
                    size += value.table.blob.count(b"\0") + 1
    table = IdTable(b"\0".join(blobs))
    for kind in KINDS[:-1]:
        present = [(chunk, first) for chunk, first in zip(chunks, firsts, strict=True)
                   if len(chunk.fields[kind])]
        merged.fields[kind] = (np.concatenate([chunk.fields[kind] + first
                                               for chunk, first in present])
                               if present else np.zeros(0, dtype=np.int64))
        for name in KIND_GROUPS[kind]:
            values = [chunk.fields[name] for chunk, _ in present]
            if not values:
                merged.fields[name] = chunks[0].fields[name]  # empty in every chunk
            elif isinstance(values[0], Ids):
                merged.fields[name] = Ids(np.concatenate(
                    [ids.codes + table_firsts[id(ids.table)] for ids in values]), table)
            elif isinstance(values[0], tuple):  # (codes, distinct values)
                index: dict[bytes, int] = {}
                parts = []
                for codes, uniques in values:
                    mapping = np.array([index.setdefault(u, len(index)) for u in uniques],
                                       dtype=np.int32)
                    parts.append(mapping[codes])
                merged.fields[name] = (np.concatenate(parts), list(index))
            else:
                merged.fields[name] = np.concatenate(values)
    return [merged]


def decode_message(raw: bytes) -> str:
    """The message as the JSON string it is in the file."""
    if b"\\" not in raw:
        return raw.decode("utf-8")
    return json.loads(b'"' + raw + b'"')
