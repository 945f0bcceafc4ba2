"""Records -> one pandas frame per record type, plus the time-ordered `events` frame.

This is the only place the analysis loops over Python objects: one pass that buckets records by
type and pulls their fields into columns. Everything after works on whole columns.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np
import pandas as pd

COMMON = ("source", "line", "environment", "timestamp_ms", "request_id", "function", "dialect")
SKIP_FIELDS = {"attributes"}

STREAM_RE = re.compile(
    r"^(?P<date>\d{4}/\d{2}/\d{2})/(?P<function>[\w.-]{1,140})?\[(?P<version>[^\]]+)\][0-9a-f]+$"
)
"""`YYYY/MM/DD/[<version>]<hex>`, or `YYYY/MM/DD/<function>[<version>]<hex>` (custom groups)."""


REQUEST_CODE = "request_code"
"""A frame's request-id codes when its reader numbered them (`ingest.fastpath`: one code per
distinct id across every record type of an input, only for types it read entirely)."""

STREAM_CODE = "stream_code"
"""A frame's log-stream codes when its reader numbered them (`ingest.fastpath`: codes into one
list of stream names per input, only for types it read entirely; every such record has one)."""
CODE_COLUMNS = (REQUEST_CODE, STREAM_CODE)
"""The readers' internal code columns (not record fields)."""

LEAN = {"AppLine": ("level",), "PlatformNote": ("kind", "name")}
"""Types only counted, not quoted: their text stays out of the columns (most records are these)."""


class PrebuiltColumns:
    """Columns the ingest fast path built without records (`ingest.fastpath`): per type name,
    the `seq` and field columns `records_to_frames` would have pulled out of the records, in
    the order it would have made them. Passed where records go, it is taken as is."""

    def __init__(self, columns: dict[str, dict[str, object]]) -> None:
        self.columns = columns

    def __iter__(self):  # not records: a caller that iterates gets nothing wrong silently
        raise TypeError("PrebuiltColumns holds columns, not records")


def records_to_frames(records: Iterable[object], plain: Iterable[str] = ()
                      ) -> dict[str, pd.DataFrame]:
    """Bucket records by type name; each bucket becomes a frame with a global `seq` column
    (position in the input) so file order can break timestamp ties. Prebuilt columns of the
    types in `plain` keep their text columns as the reader made them (object arrays, missing =
    None): for types whose text only the merge reads, pandas' `str` inference (a scan and a
    copy of every column of millions of rows) is skipped."""
    if isinstance(records, PrebuiltColumns):
        columns, records.columns = records.columns, {}
        plain = frozenset(plain)
        return {name: _frame(columns.pop(name), name in plain) for name in list(columns)}
    return {name: _frame(data) for name, data in records_to_columns(records)}


def records_to_columns(records: Iterable[object], start: int = 0
                       ) -> Iterator[tuple[str, dict[str, object]]]:
    """The columns of each record type (`seq` counted from `start`), one type at a time in the
    order `records_to_frames` makes its frames (each bucket is let go once it is columns)."""
    buckets: dict[type, tuple[list[int], list[object]]] = defaultdict(lambda: ([], []))
    for seq, record in enumerate(records, start):
        seqs, members = buckets[type(record)]
        seqs.append(seq)
        members.append(record)
    while buckets:  # pop each bucket so its records can be freed once they are columns
        cls, (seqs, members) = buckets.popitem()
        names = [f.name for f in fields(cls) if f.name not in SKIP_FIELDS]
        if cls.__name__ in LEAN:
            names = [n for n in names if n in COMMON or n in LEAN[cls.__name__]]
        data: dict[str, object] = {"seq": np.asarray(seqs, dtype=np.int64)}
        for name in names:
            data[name] = list(map(attrgetter(name), members))
        if cls.__name__ == "PhaseSpan":  # the attributes the analysis reads
            data["faas_version"] = [m.attributes.get("faas.version") for m in members]
            data["faas_max_memory"] = [m.attributes.get("faas.max_memory") for m in members]
        del members
        yield cls.__name__, data


def _frame(data: dict[str, object], plain: bool = False) -> pd.DataFrame:
    if plain:
        data = {name: pd.Series(values, dtype=object, copy=False)
                if isinstance(values, np.ndarray) and values.dtype == object else values
                for name, values in data.items()}
    frame = pd.DataFrame(data, copy=False)  # no consolidating copy of every column
    frame["timestamp_ms"] = pd.to_numeric(frame["timestamp_ms"], errors="coerce").astype(float)
    env = frame["environment"].astype(object)
    missing = env.isna()
    if missing.any():
        env[missing] = "source:" + frame.loc[missing, "source"].astype(str)
    frame["env"] = env
    return frame


