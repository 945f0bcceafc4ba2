"""The ingest fast path: a large `filter-log-events` export straight to the analysis' frames.

The general path builds one record object per event and then turns records into columns
(`analysis.frames.records_to_frames`). For the shapes that make up nearly all of a big export
(see `fastscan`), this path skips the objects: both cores scan byte ranges of the mapped file
(`parallel`), and the captured fields become the very same columns. Messages of any other shape
go through `platform.parse_event` as before, and the `attribute` post-pass is done on columns.

The result must be identical to the general path's (tests compare both on every sample); when
the input holds anything the scanner does not read, or a case the columnar post-pass does not
cover (RIE output, split XRAY lines, records without a stream), `read_fast` returns None and the
caller reads the file the general way. `LCTRACE_FASTPATH=0` turns the fast path off.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import mmap
import os
from collections.abc import Sequence
from dataclasses import fields, replace
from operator import attrgetter

import numpy as np

from lifecycle_trace import config, records
from lifecycle_trace.analysis.frames import REQUEST_CODE, STREAM_CODE
from lifecycle_trace.ingest import fastscan
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform_common import function_for

FORMATS = frozenset({"filter-log-events", "get-log-events"})
MIN_PARALLEL_BYTES = 16 << 20
"""Smaller inputs are scanned in this process (forking costs more than it saves)."""

_PARSER_FAULTS = (ValueError, OverflowError, TypeError, KeyError, IndexError, AttributeError,
                  RecursionError)
_ATTRIBUTED = (records.AppLine, records.TimedOut, records.RuntimeExit, records.RuntimeDone)
_INIT_BEGINS = (records.InitStart, records.RestoreStart)
_INIT_ENDS = (records.InitReport, records.InitRuntimeDone, records.RestoreReport)

# canonical kind -> (record type, dialect, {field: (group, how)}); how: str, float, int, upper
_TEXT, _JSON = records.TEXT, records.JSON
CANONICAL: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "start": ("Start", _TEXT, {"request_id": ("start_rid", "str"),
                               "version": ("start_version", "str")}),
    "end": ("End", _TEXT, {"request_id": ("end_rid", "str")}),
    "report": ("Report", _TEXT, {
        "request_id": ("report_rid", "str"), "duration_ms": ("report_duration", "float"),
        "billed_ms": ("report_billed", "float"), "memory_mb": ("report_memory", "int"),
        "max_memory_mb": ("report_max_memory", "int"), "init_ms": ("report_init", "float"),
        "status": ("report_status", "str"), "error_type": ("report_error", "str")}),
    "node": ("AppLine", _TEXT, {"request_id": ("node_rid", "str"),
                                "level": ("node_level", "str")}),
    "py": ("AppLine", _TEXT, {"request_id": ("py_rid", "str"), "level": ("py_level", "str")}),
    "jstart": ("Start", _JSON, {"request_id": ("jstart_rid", "str"),
                                "version": ("jstart_version", "str")}),
    "jreport": ("Report", _JSON, {
        "request_id": ("jreport_rid", "str"), "duration_ms": ("jreport_duration", "float"),
        "billed_ms": ("jreport_billed", "float"), "memory_mb": ("jreport_memory", "int"),
        "max_memory_mb": ("jreport_max_memory", "int"), "init_ms": ("jreport_init", "float"),
        "status": ("jreport_status", "str"), "error_type": ("jreport_error", "str")}),
    "japp": ("AppLine", _JSON, {"request_id": ("japp_rid", "str"),
                                "level": ("japp_level", "upper")}),
}
_CLASSES = {cls.__name__: cls for cls in (records.Start, records.End, records.Report,
                                          records.AppLine)}


def enabled() -> bool:
    """False when `LCTRACE_FASTPATH=0` asks for the general path everywhere."""
    return config.get_bool(config.FASTPATH)


def candidate(path: str, input_format: str | None) -> tuple[str, str] | None:
    """(source name, format) when `path` is a plain file in a format the fast path reads."""
    from lifecycle_trace.ingest import _external_detectors
    from lifecycle_trace.ingest.detect import sniff
    from lifecycle_trace.ingest.opening import GZIP_MAGIC, open_input

    if not enabled() or path == "-" or "://" in str(path) or not os.path.isfile(path):
        return None
    if os.path.getsize(path) == 0:
        return None
    opened = open_input(path)
    try:
        if opened.head.startswith((GZIP_MAGIC, b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
            return None
        name = input_format or sniff(opened.head, opened.path, _external_detectors())
        source = opened.name
    finally:
        opened.close()
    return (source, name) if name in FORMATS else None


def read_fast(path: str, input_format: str | None, workers: int | None = None
              ) -> tuple[SourceStats, dict[str, dict[str, object]], int] | None:
    """One input's (stats, per-type columns, record count), or None: not for this path."""
    found = candidate(path, input_format)
    if found is None:
        return None
    source, name = found
    size = os.path.getsize(path)
    frozen = gc.isenabled()
    gc.disable()  # millions of small objects, no cycles: the collector only costs time here
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                   access=mmap.ACCESS_READ) as data:
            try:
                from lifecycle_trace.ingest.parallel import scan_file

                chunks = scan_file(data, path, workers=workers,
                                   parallel=size >= MIN_PARALLEL_BYTES,
                                   started=_heap_returning)
                fastscan.check_tokens([token for chunk in chunks for token in chunk.tokens])
            except (fastscan.Unsupported, UnicodeDecodeError, ValueError):
                return None
        stats = SourceStats(path=source, format=name)
        built = _assemble(chunks, source, stats)
    finally:
        if frozen:
            gc.enable()
        _trim_heap()
        _heap_keeping()
    if built is None:
        return None
    columns, count = built
    stats.records = count
    if count == 0:
        return None
    return stats, columns, count


