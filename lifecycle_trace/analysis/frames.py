"""Records -> one pandas frame per record type, plus the time-ordered `events` frame.

This is the only place the analysis loops over Python objects: one pass that buckets records by
type and pulls their fields into columns. Everything after works on whole columns.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import fields
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


def records_to_frames(records: Iterable[object]) -> dict[str, pd.DataFrame]:
    """Bucket records by type name; each bucket becomes a frame with a global `seq` column
    (position in the input) so file order can break timestamp ties."""
    if isinstance(records, PrebuiltColumns):
        columns, records.columns = records.columns, {}
        return {name: _frame(columns.pop(name)) for name in list(columns)}
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


def _frame(data: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(data, copy=False)  # no consolidating copy of every column
    frame["timestamp_ms"] = pd.to_numeric(frame["timestamp_ms"], errors="coerce").astype(float)
    env = frame["environment"].astype(object)
    missing = env.isna()
    if missing.any():
        env[missing] = "source:" + frame.loc[missing, "source"].astype(str)
    frame["env"] = env
    return frame


def events_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All records as one frame (kind, seq, env, env_code, ts, request_id, phase), ordered per
    environment by time then input order. A record without a time takes the time of the one
    before it. `env_code` is an integer per environment (grouping on ints is fast)."""
    if not frames:
        return pd.DataFrame({
            "seq": pd.Series(dtype=np.int64), "env": pd.Series(dtype=object),
            "env_code": pd.Series(dtype=np.int64), "ts": pd.Series(dtype=float),
            "request_id": pd.Series(dtype=object), "source": pd.Series(dtype=object),
            "kind": pd.Series(dtype=object), "real_env": pd.Series(dtype=bool),
            "phase": pd.Series(dtype=object)})
    # Plain arrays, reordered once at the end: a frame per type concatenated and then taken
    # would copy every object column twice (most of the time on millions of records).
    kinds = sorted(k for k, f in frames.items() if len(f))  # as `astype("category")` gives
    column: dict[str, list[np.ndarray]] = {name: [] for name in (
        "seq", "env", "timestamp_ms", "request_id", "source", "real_env", "kind", "phase")}
    for kind, frame in frames.items():
        count = len(frame)
        column["seq"].append(frame["seq"].to_numpy(dtype=np.int64))
        for name in ("env", "request_id", "source"):
            column[name].append(frame[name].to_numpy(dtype=object))
        column["timestamp_ms"].append(frame["timestamp_ms"].to_numpy(dtype=float))
        column["real_env"].append(frame["environment"].notna().to_numpy())
        column["kind"].append(np.full(count, kinds.index(kind) if count else 0, dtype=np.int8))
        column["phase"].append(frame["phase"].to_numpy(dtype=object) if "phase" in frame
                               else np.full(count, None, dtype=object))
    data = {name: np.concatenate(column.pop(name)) for name in list(column)}
    # Keys are worked out on plain arrays in input order, then everything is reordered once
    # (by environment, time with unknown first, input order: the stable sort pandas would do).
    by_seq = np.argsort(data["seq"], kind="stable")
    env_code, env_names = pd.factorize(data.pop("env")[by_seq])
    ts = data["timestamp_ms"][by_seq]
    if np.isnan(ts).any():  # filled from the record before (or after) in the environment
        stamps = pd.Series(ts).groupby(env_code, sort=False).ffill()
        ts = stamps.fillna(stamps.groupby(env_code, sort=False).bfill()).to_numpy()
    known = ~np.isnan(ts)
    if known.all():
        order = np.lexsort((data["seq"][by_seq], ts, env_code))
    else:
        order = np.lexsort((data["seq"][by_seq], np.where(known, ts, 0.0), known, env_code))
    take = by_seq[order]
    # request ids as a categorical: their codes are what the merge groups on, and reordering
    # integer codes is far cheaper than reordering millions of string objects
    rid_codes, request_ids = _request_codes(frames, data.pop("request_id"))
    del data["timestamp_ms"]  # `ts` is the time the analysis reads
    out: dict[str, object] = {}
    for name in list(data):  # object columns as they are: no dtype inference
        values = data.pop(name)[take]  # each input column let go once reordered
        out[name] = pd.Series(values, dtype=object, copy=False) if values.dtype == object \
            else values
    out["env"] = pd.Series(np.asarray(env_names, dtype=object)[env_code[order]], dtype=object,
                           copy=False)  # from the few distinct names, not a gather of 4M
    out["request_id"] = pd.Categorical.from_codes(rid_codes[take], categories=request_ids,
                                                  validate=False)
    out["kind"] = pd.Categorical.from_codes(out["kind"], categories=kinds, validate=False)
    out["env_code"] = env_code[order]
    out["ts"] = ts[order]
    names = ("seq", "env", "request_id", "source", "real_env", "kind", "phase", "env_code",
             "ts")
    return pd.DataFrame({name: out[name] for name in names}, copy=False)


def _request_codes(frames: dict[str, pd.DataFrame], ids: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(code per record in frame order, -1 = none; the distinct ids) of `ids`, the frames'
    request ids end to end. Codes the reader gave are used as they are (factorizing millions of
    id strings is the slowest step of a large merge); records of frames without them are
    looked up among those ids, or numbered after them."""
    frames = {kind: frame for kind, frame in frames.items() if len(frame)}
    if not any(REQUEST_CODE in frame for frame in frames.values()):
        return pd.factorize(ids)
    parts, uncoded, start = [], [], 0
    for frame in frames.values():
        if REQUEST_CODE in frame:
            parts.append(frame[REQUEST_CODE].to_numpy(dtype=np.int64))
        else:
            parts.append(np.full(len(frame), -1, dtype=np.int64))
            uncoded.append(slice(start, start + len(frame)))
        start += len(frame)
    codes = np.concatenate(parts)
    # the reader numbers ids across types: keep the ones these frames use, in code order, and
    # take each one's name from one record that has it (not a scatter of every record's)
    size = int(codes.max()) + 1
    used = np.zeros(size, dtype=bool)
    used[codes[codes >= 0]] = True
    row = np.full(size, -1, dtype=np.int64)
    has = np.flatnonzero(codes >= 0)
    row[codes[has]] = has
    request_ids = ids[row[used]]
    codes = np.append(np.cumsum(used) - 1, -1)[codes]  # compacted (-1 stays -1)
    if uncoded:  # their ids, looked up once among the coded ones; the others numbered after
        rows = np.concatenate([np.arange(r.start, r.stop) for r in uncoded])
        rows = rows[pd.notna(ids[rows])]
    if uncoded and len(rows):
        found = pd.Index(request_ids).get_indexer(ids[rows])
        new = found < 0
        if new.any():
            extra, extra_ids = pd.factorize(ids[rows][new])
            found[new] = len(request_ids) + extra
            request_ids = np.concatenate([request_ids, np.asarray(extra_ids, dtype=object)])
        codes[rows] = found
    return codes, request_ids


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