@dataclass
class LeftOut:
    """Records of one type kept out of the events frame (`events_of`), as the frame would
    number them: their rows in the type's frame, request and environment codes, times and
    sequence numbers."""

    rows: np.ndarray
    request_code: np.ndarray
    env_code: np.ndarray
    ts: np.ndarray
    seq: np.ndarray


def events_of(frames: dict[str, pd.DataFrame], leave_out: dict[str, np.ndarray] | None = None
              ) -> tuple[pd.DataFrame, np.ndarray, dict[str, LeftOut]]:
    """All records as one frame (kind, seq, env, env_code, ts, request_code, source, phase),
    ordered per environment by time then input order, and the distinct request ids that
    `request_code` numbers (-1: none). A record without a time takes the time of the one before
    it. `env_code` is an integer per environment (grouping on ints is fast); text columns are
    categoricals (`finished_events` makes them plain once the frame is small).

    The rows `leave_out` marks (per type, a mask) are left out of the frame and returned apart,
    with the codes the frame would give them. Environments and request ids are numbered over
    every record either way, so the frame is the full one with those rows taken out."""
    if not frames:
        return pd.DataFrame({
            "seq": pd.Series(dtype=np.int64), "env": pd.Series(dtype=object),
            "env_code": pd.Series(dtype=np.int64), "ts": pd.Series(dtype=float),
            "request_code": pd.Series(dtype=np.int64), "source": pd.Series(dtype=object),
            "kind": pd.Series(dtype=object), "real_env": pd.Series(dtype=bool),
            "phase": pd.Series(dtype=object)}), np.zeros(0, dtype=object), {}
    leave_out = leave_out or {}
    # Plain arrays, reordered once at the end: a frame per type concatenated and then taken
    # would copy every object column twice (most of the time on millions of records).
    kinds = sorted(k for k, f in frames.items() if len(f))  # as `astype("category")` gives
    column: dict[str, list[np.ndarray]] = {name: [] for name in (
        "seq", "timestamp_ms", "real_env", "kind")}
    texts: dict[str, list[np.ndarray]] = {"source": [], "phase": []}
    envs, seqs, picks, offset = [], [], [], 0
    for kind, frame in frames.items():
        count = len(frame)
        seq = frame["seq"].to_numpy(dtype=np.int64)
        envs.append(frame["env"].to_numpy(dtype=object))
        seqs.append(seq)
        pick = None if kind not in leave_out else np.flatnonzero(~leave_out[kind])
        picks.append(np.arange(offset, offset + count, dtype=np.int64) if pick is None
                     else offset + pick)
        offset += count

        def some(values: np.ndarray, pick: np.ndarray | None = pick) -> np.ndarray:
            return values if pick is None else values[pick]

        column["seq"].append(some(seq))
        column["timestamp_ms"].append(some(frame["timestamp_ms"].to_numpy(dtype=float)))
        column["real_env"].append(some(
            frame[STREAM_CODE].to_numpy() >= 0 if STREAM_CODE in frame  # (every such record
            else frame["environment"].notna().to_numpy()))  # with a stream has a code)
        kept = count if pick is None else len(pick)
        column["kind"].append(np.full(kept, kinds.index(kind) if count else 0, dtype=np.int8))
        texts["source"].append(some(frame["source"].to_numpy(dtype=object)))
        texts["phase"].append(some(frame["phase"].to_numpy(dtype=object)) if "phase" in frame
                              else np.full(kept, None, dtype=object))
    data = {name: np.concatenate(column.pop(name)) for name in list(column)}
    picked = narrow_ints(np.concatenate(picks) if len(picks) > 1 else picks[0])
    del picks
    # Keys are worked out on plain arrays in input order, then everything is reordered once
    # (by environment, time with unknown first, input order: the stable sort pandas would do).
    by_seq = _input_order(data["seq"])
    codes, values = _stream_codes(frames, envs)
    rank, firsts = _by_first_seq(codes, seqs)
    env_names = np.append(values, None)[firsts]  # (-1, no environment: None)
    env_code = rank[codes[picked][by_seq] + 1]
    ts = data.pop("timestamp_ms")[by_seq]
    if np.isnan(ts).any():  # filled from the record before (or after) in the environment
        stamps = pd.Series(ts).groupby(env_code, sort=False).ffill()
        ts = stamps.fillna(stamps.groupby(env_code, sort=False).bfill()).to_numpy()
    order = _env_time_order(env_code, ts)
    take = by_seq[order]
    out: dict[str, object] = {name: data.pop(name)[take] for name in list(data)}
    # Text columns as integer codes: reordering them is far cheaper than reordering millions
    # of string objects (request ids stay codes: they are what the merge groups on, and a
    # categorical of a million ids costs a uniqueness check of them).
    rid_codes, request_ids = _request_codes(frames)
    out["request_code"] = rid_codes[picked][take]
    for name, parts in texts.items():
        text, values = text_codes(parts)
        out[name] = pd.Categorical.from_codes(text[take], categories=values, validate=False)
    out["env"] = pd.Categorical.from_codes(env_code[order], categories=env_names,
                                           validate=False)
    out["kind"] = pd.Categorical.from_codes(out["kind"], categories=kinds, validate=False)
    out["env_code"] = env_code[order]
    out["ts"] = ts[order]
    names = ("seq", "env", "request_code", "source", "real_env", "kind", "phase", "env_code",
             "ts")
    left: dict[str, LeftOut] = {}
    starts = np.cumsum([0, *map(len, frames.values())])
    for (kind, frame), start in zip(frames.items(), starts, strict=False):
        if kind in leave_out:
            rows = narrow_ints(np.flatnonzero(leave_out[kind]))
            at = start + rows
            left[kind] = LeftOut(rows, rid_codes[at], rank[codes[at] + 1],
                                 frame["timestamp_ms"].to_numpy(dtype=float)[rows],
                                 narrow_ints(frame["seq"].to_numpy()[rows]))
    return pd.DataFrame({name: out[name] for name in names}, copy=False), request_ids, left