RETURNED_BLOCK = 128 << 10
"""During the read (in this process, not in the scanning workers), blocks from this size up
are mapped on their own, so each goes back to the system when freed. glibc's own threshold
starts there but rises to the largest block freed (up to 32 MB): then the scanned chunks and
the pieces made of them (blocks of 0.1-8 MB, freed while every column is being built) stay in
the heap, and the read's peak at 1 M invocations was ~1010 MB for ~630 MB of columns (the
trim at its end then handed back ~390 MB). The workers keep the rising threshold: they are
forked before it is set (mapped blocks there cost ~40% more scan time in faulted pages)."""
KEPT_BLOCK = 32 << 20
"""After the read: the threshold glibc's own would have risen to (its maximum), so the later
stages keep their speed (128 KB there made them ~0.5-1 s slower at 1 M invocations)."""


@functools.cache
def _libc():
    """The C library (for glibc's malloc settings), or None."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        return ctypes.CDLL(ctypes.util.find_library("c"))
    return None


def _set_mmap_threshold(size: int) -> None:
    """glibc's M_MMAP_THRESHOLD (and M_TRIM_THRESHOLD, twice it, as glibc sets it itself)."""
    libc = _libc()
    with contextlib.suppress(AttributeError, TypeError, OSError):
        if libc is not None:
            libc.mallopt(-3, size)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 2 * size)  # M_TRIM_THRESHOLD


def _heap_returning() -> None:
    """Large blocks freed during the read go back to the system at once (`RETURNED_BLOCK`)."""
    _set_mmap_threshold(RETURNED_BLOCK)


def _heap_keeping() -> None:
    """After the read: large blocks kept for reuse again (`KEPT_BLOCK`)."""
    _set_mmap_threshold(KEPT_BLOCK)


def _trim_heap() -> None:
    """Hand the memory the read let go of back to the system: glibc keeps freed heap memory
    for reuse (the small objects and blocks below `RETURNED_BLOCK`), and the later stages'
    peak would be counted on top of it. Once, at the end: trimmed within the read (after each
    type's columns), its own peak fell but the pages handed back were faulted in again at a
    cost of ~0.3 s. Nothing where there is no glibc."""
    libc = _libc()
    with contextlib.suppress(AttributeError, TypeError, OSError):
        if libc is not None:
            libc.malloc_trim(0)


def _parse_others(chunks: list[fastscan.Chunk], line_bases: list[int], source: str,
                  stats: SourceStats) -> list[list[tuple[int, list]]]:
    """Messages of no canonical shape, through the general message parser, in file order."""
    from lifecycle_trace.ingest.platform import parse_event

    out = []
    for chunk, base in zip(chunks, line_bases, strict=True):
        parsed = []
        for index, raw in chunk.others:
            line = base + int(chunk.lines[index])
            event = LogEvent(source, line, chunk.streams[chunk.stream_codes[index]],
                             float(chunk.ts[index]), fastscan.decode_message(raw))
            try:
                parsed.append((index, parse_event(event, stats)))
            except _PARSER_FAULTS as error:
                stats.skip(line, f"message not parsed ({type(error).__name__}: "
                                 f"{str(error)[:80]})")
                parsed.append((index, []))
        out.append(parsed)
    return out


