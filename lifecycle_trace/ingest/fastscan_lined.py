"""Vectorized scan of a slice in the AWS CLI's one-key-per-line layout (no object per event).

`fastscan.LINED_EVENT_RE` reads such a slice with one big regex and a 34-tuple per event. This
module reads the same slice with numpy on its bytes: every event takes exactly
`fastscan.LINES_PER_EVENT` newlines, so the newline positions give every line of every event;
each line's fixed part (the key, its quotes, the indentation, taken from the slice's first
event) is checked at once for all events with 8-byte loads, timestamps are parsed from their
digit runs, stream names and request ids are factorized as fixed-width rows, and messages are
classified by their first bytes. Only the messages whose fields sit at no fixed offset go
through a regex (one per kind, over just those messages joined by newlines).

The scan must PROVE the slice holds nothing but such events, exactly as the regex would match
them; when it cannot (another layout, an escaped backslash, odd lengths), `scan_slice` returns
None and the caller reads the slice with the regexes. Whatever the path, the `Chunk` is the
same (tests compare both on generated slices).
"""

from __future__ import annotations

import re
from operator import itemgetter

import numpy as np
import pandas as pd

from lifecycle_trace.analysis.frames import first_rows
from lifecycle_trace.ingest import fastscan as fs

_LEVEL, _TEXT = fs._LEVEL, fs._TEXT


def _lined(pattern: bytes) -> bytes:
    """`pattern` as `LINED_EVENT_RE` uses it: no class of "any byte but" crosses a newline."""
    return pattern.replace(rb'[^"\\]', rb'[^"\\\n]')


ALTERNATIVES = {kind: _lined(alt) for kind, alt in fs.MESSAGE_ALTERNATIVES.items()}
"""The canonical message shapes of `fastscan._MESSAGE`, one per tag (jstart covers jreport)."""

_ALT_GROUPS = {
    "start": ("start_rid", "start_version"),
    "end": ("end_rid",),
    "report": fs.KIND_GROUPS["report"],
    "node": ("node_rid", "node_level"),
    "py": ("py_level", "py_rid"),
    "jstart": (*fs.KIND_GROUPS["jstart"], *fs.KIND_GROUPS["jreport"]),
    "japp": ("japp_level", "japp_rid"),
}
"""Each alternative's groups, in its pattern's order (as in `fastscan.GROUPS`)."""
JOINED_RES = {kind: re.compile(rb"(?:" + alt + rb")\n|([^\n]*)\n")
              for kind, alt in ALTERNATIVES.items()}
"""Per kind, over its candidate messages joined by newlines: one tuple per message, whose last
group is non-empty when the message is not of that shape after all."""
for _kind, _regex in JOINED_RES.items():
    assert _regex.groups == len(_ALT_GROUPS[_kind]) + 1

_TAGS = {"start": b"START ", "end": b"END ", "report": b"REPORT ", "py": b"[",
         "jstart": b'{\\"time\\"', "japp": b'{\\"timestamp\\"'}
"""A message's first bytes that make it a candidate of a kind (`node`: an ISO date)."""

_HEAD_RE = re.compile(rb"[ \t,]*")
_OPEN_RE = re.compile(rb"[ \t]*\{[ \t]*")
_CLOSE_RE = re.compile(rb"([ \t]*\})[ \t,]*")
_LINE_RES = (
    re.compile(rb'([ \t]*"logStreamName"[ \t]*:[ \t]*")[^"\n]+("[ \t]*,[ \t]*)'),
    re.compile(rb'([ \t]*"timestamp"[ \t]*:[ \t]*)\d{1,15}([ \t]*,[ \t]*)'),
    re.compile(rb'([ \t]*"message"[ \t]*:[ \t]*")' + _lined(_TEXT) + rb'("[ \t]*,[ \t]*)'),
    re.compile(rb'([ \t]*"ingestionTime"[ \t]*:[ \t]*)\d{1,15}([ \t]*,[ \t]*)'),
    re.compile(rb'([ \t]*"eventId"[ \t]*:[ \t]*")\d*("[ \t]*)'),
)
"""The first event's lines: (fixed prefix, fixed suffix) around each value, the template every
other event of the slice must repeat byte for byte."""
PAD = 512
"""Bytes readable past a slice's end (loads and windows near its last event)."""
_M8 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _word(text: bytes) -> np.uint64:
    return np.frombuffer(text.ljust(8, b"\0"), dtype="<u8")[0]


def _mask(length: int) -> np.uint64:
    return np.uint64((1 << (8 * length)) - 1) if length < 8 else _M8


def _each(byte: int) -> np.uint64:
    return np.uint64(byte * 0x0101010101010101)


_HIGH = _each(0x80)
_LOW7 = _each(0x7F)
_NIBBLES = _each(0x0F)
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1],
                       dtype=np.uint64)
"""The low k bytes of a word, k = 0..8."""


def _in_range(words: np.ndarray, low: int, high: int) -> np.ndarray:
    """Per byte of each word: bit 7 set where the byte is ASCII in [low, high] (exact: no
    carry crosses a byte)."""
    seven = words & _LOW7
    return (seven + _each(0x80 - low)) & ~(seven + _each(0x7F - high)) & ~words & _HIGH


def _equal(words: np.ndarray, byte: int) -> np.ndarray:
    """Per byte of each word: bit 7 set where the byte is `byte`."""
    diff = words ^ _each(byte)
    return ~(((diff & _LOW7) + _LOW7) | diff) & _HIGH


def _digits(words: np.ndarray) -> np.ndarray:
    return _in_range(words, 0x30, 0x39)


def _eight_digits(words: np.ndarray) -> np.ndarray:
    """The value of 8 ASCII digits per word (the first byte the most significant)."""
    value = words & _NIBBLES
    value = ((value * np.uint64(2561)) >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF)
    value = ((value * np.uint64(6553601)) >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF)
    return (value * np.uint64(42949672960001)) >> np.uint64(32)