def _by_first_seq(codes: np.ndarray, seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 counted as a value) renumbered by the first record that has each, in input
    order: (the new code of each old code + 1, the old code of each new code) -- what
    `by_first_appearance(codes[input order])` gives, without reordering every record: each
    type's records are in input order already, so only each code's first record per type is
    compared."""
    first = np.full(int(codes.max()) + 2 if len(codes) else 0, np.iinfo(np.int64).max)
    start = 0
    for seq in seqs:
        part = codes[start : start + len(seq)] + 1  # (-1 -> 0; one type at a time)
        rows = np.flatnonzero(first_row_mask(part)) if len(part) else np.zeros(0, np.int64)
        np.minimum.at(first, part[rows], seq[rows])
        start += len(seq)
    present = np.flatnonzero(first < np.iinfo(np.int64).max)
    olds = present[np.argsort(first[present], kind="stable")]
    rank = np.zeros(len(first), dtype=np.int16 if len(olds) < 2**15 else np.int32)
    rank[olds] = np.arange(len(olds))
    return rank, olds - 1


def _input_order(seq: np.ndarray) -> np.ndarray:
    """The positions of `seq` in ascending order (a stable argsort): by one scatter when the
    sequence numbers are distinct and not far more spread than their count (a whole input's
    are 0..n-1; some types left out leave gaps)."""
    count = len(seq)
    if count and seq.max() < min(2**31, 3 * count) and seq.min() >= 0:
        order = np.full(int(seq.max()) + 1, -1, dtype=np.int32)
        order[seq] = np.arange(count, dtype=np.int32)
        found = order[order >= 0]
        if len(found) == count:  # each number once
            return found
    return np.argsort(seq, kind="stable")


def first_rows(codes: np.ndarray) -> np.ndarray | None:
    """Where each code first appears, for codes numbered in order of first appearance (as
    `pd.factorize` numbers them; -1 = none): a new code is always one more than the largest
    so far. None when `codes` are not numbered that way."""
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    highest = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = codes[0] >= 0
    new[1:] = highest[1:] > highest[:-1]
    rows = np.flatnonzero(new)
    if not np.array_equal(codes[rows], np.arange(len(rows))):
        return None
    return rows


def first_row_mask(codes: np.ndarray) -> np.ndarray:
    """Per row, whether it is the first row of its code (`~duplicated()`), for non-negative
    integer codes: one scatter, not a hash table."""
    rows = np.arange(len(codes), dtype=np.int32 if len(codes) < 2**31 else np.int64)
    first = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=rows.dtype)
    first[codes[::-1]] = rows[::-1]  # the last write is each code's first row
    return first[codes] == rows


def by_first_appearance(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(codes)` for small integer codes (-1 counted as a value, as there): new
    codes numbered by first appearance (int16 when they fit), and the old code of each."""
    wide = len(codes) and int(codes.max()) >= 2**31 - 1
    shifted = codes.astype(np.int64 if wide else np.int32) + 1  # (-1 -> 0)
    olds = shifted[first_row_mask(shifted)]  # in order of first appearance
    rank = np.zeros(int(shifted.max()) + 1 if len(codes) else 0,
                    dtype=np.int16 if len(olds) < 2**15 else np.int32)
    rank[olds] = np.arange(len(olds))
    return rank[shifted], olds - 1