class _Captured:
    """One field of one kind's events as the scanner sent it, made into values only when its
    column is built (so only one column's values are held twice at a time)."""

    __slots__ = ("captured", "count", "how")

    def __init__(self, captured: object, count: int, how: str) -> None:
        self.captured, self.count, self.how = captured, count, how

    def values(self) -> object:
        return _values(self.captured, self.count, self.how)


class _IdSpace:
    """One code per distinct request id across every slice and record type of an input, so
    the merge can group on these integers instead of hashing millions of strings again. The
    slices' id tables are numbered all at once on their bytes (36 per id: one hash per id,
    every id then compared with its code's first), in the order the chunks hold them."""

    def __init__(self, tables: list[fastscan.IdTable]) -> None:
        self.tables = tables
        self.remaps: dict[int, np.ndarray] | None = None
        self._values: np.ndarray | None = None

    def codes(self, table: fastscan.IdTable) -> np.ndarray:
        """The global code of each id of `table`."""
        if self.remaps is None:
            self._number()
        return self.remaps[id(table)]

    def values(self) -> np.ndarray:
        """Each code's id (a str)."""
        if self._values is None:
            self._number()
        return self._values

    def _number(self) -> None:
        from lifecycle_trace.ingest.fastscan_lined import _factorize_words

        blobs = [_blob(table) for table in self.tables]
        counts = [blob.count(b"\0") + 1 if blob else 0 for blob in blobs]
        if any(len(blob) != 37 * count - 1 for blob, count in zip(blobs, counts, strict=True)
               if count):
            self._number_strings()
            return
        total = sum(counts)
        words = np.empty((total, 5), dtype=np.uint64)  # an id's 36 bytes, 4 bytes of zeros
        at = 0
        for blob, count in zip(blobs, counts, strict=True):  # 37 bytes per id (36, a NUL)
            for k, width in enumerate((8, 8, 8, 8, 4) if count else ()):
                words[at : at + count, k] = np.ndarray(
                    shape=(count,), dtype=f"V{width}", buffer=blob, offset=8 * k,
                    strides=(37,)).view("<u8" if width == 8 else "<u4")
            at += count
        del blobs
        codes, firsts = _factorize_words(words)
        ends = np.cumsum(counts)
        self.remaps = {id(table): codes[end - count : end].astype(np.int64)
                       for table, count, end in zip(self.tables, counts, ends, strict=True)}
        del codes
        rows = np.zeros((len(firsts), 40), dtype=np.uint8)  # each distinct id, then a NUL
        rows.view(np.uint64)[:] = words[firsts]
        del words
        rows = rows[:, :37]
        text = str(memoryview(np.ascontiguousarray(rows)).cast("B")[:-1], "ascii")
        del rows
        self._values = np.empty(len(firsts), dtype=object)
        self._values[:] = text.split("\0") if text else []
        del text
        for table in self.tables:  # numbered: their bytes are not needed again
            table.numbered(self._values, self.remaps[id(table)])

    def _number_strings(self) -> None:
        """The ids as strings, one dict (for ids of another length than 36: never made by the
        scanners, kept for safety)."""
        index: dict[str, int] = {}
        self.remaps = {}
        for table in self.tables:
            strings = table.decoded()
            self.remaps[id(table)] = np.fromiter(
                (index.setdefault(text, len(index)) for text in strings), dtype=np.int64,
                count=len(strings))
        self._values = np.empty(len(index), dtype=object)
        self._values[:] = list(index)


def _blob(table: fastscan.IdTable) -> bytes:
    """A table's NUL-joined ids (rejoined when they were decoded or numbered already)."""
    if table.strings is not None or not table.blob:
        return "\0".join(table.decoded().tolist()).encode("utf-8")
    return table.blob


def _resolved(value: object) -> object:
    return value.values() if isinstance(value, _Captured) else value


def _values(captured: object, count: int, how: str) -> object:
    """One field of one kind's events from what the scanner sent (see `fastscan.Chunk`)."""
    if isinstance(captured, fastscan.Ids):  # request ids (the scanner's are never empty)
        return captured.values()
    if isinstance(captured, tuple):  # few distinct texts: codes and values (b"" is absent)
        codes, uniques = captured
        texts = [value.decode("utf-8") or None for value in uniques]
        if how == "upper":
            texts = [None if text is None else text.upper() or None for text in texts]
        return np.asarray(texts + [None], dtype=object)[codes]
    if how == "int" and captured.dtype.kind == "f":
        return _ints_with_none(captured)
    return captured