def _swar_popcount(words: np.ndarray) -> np.ndarray:
    """The set bits of each word (for numpy before 2.0, which has no `bitwise_count`)."""
    words = words - ((words >> np.uint64(1)) & _each(0x55))
    words = (words & _each(0x33)) + ((words >> np.uint64(2)) & _each(0x33))
    words = (words + (words >> np.uint64(4))) & _each(0x0F)
    return ((words * _each(0x01)) >> np.uint64(56)).astype(np.uint8)


_popcount = getattr(np, "bitwise_count", _swar_popcount)


def _bytes_below(bits: np.ndarray) -> np.ndarray:
    """How many whole bytes come before each word's lowest set bit 7 (8 when none)."""
    lowest = bits & (~bits + np.uint64(1))
    return (_popcount(lowest - np.uint64(1)) >> np.uint8(3)).astype(np.int64)


def _fits(sl: _Slice, positions: np.ndarray, shape: bytes) -> np.ndarray:
    """Per position: the bytes there have `shape` (`d` a digit, `x` a lowercase hex digit,
    any other byte itself)."""
    return _fits_words(sl.words(positions, -(-len(shape) // 8)), shape)


def _fits_words(words: np.ndarray, shape: bytes) -> np.ndarray:
    """`_fits` of loaded words (one column per 8 bytes of `shape`)."""
    found = np.ones(len(words), dtype=bool)
    for column, offset in enumerate(range(0, len(shape), 8)):
        piece = shape[offset : offset + 8]
        loaded = words[:, column]
        digit = sum(0x80 << (8 * k) for k, c in enumerate(piece) if c in b"dx")
        hexes = sum(0x80 << (8 * k) for k, c in enumerate(piece) if c == ord("x"))
        fixed = sum(0xFF << (8 * k) for k, c in enumerate(piece) if c not in b"dx")
        text = int.from_bytes(bytes(0 if c in b"dx" else c for c in piece).ljust(8, b"\0"),
                              "little")
        if digit:
            flags = _digits(loaded)
            if hexes:
                flags |= _in_range(loaded, 0x61, 0x66) & np.uint64(hexes)
            found &= (flags & np.uint64(digit)) == np.uint64(digit)
        if fixed:
            found &= (loaded & np.uint64(fixed)) == np.uint64(text)
    return found


def _all_in(sl: _Slice, start: np.ndarray, end: np.ndarray, ranges: tuple, most: int
            ) -> np.ndarray:
    """Per span: every byte of [start, end) (at most `most` long) is in one of `ranges`."""
    found = end - start <= most
    for offset in range(0, most, 8):
        words = sl.at(start + offset)
        keep = _BYTE_MASKS[np.clip(end - start - offset, 0, 8)] & _HIGH
        flags = np.zeros(len(words), dtype=np.uint64)
        for low, high in ranges:
            flags |= _in_range(words, low, high)
        found &= (flags & keep) == keep
    return found


_KEYS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                  0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                  0x27D4EB2F165667C5, 0x94D049BB133111EB], dtype=np.uint64)


def _factorize_words(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes in order of first appearance, each code's first row) of the rows of a 2-D
    uint64 array: one hash per row factorized, then every row compared with its code's first
    row (a collision, never seen, falls back to `factorize_rows`)."""
    if len(words) == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    varying = [k for k in range(words.shape[1]) if not (words[:, k] == words[0, k]).all()]
    mixed = np.zeros(len(words), dtype=np.uint64)
    for k in varying:  # a column of one value tells no rows apart
        mixed = (mixed ^ words[:, k]) * _KEYS[k % len(_KEYS)]
        mixed ^= mixed >> np.uint64(29)
    codes = pd.factorize(mixed)[0]
    firsts = first_rows(codes)
    if not all(np.array_equal(words[firsts, k][codes], words[:, k])  # 1-D gathers are fast
               for k in varying):
        return factorize_rows(np.ascontiguousarray(words).view(np.uint8))
    return codes.astype(np.int32), firsts


_POWERS = 10.0 ** np.arange(16)


def _right_digits(words: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The value of the first `count` (0 to 8) ASCII digits of each word, as int64."""
    shift = (np.uint64(8) * (8 - count).astype(np.uint64)).clip(0, 56)
    right = np.where(count > 0, words << shift, 0).astype(np.uint64)
    return _eight_digits(right).astype(np.int64)


class _Slice:
    """A slice's bytes (padded) with unaligned views of 8 and 32 bytes at every position:
    `at(p)` loads 8 bytes at each position of p, `words(p, k)` k words, in one gather each.
    (The views are of void items, alignment 1: numpy copies them at memcpy speed, where a
    uint64 view of stride 1 goes through its slow path for unaligned data.)"""

    def __init__(self, data, pos: int, cut: int) -> None:
        size = cut - pos
        readable = min(len(data) - pos, size + PAD)
        if readable == size + PAD:
            self.buf = np.frombuffer(data, dtype=np.uint8, count=readable, offset=pos)
        else:  # the file's end: copy to pad
            self.buf = np.zeros(size + PAD, dtype=np.uint8)
            self.buf[:readable] = np.frombuffer(data, dtype=np.uint8, count=readable,
                                                offset=pos)
        self.size = size
        self._views: dict[int, np.ndarray] = {}

    def _view(self, width: int) -> np.ndarray:
        """The `width`-byte item at every position (void items, alignment 1)."""
        view = self._views.get(width)
        if view is None:
            view = self._views[width] = np.ndarray(
                shape=(self.size + PAD - width + 1,), dtype=f"V{width}", buffer=self.buf,
                strides=(1,))
        return view

    def at(self, positions: np.ndarray) -> np.ndarray:
        return self._view(8)[positions].view("<u8")

    def words(self, positions: np.ndarray, count: int) -> np.ndarray:
        """(len(positions), count) little-endian words from each position on."""
        if count <= 4:
            return self._view(8 * count)[positions].view("<u8").reshape(-1, count)
        parts = [self._view(32)[positions + 32 * k].view("<u8").reshape(-1, 4)
                 for k in range(count // 4)]
        if count % 4:
            parts.append(self.words(positions + 32 * (count // 4), count % 4))
        return np.hstack(parts)

    def has(self, positions: np.ndarray, text: bytes) -> bool:
        """`text` at every one of `positions`."""
        rows = self._view(len(text))[positions].view(np.uint8).reshape(-1, len(text))
        return bool((rows == np.frombuffer(text, dtype=np.uint8)).all())

    def rows(self, positions: np.ndarray, width: int) -> np.ndarray:
        """(len(positions), width) bytes starting at each position (width a multiple of 8)."""
        return np.ascontiguousarray(self.words(positions, width // 8)).view(np.uint8)


def _digit_values(sl: _Slice, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The decimal numbers written in [starts, ends) (1 to 15 digits each), or None when a run
    is not that: two 8-byte words right-aligned at each end."""
    lengths = ends - starts
    if len(lengths) and (lengths.min() < 1 or lengths.max() > 15):
        return None
    low_count = np.minimum(lengths, 8)
    value = np.zeros(len(lengths), dtype=np.int64)
    both = sl.words(ends - 16, 2)
    for words, count in ((both[:, 0], lengths - low_count), (both[:, 1], low_count)):
        keep = ~_BYTE_MASKS[8 - count]
        if not np.array_equal(_digits(words) & keep, keep & _HIGH):
            return None
        value = value * 100_000_000 + _eight_digits(words & keep).astype(np.int64)
    return value


def _all_digits(sl: _Slice, starts: np.ndarray, length: int) -> bool:
    """Every run of `length` bytes at `starts` is ASCII digits (on words: one gather)."""
    if length == 0 or len(starts) == 0:
        return True
    count = -(-length // 8)
    words = sl.words(starts, count)
    keep = _BYTE_MASKS[np.clip(length - 8 * np.arange(count), 0, 8)] & _HIGH
    return bool(((_digits(words) & keep) == keep).all())


def factorize_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes in order of first appearance, index of each code's first row) of the rows
    of a 2-D uint8 array (width a multiple of 8), without a Python object per row."""
    words = np.ascontiguousarray(rows).view("<u8")
    codes = np.zeros(len(rows), dtype=np.int64)
    for k in range(words.shape[1]):
        part, uniques = pd.factorize(words[:, k])
        if len(uniques) > 1:  # one value in this column tells no rows apart
            codes = pd.factorize(codes * len(uniques) + part)[0]
    firsts = np.unique(codes, return_index=True)[1]
    return codes.astype(np.int32), firsts


def _texts(sl: _Slice, starts: np.ndarray, ends: np.ndarray, width: int
           ) -> tuple[np.ndarray, list[bytes]] | None:
    """[starts, ends) factorized: (int32 codes, distinct bytes in order of first appearance).
    None when one is longer than `width` (a multiple of 8)."""
    lengths = ends - starts
    if len(lengths) and lengths.max() > width:
        return None
    count = max(1, width // 8)
    if len(lengths) and lengths.min() == lengths.max():  # one mask for all (stream names)
        keep = _BYTE_MASKS[np.clip(int(lengths[0]) - 8 * np.arange(count), 0, 8)]
    else:
        keep = _BYTE_MASKS[np.clip(lengths[:, None] - 8 * np.arange(count), 0, 8)]
    words = sl.words(starts, count) & keep
    if count == 1:  # the word is the text: no hash needed
        codes, _ = pd.factorize(words[:, 0])
        firsts = first_rows(codes)
        codes = codes.astype(np.int32)
    else:
        codes, firsts = _factorize_words(words)
    base = sl.buf
    values = [base[s:e].tobytes() for s, e in zip(starts[firsts].tolist(),
                                                  ends[firsts].tolist(), strict=True)]
    return codes, values


def _template(sl: _Slice, nl: np.ndarray) -> tuple | None:
    """(open line, closing line, the last event's closing line, [(prefix, suffix)] of the five
    key lines) from the slice's first event, or None when it is not in this layout."""
    buf = sl.buf
    if len(nl) < 14:
        return None
    lines = [buf[nl[k] + 1 : nl[k + 1]].tobytes() for k in range(7)]
    head = buf[: nl[0]].tobytes()
    last = buf[nl[-1] + 1 : sl.size].tobytes()
    closing = _CLOSE_RE.fullmatch(lines[6])
    if (not _HEAD_RE.fullmatch(head) or not _OPEN_RE.fullmatch(lines[0]) or closing is None
            or last != closing.group(1)):
        return None
    parts = []
    for regex, line in zip(_LINE_RES, lines[1:6], strict=True):
        match = regex.fullmatch(line)
        if match is None:
            return None
        parts.append((match.group(1), match.group(2)))
    return lines[0], lines[6], last, parts


def scan_slice(data, pos: int, cut: int) -> fs.Chunk | None:
    """The chunk of `data[pos:cut]` (event-aligned, from just after an event's `}`) when it is
    all events in the one-key-per-line layout, exactly as `fastscan._columns` makes it from
    `LINED_EVENT_RE`'s matches; None when this cannot be shown (read it with the regexes)."""
    sl = _Slice(data, pos, cut)
    body = sl.buf[: sl.size]
    nl = np.flatnonzero(body == 10)
    if len(nl) % fs.LINES_PER_EVENT:
        return None
    template = _template(sl, nl)
    if template is None:
        return None
    opening, closing, last, parts = template
    count = len(nl) // fs.LINES_PER_EVENT
    at = [nl[k :: fs.LINES_PER_EVENT] for k in range(fs.LINES_PER_EVENT)]
    spans = [(at[k] + 1 + len(parts[k - 1][0]), at[k + 1] - len(parts[k - 1][1]))
             for k in range(1, 6)]
    (stream_s, stream_e), (ts_s, ts_e), (msg_s, msg_e), (in_s, in_e), (id_s, id_e) = spans
    framed = _framed(sl, at, template, spans)
    if framed is False:
        return None
    if framed is None:  # lengths vary: line by line
        if not _lines_ok(sl, at, template):
            return None
        ts = _digit_values(sl, ts_s, ts_e)
        if ts is None or _digit_values(sl, in_s, in_e) is None:
            return None
        id_length = int(id_e[0] - id_s[0])
        if np.all(id_e - id_s == id_length):
            if not _all_digits(sl, id_s, id_length):
                return None
        elif (id_e - id_s).max() > 256 or not _all_in(sl, id_s, id_e, ((0x30, 0x39),),
                                                      -(-int((id_e - id_s).max()) // 8) * 8
                                                      ).all():
            return None
        if np.any(msg_e - msg_s < 0) or np.any(stream_e - stream_s < 1):
            return None
        width = -(-int((stream_e - stream_s).max()) // 8) * 8
        streams = _texts(sl, stream_s, stream_e, width) if width <= 256 else None
    else:
        ts, streams = framed
    if streams is None or any(b"\\" in s or b'"' in s for s in streams[1]):
        return None
    slashes = _escapes_ok(sl, body, msg_s, msg_e, count, parts)
    if slashes is None:
        return None
    return _chunk(data, sl, pos, count, ts, streams, msg_s, msg_e, slashes)


def _lines_ok(sl: _Slice, at: list[np.ndarray], template: tuple,
              events: np.ndarray | None = None) -> bool:
    """Each line's fixed bytes (of `events`, else all), as one string around the newline that
    ends the line before, and the lengths of the lines of fixed length."""
    opening, closing, last, parts = template
    count = len(at[0])
    events = np.arange(count) if events is None else events
    closed = events[events < count - 1]  # the slice's last event ends with `last`
    if not (np.all(at[1][events] - at[0][events] - 1 == len(opening))
            and np.all(at[0][closed + 1] - at[6][closed] - 1 == len(closing))):
        return False
    befores = [opening] + [suffix for _, suffix in parts]
    afters = [prefix for prefix, _ in parts] + [last]
    for k in range(1, 7):
        if not sl.has(at[k][events] - len(befores[k - 1]),
                      befores[k - 1] + b"\n" + afters[k - 1]):
            return False
    return sl.has(at[6][closed] + 1, closing)


def _framed(sl: _Slice, at: list[np.ndarray], template: tuple, spans: list
            ) -> tuple | bool | None:
    """(timestamps, factorized stream names) when every stream name, time, ingestion time and
    event id of the slice has one length: then all that lies between one message and the next
    is a frame of one length, fixed bytes at fixed places, read for all events with one
    gather of frames. None when the lengths vary, False when a frame is wrong."""
    opening, closing, last, parts = template
    (stream_s, stream_e), (ts_s, ts_e), (msg_s, msg_e), (in_s, in_e), (id_s, id_e) = spans
    count = len(msg_s)
    lengths = []
    for start, end in ((in_s, in_e), (id_s, id_e), (stream_s, stream_e), (ts_s, ts_e)):
        length = int(end[0] - start[0])
        if not np.all(end - start == length):
            return None
        lengths.append(length)
    ing, eid, name, stamp = lengths
    if not (1 <= ing <= 15 and 1 <= stamp <= 15 and name >= 1) or count < 3:
        return None
    (p1, s1), (p2, s2), (p3, s3), (p4, s4), (p5, s5) = parts
    pieces = [s3 + b"\n" + p4, ("digits", ing), s4 + b"\n" + p5, ("digits", eid),
              s5 + b"\n" + closing + b"\n" + opening + b"\n" + p1, ("name", name),
              s1 + b"\n" + p2, ("digits", stamp), s2 + b"\n" + p3]
    size = sum(len(piece) if isinstance(piece, bytes) else piece[1] for piece in pieces)
    if size > 4096:
        return None
    if not np.all(msg_s[1:] - msg_e[:-1] == size) or np.any(msg_e < msg_s):
        return False
    block = sl._view(size)[msg_e[:-1]].view(np.uint8).reshape(-1, size)
    where = 0
    places = []
    for piece in pieces:
        if isinstance(piece, bytes):
            if not (block[:, where : where + len(piece)]
                    == np.frombuffer(piece, dtype=np.uint8)).all():
                return False
            where += len(piece)
            continue
        what, length = piece
        if what == "digits" and not (
                (block[:, where : where + length] - np.uint8(48)) < 10).all():
            return False
        places.append(where)
        where += length
    _, _, name_at, stamp_at = places
    # the first event's lines before its message, the last one's after it: line by line
    ends = np.array([0, count - 1])
    if not _lines_ok(sl, at, template, ends):
        return False
    ts0 = _digit_values(sl, ts_s[:1], ts_e[:1])
    if (ts0 is None or _digit_values(sl, in_s[-1:], in_e[-1:]) is None
            or not _all_digits(sl, id_s[-1:], eid)):
        return False
    digits = (block[:, stamp_at : stamp_at + stamp] - np.uint8(48)).astype(np.int64)
    ts = np.concatenate([ts0, digits @ (10 ** np.arange(stamp - 1, -1, -1, dtype=np.int64))])
    names = np.zeros((count, -(-name // 8) * 8), dtype=np.uint8)
    names[1:, :name] = block[:, name_at : name_at + name]
    names[0, :name] = sl.buf[stream_s[0] : stream_e[0]]
    codes, firsts = _factorize_words(names.view(np.uint64))
    values = [sl.buf[s:e].tobytes() for s, e in zip(stream_s[firsts].tolist(),
                                                    stream_e[firsts].tolist(), strict=True)]
    return ts, (codes, values)


def _escapes_ok(sl: _Slice, body: np.ndarray, msg_s: np.ndarray, msg_e: np.ndarray,
                count: int, parts: list) -> np.ndarray | None:
    """The positions of the slice's backslashes (then one past every position), when no
    message holds an unescaped quote or ends in an escaping backslash; else None. A backslash
    escapes the next byte when it is at an even place in its run of backslashes; the quotes
    so escaped and the fixed ones must be all the slice's quotes."""
    slashes = np.flatnonzero(body == 92)
    after = sl.buf[slashes + 1]
    if np.any(after == 92):  # escaped backslashes: which ones escape is the runs' parity
        new_run = np.ones(len(slashes), dtype=bool)
        new_run[1:] = slashes[1:] != slashes[:-1] + 1
        starts = np.flatnonzero(new_run)
        escaping = (np.arange(len(slashes)) - starts[np.cumsum(new_run) - 1]) % 2 == 0
    else:
        escaping = None
    ends = msg_e[msg_e > msg_s] - 1
    ends = ends[sl.buf[ends] == 92]
    if len(ends) and (escaping is None
                      or escaping[np.searchsorted(slashes, ends)].any()):
        return None  # a closing quote escaped
    quoted = after == 34
    if escaping is not None:
        quoted &= escaping
    fixed = sum(prefix.count(b'"') + suffix.count(b'"') for prefix, suffix in parts)
    if np.count_nonzero(body == 34) != fixed * count + np.count_nonzero(quoted):
        return None
    return np.append(slashes, len(sl.buf))


def _candidates(sl: _Slice, msg_s: np.ndarray, msg_len: np.ndarray) -> dict[str, np.ndarray]:
    """Per kind, the events whose message opens with its tag."""
    head = sl.words(msg_s, 2)
    first, second = head[:, 0], head[:, 1]
    out = {}
    for kind, tag in _TAGS.items():
        if len(tag) <= 8:
            hit = (first & _mask(len(tag))) == _word(tag)
        else:
            hit = (first == _word(tag[:8])) & ((second & _mask(len(tag) - 8))
                                               == _word(tag[8:]))
        out[kind] = np.flatnonzero(hit & (msg_len >= len(tag)))
    out["node"] = np.flatnonzero(_fits_words(head, b"dddd-dd-ddT") & (msg_len >= 11))
    return out


_PARSERS = {"start": "_parse_start", "end": "_parse_end", "report": "_parse_report",
            "node": "_parse_node", "py": "_parse_py", "jstart": "_parse_jtime",
            "japp": "_parse_japp"}


def _chunk(data, sl: _Slice, pos: int, count: int, ts: np.ndarray,
           streams: tuple[np.ndarray, list[bytes]], msg_s: np.ndarray, msg_e: np.ndarray,
           slashes: np.ndarray) -> fs.Chunk:
    """The chunk `fastscan._columns` makes of the same events."""
    other_code = len(fs.KINDS) - 1
    kinds = np.full(count, other_code, dtype=np.int8)
    fields: dict[str, object] = {}
    first_slash = np.searchsorted(slashes, msg_s)
    for tag_kind, index in _candidates(sl, msg_s, msg_e - msg_s).items():
        if len(index) == 0:
            continue
        rows = _Rows(sl, slashes, first_slash[index], msg_s[index], msg_e[index])
        try:
            parsed = globals()[_PARSERS[tag_kind]](rows)
            if "_split" in parsed:  # two kinds, each parsed on its own rows
                found = {}
                for kind, sub, sub_parsed, sub_index in parsed["_split"]:
                    (matched, values), = _vector_fields(sl, sub, sub_parsed).values()
                    full = np.zeros(len(index), dtype=bool)
                    full[sub_index[matched]] = True
                    found[kind] = (full, values)
            else:
                found = _vector_fields(sl, rows, parsed)
        except _Undecided:
            found = _regex_fields(data, tag_kind, pos + msg_s[index], pos + msg_e[index])
        for kind, (matched, values) in found.items():
            kinds[index[matched]] = fs.KINDS.index(kind)
            fields.update(values)
    codes, names = streams
    chunk = fs.Chunk(kinds, np.arange(1, fs.LINES_PER_EVENT * count, fs.LINES_PER_EVENT,
                                      dtype=np.int64),
                     ts.astype(np.float64), [name.decode("utf-8") for name in names], codes,
                     newlines=fs.LINES_PER_EVENT * count, tokens=[])
    ids: list[tuple[str, np.ndarray]] = []
    for code, kind in enumerate(fs.KINDS[:-1]):
        chunk.fields[kind] = np.flatnonzero(kinds == code)
        for name in fs.KIND_GROUPS[kind]:
            value = fields.get(name)
            if name in fs.ID_GROUPS:
                ids.append((name, np.zeros((0, 5), np.uint64) if value is None else value))
            else:
                chunk.fields[name] = fs._field(name, []) if value is None else value
    id_rows = np.concatenate([rows for _, rows in ids])
    id_codes, firsts = _factorize_words(id_rows)
    distinct = np.ascontiguousarray(id_rows[firsts]).view(np.uint8)  # byte 36 is 0: the NUL
    table = fs.IdTable(distinct[:, :37].tobytes()[:-1])
    at = 0
    for name, rows in ids:
        chunk.fields[name] = fs.Ids(id_codes[at : at + len(rows)], table)
        at += len(rows)
    other = np.flatnonzero(kinds == other_code)
    starts, ends = (pos + msg_s[other]).tolist(), (pos + msg_e[other]).tolist()
    chunk.others = list(zip(other.tolist(), _pieces(data, starts, ends), strict=True))
    return chunk


def _vector_fields(sl: _Slice, rows: _Rows, parsed: dict) -> dict[str, tuple]:
    """{kind: (matched candidates, {group: field as the chunk holds it})} from a parse."""
    ok = rows.ok
    texts = {}
    for name, spec in parsed.items():
        if isinstance(spec, tuple) and spec[0] == "text":
            start, end, pattern = spec[1:4]
            present = spec[4] if len(spec) > 4 else None
            ok &= (end > start) | (False if present is None else ~present)
            texts[name] = _text_field(sl, start, end, ok, pattern)
    masks = {next(iter(parsed)).split("_")[0]: ok}
    out = {}
    for kind, matched in masks.items():
        where = np.flatnonzero(matched)
        values: dict[str, object] = {}
        for name in fs.KIND_GROUPS[kind]:
            spec = parsed[name]
            if name in texts:
                values[name] = _subset(texts[name], where)
            elif isinstance(spec, np.ndarray):  # request ids
                values[name] = spec[where]
            else:
                how, numbers, present = spec
                values[name] = _numbers_field(numbers[where],
                                              None if present is None else present[where],
                                              how == "int")
        out[kind] = (matched, values)
    return out


def _regex_fields(data, tag_kind: str, starts: np.ndarray, ends: np.ndarray
                  ) -> dict[str, tuple]:
    """`_vector_fields` by the kind's regex over the candidates' messages joined."""
    found = _joined_matches(data, tag_kind, starts, ends)
    names = _ALT_GROUPS[tag_kind]
    matched = ~np.fromiter(map(bool, map(itemgetter(len(names)), found)), bool, len(found))
    if tag_kind == "jstart":
        is_start = np.fromiter(map(bool, map(itemgetter(0), found)), bool, len(found))
        masks = {"jstart": matched & is_start, "jreport": matched & ~is_start}
    else:
        masks = {tag_kind: matched}
    out = {}
    for kind, mask in masks.items():
        picked = [row for row, keep in zip(found, mask.tolist(), strict=True) if keep]
        values: dict[str, object] = {}
        for name in fs.KIND_GROUPS[kind]:
            captured = list(map(itemgetter(names.index(name)), picked))
            if name in fs.ID_GROUPS:
                rows = np.zeros((len(captured), 40), dtype=np.uint8)
                if captured:
                    rows[:, :36] = np.frombuffer(b"".join(captured), np.uint8).reshape(-1, 36)
                values[name] = rows.view(np.uint64)
            else:
                values[name] = fs._field(name, captured)
        out[kind] = (mask, values)
    return out


def _pieces(data, starts: list[int], ends: list[int]) -> list[bytes]:
    """data[start:end] for each pair (slices taken in C, no Python loop)."""
    if not starts:
        return []
    taken = itemgetter(*map(slice, starts, ends))(data)
    return list(taken) if len(starts) > 1 else [taken]


def _joined_matches(data, kind: str, starts: np.ndarray, ends: np.ndarray) -> list[tuple]:
    """`JOINED_RES[kind]` over the messages [starts, ends) joined by newlines."""
    joined = b"\n".join(_pieces(data, starts.tolist(), ends.tolist())) + b"\n"
    found = JOINED_RES[kind].findall(joined)
    assert len(found) == len(starts)
    return found


_UUID_SHAPE = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_STAMP = ((0x30, 0x3A), (0x2D, 0x2E), (0x54, 0x54), (0x5A, 0x5A))
"""[0-9T:.Z-] as byte ranges (`:` is 0x3A, next to the digits)."""
_LEVEL_RE = re.compile(_LEVEL)
_VERSION_RE = re.compile(rb"[\w$.-]+")
_STATUS_RE = re.compile(rb"[a-z]+")
_ERROR_RE = re.compile(rb"[\w.]+")
_WORD_RE = re.compile(rb"[A-Za-z]{1,20}")


class _Undecided(Exception):
    """A candidate this vectorized parse cannot settle (a number of more than 15 digits, a text
    wider than its window): the kind's candidates of the slice go through its regex."""


class _Rows:
    """A cursor per candidate message: `p` advances over what each step reads, `ok` says which
    messages still match the shape (a step on one that no longer does reads harmless bytes).
    `slashes`: the slice's backslash positions, then one past every position; `first`: the
    index there of each message's first backslash. The shapes' fields hold no backslash, so
    while a message matches, the next one after `p` is its `k`-th, `k` the count of those in
    the literals read so far: one lookup, no search."""

    def __init__(self, sl: _Slice, slashes: np.ndarray, first: np.ndarray, start: np.ndarray,
                 end: np.ndarray) -> None:
        self.sl, self.slashes, self.first = sl, slashes, first
        self.p, self.end = start.copy(), end
        self.ok = np.ones(len(start), dtype=bool)
        self.k = np.zeros(len(start), dtype=np.int64)

    def subset(self, index: np.ndarray) -> _Rows:
        """The cursors of the rows at `index`, on their own."""
        sub = _Rows(self.sl, self.slashes, self.first[index], self.p[index], self.end[index])
        sub.ok, sub.k = self.ok[index], self.k[index]
        return sub

    def _moved(self) -> None:
        beyond = self.p > self.end
        if beyond.any():
            self.ok &= ~beyond
            self.p = np.minimum(self.p, self.end)

    def lit(self, text: bytes, where: np.ndarray | None = None) -> None:
        """`text` must come next (in the rows of `where` only, when given)."""
        found = _matches(self.sl, self.p, text)
        slashes = text.count(b"\\")
        if where is None:
            self.ok &= found
            self.p = self.p + len(text)
            self.k = self.k + slashes
        else:
            self.ok &= found | ~where
            self.p = self.p + np.where(where, len(text), 0)
            self.k = self.k + np.where(where, slashes, 0)
        self._moved()

    def opt(self, text: bytes, where: np.ndarray) -> np.ndarray:
        """`text` may come next (in the rows of `where`): the rows that have it, moved past."""
        found = _matches(self.sl, self.p, text) & where
        self.p = self.p + np.where(found, len(text), 0)
        self.k = self.k + np.where(found, text.count(b"\\"), 0)
        self._moved()
        return found

    def uuid(self) -> np.ndarray:
        """A request id next: its 36 bytes as 5 words per row (the last 4 bytes zero)."""
        words = self.sl.words(self.p, 5)
        words[:, 4] &= np.uint64(0xFFFFFFFF)
        self.ok &= _fits_words(words, _UUID_SHAPE)
        self.p = self.p + 36
        self._moved()
        return words

    def to_slash(self) -> tuple[np.ndarray, np.ndarray]:
        """The span up to the next backslash (or the message's end)."""
        nxt = self.slashes[np.minimum(self.first + self.k, len(self.slashes) - 1)]
        end = np.minimum(nxt, self.end)
        start, self.p = self.p, end
        return start, end

    def number(self, integer: bool, where: np.ndarray | None = None) -> np.ndarray:
        """`\\d{1,9}` (integer) or `\\d{1,15}(?:\\.\\d{1,15})?` next, as int64 or float64:
        the run of digits and dots read from one 8-byte word (a longer run: `_wide_number`)."""
        live = self.ok if where is None else self.ok & where
        words = self.sl.at(self.p)
        dots = _equal(words, 0x2E)
        run = _bytes_below(~(_digits(words) | dots) & _HIGH)
        if integer:
            good = (run >= 1) & (run <= 7) & ((dots & _BYTE_MASKS[run]) == 0)
            values = _right_digits(words & _BYTE_MASKS[run], run)
            wide = live & (run == 8)
            if wide.any():
                values, good, run = self._wide_number(wide, values, good, run, True)
        else:
            inside = dots & _BYTE_MASKS[run]
            count = _popcount(inside)
            at = _bytes_below(inside)  # the dot's byte (run when there is none)
            after = np.where(count == 1, run - at - 1, 0)
            good = (run >= 1) & (run <= 7) & (at >= 1) & (count <= 1) & ((count == 0)
                                                                         | (after >= 1))
            kept = words & _BYTE_MASKS[run]
            low = _BYTE_MASKS[np.minimum(at, 8)]
            joined = (kept & low) | ((kept >> np.uint64(8)) & ~low)  # the dot taken out
            values = _right_digits(joined, run - count) / _POWERS[after]
            wide = live & (run == 8)
            if wide.any():
                values, good, run = self._wide_number(wide, values, good, run, False)
        if where is None:
            self.ok &= good
            self.p = self.p + run
        else:
            self.ok &= good | ~where
            self.p = self.p + np.where(where, run, 0)
        self._moved()
        return values

    def _wide_number(self, wide: np.ndarray, values: np.ndarray, good: np.ndarray,
                     run: np.ndarray, integer: bool) -> tuple:
        """A number of 8 or more characters: read from a 32-byte window (rare)."""
        index = np.flatnonzero(wide)
        window = self.sl.rows(self.p[index], 32)
        digit = (window - np.uint8(48)) < 10
        dot = window == 46
        length = np.argmin(digit | dot, axis=1)
        if np.any((digit | dot).all(axis=1)):
            raise _Undecided
        inside = np.arange(32) < length[:, None]
        dot &= inside
        digit &= inside
        dots = dot.sum(axis=1)
        total = digit.sum(axis=1)
        before = np.where(dots == 1, np.argmax(dot, axis=1), length)
        after = np.where(dots == 1, total - before, 0)
        if integer:
            ok = (dots == 0) & (length <= 9)
        else:
            ok = (before >= 1) & (before <= 15) & ((dots == 0) | ((dots == 1) & (after >= 1)
                                                                   & (after <= 15)))
        if np.any(ok & (total > 15)):
            raise _Undecided  # not exact as one int64 over a power of ten
        power = total[:, None] - np.cumsum(digit, axis=1)
        mantissa = np.where(digit, (window - np.uint8(48)).astype(np.int64)
                            * 10 ** np.clip(power, 0, 15), 0).sum(axis=1)
        values, good, run = values.copy(), good.copy(), run.copy()
        values[index] = mantissa if integer else mantissa / _POWERS[after]
        good[index] = ok
        run[index] = length
        return values, good, run
    def done(self) -> None:
        self.ok &= self.p == self.end


def _matches(sl: _Slice, positions: np.ndarray, text: bytes) -> np.ndarray:
    """Per position: `text` there."""
    count = -(-len(text) // 8)
    loaded = sl.words(positions, count)
    expected = np.frombuffer(text.ljust(8 * count, b"\0"), dtype="<u8")
    found = None
    for k in range(count):
        column = loaded[:, k]
        if k == count - 1 and len(text) % 8:
            column = column & _mask(len(text) % 8)
        found = column == expected[k] if found is None else found & (column == expected[k])
    return found


def _text_field(sl: _Slice, start: np.ndarray, end: np.ndarray, ok: np.ndarray, pattern,
                most: int = 32) -> tuple[np.ndarray, list[bytes]]:
    """A short text's rows factorized; rows whose text does not fullmatch `pattern` (when
    given; the empty text is absent, never checked) are cleared from `ok` in place."""
    start, end = start.copy(), end.copy()
    end[~ok] = start[~ok]
    longest = int((end - start).max()) if len(start) else 0
    if longest > most:
        raise _Undecided
    codes, values = _texts(sl, start, end, max(8, -(-longest // 8) * 8))
    if pattern is not None:
        bad = np.array([bool(v) and pattern.fullmatch(v) is None for v in values] + [False])
        ok &= ~bad[codes]
    return codes, values


def _subset(field: tuple[np.ndarray, list[bytes]], rows: np.ndarray) -> tuple:
    """The factorized field over `rows` only (codes in order of first appearance there)."""
    codes, values = field
    new, old = pd.factorize(codes[rows])
    return new.astype(np.int32), [values[k] for k in old]


def _numbers_field(values: np.ndarray, present: np.ndarray | None, integer: bool
                   ) -> np.ndarray:
    """`fastscan._numbers` of these values (absent ones: floats with NaN)."""
    if len(values) == 0:
        return np.zeros(0)
    if present is None or present.all():
        return values.astype(np.int64 if integer else np.float64)
    out = np.full(len(values), np.nan)
    out[present] = values[present]
    return out


def _parse_start(r: _Rows) -> dict:
    r.lit(b"START RequestId: ")
    rid = r.uuid()
    r.lit(b" Version: ")
    tail = r.end - r.p
    newline = (tail >= 2) & _matches(r.sl, r.end - 2, b"\\n")
    version = (r.p, r.end - np.where(newline, 2, 0))
    r.p = r.end
    return {"start_rid": rid, "start_version": ("text", *version, _VERSION_RE)}


def _parse_end(r: _Rows) -> dict:
    r.lit(b"END RequestId: ")
    rid = r.uuid()
    r.opt(b"\\n", r.end - r.p >= 2)
    r.done()
    return {"end_rid": rid}


def _parse_report(r: _Rows) -> dict:
    r.lit(b"REPORT RequestId: ")
    out: dict[str, object] = {"report_rid": r.uuid()}
    r.lit(b"\\tDuration: ")
    out["report_duration"] = ("number", r.number(False), None)
    r.lit(b" ms\\tBilled Duration: ")
    out["report_billed"] = ("number", r.number(False), None)
    r.lit(b" ms\\tMemory Size: ")
    out["report_memory"] = ("int", r.number(True), None)
    r.lit(b" MB\\tMax Memory Used: ")
    out["report_max_memory"] = ("int", r.number(True), None)
    r.lit(b" MB")
    has = r.opt(b"\\tInit Duration: ", r.ok)
    out["report_init"] = ("number", r.number(False, has), has)
    r.lit(b" ms", has)
    has = r.opt(b"\\tStatus: ", r.ok)
    start, end = r.to_slash()
    r.p = np.where(has, end, start)
    out["report_status"] = ("text", start, np.where(has, end, start), _STATUS_RE, has)
    has = r.opt(b"\\tError Type: ", r.ok)
    start, end = r.to_slash()
    r.p = np.where(has, end, start)
    out["report_error"] = ("text", start, np.where(has, end, start), _ERROR_RE, has)
    r.opt(b"\\t", r.end - r.p >= 2)
    r.opt(b"\\n", r.end - r.p >= 2)
    r.done()
    return out


def _parse_node(r: _Rows) -> dict:
    r.ok &= _fits(r.sl, r.p, b"dddd-dd-ddTdd:dd:dd.dddZ")
    r.p = r.p + 24
    r.lit(b"\\t")
    rid = r.uuid()
    r.lit(b"\\t")
    level = r.to_slash()
    r.lit(b"\\t")
    r.p = r.end  # the rest is any text (escapes were checked for the whole slice)
    return {"node_rid": rid, "node_level": ("text", *level, _LEVEL_RE)}


def _parse_py(r: _Rows) -> dict:
    r.lit(b"[")
    start, slash = r.to_slash()
    r.ok &= _matches(r.sl, slash - 1, b"]") & (slash - 1 >= start)
    level = (start, np.maximum(slash - 1, start))
    r.lit(b"\\t")
    stamp_start, stamp_end = r.to_slash()
    r.ok &= _all_in(r.sl, stamp_start, stamp_end, _STAMP, 40) & (stamp_end > stamp_start)
    r.lit(b"\\t")
    rid = r.uuid()
    r.lit(b"\\t")
    r.p = r.end
    return {"py_level": ("text", *level, _LEVEL_RE), "py_rid": rid}


def _q(text: bytes) -> bytes:
    return text.replace(b'"', b'\\"')


def _parse_japp(r: _Rows) -> dict:
    r.lit(_q(b'{"timestamp":"'))
    start, end = r.to_slash()
    r.ok &= end - start <= 40
    r.lit(_q(b'","level":"'))
    level = r.to_slash()
    r.lit(_q(b'","requestId":"'))
    rid = r.uuid()
    r.lit(_q(b'","message":"'))
    r.to_slash()
    r.lit(_q(b'"}'))
    r.done()
    return {"japp_level": ("text", *level, _WORD_RE), "japp_rid": rid}


def _parse_jtime(r: _Rows) -> dict:
    """`platform.start` and `platform.report`: their common opening, then each of the two on
    its own rows."""
    r.lit(_q(b'{"time":"'))
    start, end = r.to_slash()
    r.ok &= _all_in(r.sl, start, end, (*_STAMP, (0x2B, 0x2B)), 40) & (end > start)
    r.lit(_q(b'","type":"platform.'))
    starts = r.opt(_q(b'start","record":{"requestId":"'), r.ok)
    reports = r.opt(_q(b'report","record":{"requestId":"'), r.ok & ~starts)
    split = []
    for kind, rows, parse in (("jstart", starts, _parse_jstart), ("jreport", reports,
                                                                   _parse_jreport)):
        index = np.flatnonzero(rows)
        sub = r.subset(index)
        split.append((kind, sub, parse(sub), index))
    return {"_split": split}


def _parse_jstart(r: _Rows) -> dict:
    rid = r.uuid()
    r.lit(_q(b'","version":"'))
    version = r.to_slash()
    r.lit(_q(b'"}}'))
    r.done()
    return {"jstart_rid": rid, "jstart_version": ("text", *version, _VERSION_RE)}


def _parse_jreport(r: _Rows) -> dict:
    out: dict[str, object] = {"jreport_rid": r.uuid()}
    r.lit(_q(b'","metrics":{"durationMs":'))
    out["jreport_duration"] = ("number", r.number(False), None)
    r.lit(_q(b',"billedDurationMs":'))
    out["jreport_billed"] = ("number", r.number(False), None)
    r.lit(_q(b',"memorySizeMB":'))
    out["jreport_memory"] = ("int", r.number(True), None)
    r.lit(_q(b',"maxMemoryUsedMB":'))
    out["jreport_max_memory"] = ("int", r.number(True), None)
    has = r.opt(_q(b',"initDurationMs":'), r.ok)
    out["jreport_init"] = ("number", r.number(False, has), has)
    r.lit(_q(b'},"status":"'))
    out["jreport_status"] = ("text", *r.to_slash(), _STATUS_RE)
    r.lit(_q(b'"'))
    has = r.opt(_q(b',"errorType":"'), r.ok)
    start, end = r.to_slash()
    r.p = np.where(has, end, start)
    out["jreport_error"] = ("text", start, np.where(has, end, start), _ERROR_RE, has)
    r.lit(_q(b'"'), has)
    r.lit(_q(b"}}"))
    r.done()
    return out