def _env_time_order(env_code: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The stable order by environment, then time (unknown first), of records in input order.
    Most inputs are in time order within each stream: then a stable sort by the small
    environment codes (a radix sort) is the whole order; else a lexsort on both."""
    small = env_code.astype(np.int32 if len(env_code) and env_code.max() >= 2**15 else np.int16)
    order = np.argsort(small, kind="stable")
    stamps = ts[order]
    same_env = small[order][1:] == small[order][:-1]
    with np.errstate(invalid="ignore"):
        rising = (stamps[1:] >= stamps[:-1]) | ~same_env
    if not np.isnan(ts).any() and rising.all():
        return order
    known = ~np.isnan(ts)  # (lexsort is stable: ties keep the input order)
    if known.all():
        return np.lexsort((ts, env_code))
    return np.lexsort((np.where(known, ts, 0.0), known, env_code))


def finished_events(events: pd.DataFrame, request_ids: np.ndarray) -> pd.DataFrame:
    """`events` as the steps after the merge read them (done once the frame is small): request
    ids as strings (None: none) instead of codes, text columns as plain objects."""
    codes = events.pop("request_code").to_numpy()
    events["request_id"] = np.append(np.asarray(request_ids, dtype=object), None)[codes]
    for name in ("env", "source", "phase"):
        if isinstance(events[name].dtype, pd.CategoricalDtype):
            events[name] = events[name].astype(object)
    return events


def text_codes(parts: list[np.ndarray], runs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(codes, -1 = missing; the distinct values) of object columns end to end, codes in the
    smallest integer type. Each part is factorized on its own; with `runs`, hashing only the
    first value of each run of one value (the input file of every record, or no phase, are
    long runs)."""
    runs_of, lengths, part_values = [], [], []
    for values in parts:
        if not len(values):
            continue
        if runs:
            change = np.ones(len(values), dtype=bool)
            change[1:] = values[1:] != values[:-1]  # identical objects compare fast
            starts = np.flatnonzero(change)
            run_codes, uniques = pd.factorize(values[starts])
            lengths.append(np.diff(np.append(starts, len(values))))
        else:
            run_codes, uniques = pd.factorize(values)
            lengths.append(None)
        runs_of.append(run_codes)
        part_values.append(np.asarray(uniques, dtype=object))
    if not runs_of:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=object)
    mapping, uniques = pd.factorize(np.concatenate(part_values))
    dtype = np.int8 if len(uniques) < 2**7 else np.int16 if len(uniques) < 2**15 else np.int32
    mapping = mapping.astype(dtype)
    firsts = np.cumsum([0, *map(len, part_values[:-1])])
    codes = []
    for first, run_codes, length, values in zip(firsts, runs_of, lengths, part_values,
                                                strict=True):
        # a part's code -1 (missing) takes the appended -1
        mapped = np.append(mapping[first : first + len(values)], dtype(-1))[run_codes]
        codes.append(mapped if length is None else np.repeat(mapped, length))
    return np.concatenate(codes), np.asarray(uniques, dtype=object)


def _stream_codes(frames: dict[str, pd.DataFrame], envs: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(codes, the distinct environments) of the frames' `env` columns (`envs`) end to end.
    The reader's stream codes are used as they are (each code named from one record that has
    it), the other frames' environments factorized and looked up among those names: hashing
    millions of stream names is most of the cost otherwise."""
    coded = [STREAM_CODE in frame for frame in frames.values()]
    if not any(coded):
        return text_codes(envs, runs=False)
    size = max(int(frame[STREAM_CODE].max()) + 1 for frame in frames.values()
               if STREAM_CODE in frame and len(frame))
    names, named = _code_names(frames, STREAM_CODE, "env", size)
    index = {name: code for code, name in enumerate(names) if named[code]}
    added: list[object] = []  # names the reader's codes do not hold: numbered after them
    parts = []
    for frame, env, has in zip(frames.values(), envs, coded, strict=True):
        if has:
            parts.append(frame[STREAM_CODE].to_numpy(dtype=np.int64))
            continue
        local, uniques = pd.factorize(env, use_na_sentinel=False)
        mapping = []
        for name in uniques:
            if name not in index:
                index[name] = size + len(added)
                added.append(name)
            mapping.append(index[name])
        parts.append(np.array(mapping, dtype=np.int64)[local])
    return _joined(parts), np.concatenate([names, np.array(added, dtype=object)])


def _code_names(frames: dict[str, pd.DataFrame], code: str, column: str, size: int,
                wanted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the value of each of a reader's `size` codes, whether it was found): each code named
    from one record that has it (its records all hold that value), across the frames; done once
    every `wanted` code (a mask) is named."""
    names = np.full(size, None, dtype=object)
    named = np.zeros(size, dtype=bool)
    for frame in frames.values():
        if code not in frame or not len(frame):
            continue
        if wanted is not None and named[wanted].all():
            break
        codes = frame[code].to_numpy()
        has = np.flatnonzero(codes >= 0)
        row = np.full(size, -1, dtype=np.int64)
        row[codes[has]] = has
        todo = np.flatnonzero((row >= 0) & ~named)
        if len(todo):
            names[todo] = frame[column].to_numpy(dtype=object)[row[todo]]
            named[todo] = True
    return names, named