def _assemble(chunks: list[fastscan.Chunk], source: str, stats: SourceStats
              ) -> tuple[dict[str, dict[str, object]], int] | None:
    """Chunks -> per-type columns in record order (the `seq` the general path would give)."""
    line_bases = list(np.cumsum([0] + [c.newlines for c in chunks[:-1]]) + 1)
    others = _parse_others(chunks, line_bases, source, stats)
    other_records = [record for parsed in others for _, recs in parsed for record in recs]
    if not _columnar_attribution_covers(other_records):
        return None
    counts = [np.ones(len(c.kinds), dtype=np.int64) for c in chunks]
    for count, parsed in zip(counts, others, strict=True):
        for index, recs in parsed:
            count[index] = len(recs)
    all_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    starts = np.cumsum(all_counts) - all_counts
    total = int(all_counts.sum())
    del counts, all_counts
    streams: dict[str, int] = {}
    parts: dict[str, list[dict[str, object]]] = {}
    tables = list({id(value.table): value.table for chunk in chunks
                   for value in chunk.fields.values()
                   if isinstance(value, fastscan.Ids)}.values())
    offset = 0
    for chunk, base, parsed in zip(chunks, line_bases, others, strict=True):
        stream_map = np.array([streams.setdefault(s, len(streams)) for s in chunk.streams],
                              dtype=np.int64)
        for kind, (type_name, dialect, spec) in CANONICAL.items():
            index = chunk.fields[kind]
            if len(index) == 0:
                continue
            part: dict[str, object] = {
                "seq": starts[offset + index], "line": chunk.lines[index] + base,
                "stream": stream_map[chunk.stream_codes[index]], "timestamp_ms": chunk.ts[index],
                "dialect": dialect}
            for name, (group, how) in spec.items():  # made into values column by column
                part[name] = _Captured(chunk.fields[group], len(index), how)
            parts.setdefault(type_name, []).append(part)
        for index, recs in parsed:
            for j, record in enumerate(recs):
                parts.setdefault(type(record).__name__, []).append(
                    {"seq": int(starts[offset + index]) + j, "record": record})
        offset += len(chunk.kinds)
        chunk.release()  # its captures are held by the parts now
    del starts
    _attribute_others(parts, streams)
    stream_names = np.array(list(streams), dtype=object)
    functions = np.array([function_for(None, name) for name in streams], dtype=object)
    columns = {}
    space = _IdSpace(tables)
    # each type's pieces are let go once they are its columns: the type of fewest rows last
    # (the read's peak is when its pieces are held with every other type's columns)
    for name in sorted(parts, key=lambda name: -_rows(parts[name])):
        members = parts.pop(name)
        columns[name] = _type_columns(name, members, stream_names, functions, source, space)
        del members
    # the order `records_to_frames` gives its frames: last type seen first
    order = sorted(columns, key=lambda name: -int(columns[name]["seq"][0]))
    return {name: columns[name] for name in order}, total


def _rows(members: list[dict]) -> int:
    return sum(len(part["seq"]) if "record" not in part else 1 for part in members)


def _ints_with_none(values: np.ndarray) -> list:
    return [None if v != v else int(v) for v in values.tolist()]


def _columnar_attribution_covers(others: list) -> bool:
    """The columnar post-pass covers these records (no RIE dialect, no split XRAY line, no
    RIE `INVOKE START` note, every record in a stream); else the general path runs."""
    from lifecycle_trace.ingest.attribute import RIE_INVOKE_START

    for record in others:
        if record.dialect == records.RIE or record.environment is None:
            return False
        if type(record) is records.PlatformNote and record.kind in ("XRAY", RIE_INVOKE_START):
            return False
    return True