def _request_codes(frames: dict[str, pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """(code per record, frames end to end, -1 = none; the distinct ids). Codes the reader gave
    are used as they are (factorizing millions of id strings is the slowest step of a large
    merge), each named from one record that has it; records of frames without them are looked
    up among those ids, or numbered after them."""
    frames = {kind: frame for kind, frame in frames.items() if len(frame)}
    if not any(REQUEST_CODE in frame for frame in frames.values()):
        ids = (np.concatenate([frame["request_id"].to_numpy(dtype=object)
                               for frame in frames.values()])
               if frames else np.zeros(0, dtype=object))
        return pd.factorize(ids)
    parts = [frame[REQUEST_CODE].to_numpy() if REQUEST_CODE in frame
             else np.full(len(frame), -1, dtype=np.int64) for frame in frames.values()]
    codes = _joined(parts)
    # the reader numbers ids across types: keep the ones these frames use, in code order
    size = int(codes.max()) + 1
    used = np.zeros(size + 1, dtype=bool)
    used[codes] = True  # (-1, no id, marks the extra last slot)
    used = used[:size]
    names, _ = _code_names(frames, REQUEST_CODE, "request_id", size, used)
    uncoded, start = [], 0
    for frame in frames.values():
        if REQUEST_CODE not in frame:
            uncoded.append((start, frame["request_id"].to_numpy(dtype=object)))
        start += len(frame)
    request_ids = names[used]
    if not used.all():  # compacted (-1 stays -1)
        codes = np.append(np.cumsum(used) - 1, -1).astype(codes.dtype)[codes]
    if uncoded:  # their ids, looked up once among the coded ones; the others numbered after
        rows = np.concatenate([start + np.arange(len(ids)) for start, ids in uncoded])
        ids = np.concatenate([ids for _, ids in uncoded])
        has = pd.notna(ids)
        rows, ids = rows[has], ids[has]
        if len(ids):
            found = pd.Index(request_ids).get_indexer(ids)
            new = found < 0
            if new.any():
                extra, extra_ids = pd.factorize(ids[new])
                found[new] = len(request_ids) + extra
                request_ids = np.concatenate([request_ids,
                                              np.asarray(extra_ids, dtype=object)])
            codes[rows] = found
    return codes, request_ids


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Integer code columns end to end, as int32 when every code fits (half the memory of the
    int64 columns the readers give, over every record of a large input)."""
    fits = all(not len(part) or (part.max() < 2**31 and part.min() >= -1) for part in parts)
    return np.concatenate(parts, dtype=np.int32 if fits else np.int64, casting="same_kind")


def is_broadcast(values: np.ndarray) -> bool:
    """One value seen through every row: the merge's read-only broadcast of a column that no
    record of the input fills (worked out once, not per row)."""
    return values.ndim == 1 and len(values) > 1 and values.strides[0] == 0


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """Non-negative integers (codes, row positions, sequence numbers) as int32 when they fit:
    half the memory of a million int64s."""
    fits = not len(values) or int(values.max()) < 2**31
    return values.astype(np.int32) if fits else values


def parse_streams(names: pd.Series) -> pd.DataFrame:
    """Split log stream names into date (UTC midnight, epoch ms), function and version.
    Parses each distinct name once."""
    text = names.astype(object).where(names.notna(), "").astype(str)
    unique = pd.Series(pd.unique(text))
    parts = unique.str.extract(STREAM_RE)
    date_ms = pd.to_datetime(parts["date"], format="%Y/%m/%d", utc=True, errors="coerce")
    parsed = pd.DataFrame({
        "stream_date_ms": (date_ms - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1),
        "stream_function": parts["function"],
        "stream_version": parts["version"],
    })
    parsed.index = unique.to_numpy()
    out = parsed.reindex(text.to_numpy())
    out.index = names.index
    return out