def _attribute_others(parts: dict[str, list[dict]], streams: dict[str, int]) -> None:
    """`attribute.attribute_app_lines` on columns: output without a request id takes the one
    open in its environment (after a START, before its REPORT, not during init). Canonical
    rows always carry their id, so only records of other shapes can need one."""
    import pandas as pd

    needy = [entry for members in parts.values() for entry in members
             if "record" in entry and isinstance(entry["record"], _ATTRIBUTED)
             and entry["record"].request_id is None]
    if not needy:
        return
    seqs, envs, opens, inits, targets = [], [], [], [], []
    for type_name in ("Start", "Report"):
        for part in parts.get(type_name, []):
            if "record" in part:
                continue
            seqs.append(part["seq"])
            envs.append(part["stream"])
            rids = _resolved(part["request_id"])
            opens.append(np.array(rids, dtype=object) if type_name == "Start"
                         else _repeated("", len(rids)))
            inits.append(np.zeros(len(rids)) if type_name == "Start"
                         else np.full(len(rids), np.nan))
            targets.append(np.full(len(rids), -1))
    for members in parts.values():
        for entry in members:
            record = entry.get("record")
            if record is None:
                continue
            open_value, init_value, target = None, np.nan, -1
            if isinstance(record, records.Start):
                open_value, init_value = record.request_id, 0.0
            elif isinstance(record, records.Report):
                open_value = ""
            elif isinstance(record, _INIT_BEGINS):
                init_value = 1.0
            elif isinstance(record, _INIT_ENDS):
                init_value = 0.0
            elif isinstance(record, _ATTRIBUTED) and record.request_id is None:
                target = id(entry)
            else:
                continue
            seqs.append(np.array([entry["seq"]]))
            envs.append(np.array([streams[record.environment]]))
            opens.append(np.array([open_value], dtype=object))
            inits.append(np.array([init_value]))
            targets.append(np.array([target]))
    frame = pd.DataFrame({
        "seq": np.concatenate(seqs), "env": np.concatenate(envs),
        "open": np.concatenate(opens), "init": np.concatenate(inits),
        "target": np.concatenate(targets)}).sort_values("seq", kind="stable")
    by_env = frame.groupby("env", sort=False)
    frame["open"] = by_env["open"].ffill()
    frame["init"] = by_env["init"].ffill().fillna(0.0)
    hits = frame.loc[frame["target"].ne(-1)]
    entries = {id(entry): entry for entry in needy}
    for target, open_rid, init in zip(hits["target"], hits["open"], hits["init"], strict=True):
        if isinstance(open_rid, str) and open_rid and init == 0.0:
            entry = entries[int(target)]
            entry["record"] = replace(entry["record"], request_id=open_rid)


CODE_OF = {"request_id": REQUEST_CODE, "environment": STREAM_CODE}
"""The code column each coded field's codes go to."""


def _type_columns(type_name: str, members: list[dict], stream_names: np.ndarray,
                  functions: np.ndarray, source: str, space: _IdSpace) -> dict[str, object]:
    """One type's columns, as `records_to_frames` builds them from records, in seq order."""
    others = [entry for entry in members if "record" in entry]
    canonical = [entry for entry in members if "record" not in entry]
    cls = type(others[0]["record"]) if others else _CLASSES[type_name]
    from lifecycle_trace.analysis.frames import COMMON, LEAN, SKIP_FIELDS

    names = [f.name for f in fields(cls) if f.name not in SKIP_FIELDS]
    if type_name in LEAN:
        names = [n for n in names if n in COMMON or n in LEAN[type_name]]
    seqs = [part["seq"] for part in canonical]
    if others:
        recs = [entry["record"] for entry in others]
        seqs.append(np.array([entry["seq"] for entry in others], dtype=np.int64))
    seq = np.concatenate(seqs)
    del seqs
    order = None if np.all(seq[1:] > seq[:-1]) else np.argsort(seq, kind="stable")
    data: dict[str, object] = {"seq": seq if order is None else seq[order]}
    places = None if others else _places([len(part["seq"]) for part in canonical], order)
    for name in names:  # one column at a time: its pieces are let go once it is built
        if places is not None:
            coded: dict[str, np.ndarray] = {}
            column = _coded(name, canonical, places, len(seq), stream_names, functions, space,
                            coded)
            if column is not None:
                data[name] = column
                if name in coded:  # the codes of request ids and streams, for the merge
                    data[CODE_OF[name]] = coded[name]
                del column
                continue
        pieces: list = []
        for part in canonical:
            if name in part and name != "stream":
                pieces.append(_resolved(part[name]))
            elif name == "source":
                pieces.append(source)
            elif name == "environment":
                pieces.append(stream_names[part["stream"]])
            elif name == "function":
                pieces.append(functions[part["stream"]])
            else:
                pieces.append(None)
        column = None if places is None else _placed(pieces, places, len(seq))
        if column is None:
            pieces = [piece if not (piece is None or isinstance(piece, str))
                      else _repeated(piece, len(part["seq"]))
                      for piece, part in zip(pieces, canonical, strict=True)]
            if others:
                pieces.append(list(map(attrgetter(name), recs)))
            column = _combine(pieces, order)
        data[name] = column
        del pieces, column
    return data


def _coded(name: str, canonical: list[dict], places: list, total: int,
           stream_names: np.ndarray, functions: np.ndarray, space: _IdSpace,
           coded: dict[str, np.ndarray]) -> np.ndarray | None:
    """A column of values looked up by code (streams' names and functions, request ids),
    made with one lookup over the whole column: codes are placed first (integers, cheap),
    then each value is fetched once. None: not such a column."""
    if name in ("environment", "function"):
        values = stream_names if name == "environment" else functions
        pieces = [part["stream"] for part in canonical]
    elif all(isinstance(part.get(name), _Captured)
             and isinstance(part[name].captured, fastscan.Ids) for part in canonical):
        pieces = [space.codes(part[name].captured.table)[part[name].captured.codes]
                  for part in canonical]
        values = None
    else:
        return None
    codes = np.empty(total, dtype=np.int64)
    for piece, place in zip(pieces, places, strict=True):
        codes[place] = piece
    if values is None:  # request ids: their global codes become a column of their own
        values = space.values()
        coded[name] = codes
    elif name == "environment":  # so do the streams'
        coded[name] = codes
    return values[codes]


def _places(counts: list[int], order: np.ndarray | None) -> list:
    """Where each piece's rows go in the seq-ordered column: slices, or positions."""
    ends = np.cumsum(counts).tolist()
    if order is None:
        return [slice(end - count, end) for count, end in zip(counts, ends, strict=True)]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return [rank[end - count : end] for count, end in zip(counts, ends, strict=True)]


def _placed(pieces: list, places: list, total: int) -> np.ndarray | None:
    """`_combine(pieces, order)` for canonical pieces written straight to their places (one
    pass over the values, no concatenated copy to reorder), or None for mixes it leaves to
    `_combine`. A piece is an array, or one value (a str or None) for all its rows."""
    single = [piece is None or isinstance(piece, str) for piece in pieces]
    arrays = [piece for piece, one in zip(pieces, single, strict=True) if not one]
    if not all(isinstance(piece, np.ndarray) for piece in arrays):
        return None
    kinds = {piece.dtype.kind for piece in arrays}
    if arrays and len(arrays) == len(pieces) and len(kinds) == 1 and kinds <= {"i", "f"}:
        out = np.empty(total, dtype=np.result_type(*arrays))
        for piece, place in zip(pieces, places, strict=True):
            out[place] = piece
        if out.dtype.kind == "f" and np.isnan(out).all():
            return np.full(total, None, dtype=object)  # absent everywhere: Nones
        return out
    if kinds - {"O"}:
        return None
    out = np.empty(total, dtype=object)
    if all(single) and all(piece is pieces[0] for piece in pieces):
        out[:] = pieces[0]
        return out
    for piece, place in zip(pieces, places, strict=True):
        out[place] = piece
    return out


def _repeated(value: object, count: int) -> np.ndarray:
    """`count` references to the one `value` (numpy 2's `np.full(count, "text", dtype=object)`
    makes a copy of the string for every element)."""
    out = np.empty(count, dtype=object)
    out[:] = value
    return out


def _combine(pieces: Sequence, order: np.ndarray | None) -> object:
    """Pieces of one column -> a numpy array when every piece is numeric (what pandas makes of
    the general path's list of numbers), else the list of Python values the records hold."""
    numeric = all(isinstance(p, np.ndarray) and p.dtype.kind in "if" for p in pieces)
    if numeric and len({p.dtype.kind for p in pieces}) == 1:
        values = np.concatenate(pieces)
        if values.dtype.kind == "f" and np.isnan(values).all():
            values = np.full(len(values), None, dtype=object)  # absent everywhere: Nones
        return values if order is None else values[order]
    arrays = []
    for piece in pieces:
        if isinstance(piece, np.ndarray) and piece.dtype.kind == "f":
            piece = [None if v != v else v for v in piece.tolist()]
        elif isinstance(piece, np.ndarray) and piece.dtype.kind == "i":
            piece = piece.tolist()
        if isinstance(piece, list):
            array = np.empty(len(piece), dtype=object)
            array[:] = piece
            piece = array
        arrays.append(piece)
    values = np.concatenate(arrays) if arrays else np.empty(0, dtype=object)
    values = values if order is None else values[order]
    # values from records: a list, so pandas infers the column as it does for records
    return values.tolist() if any(isinstance(piece, list) for piece in pieces) else values
