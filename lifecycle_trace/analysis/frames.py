"""Records -> one pandas frame per record type, plus the time-ordered `events` frame.

This is the only place the analysis loops over Python objects: one pass that buckets records by
type and pulls their fields into columns. Everything after works on whole columns.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
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


def records_to_frames(records: Iterable[object]) -> dict[str, pd.DataFrame]:
    """Bucket records by type name; each bucket becomes a frame with a global `seq` column
    (position in the input) so file order can break timestamp ties."""
    buckets: dict[type, list[tuple[int, object]]] = defaultdict(list)
    for seq, record in enumerate(records):
        buckets[type(record)].append((seq, record))
    frames: dict[str, pd.DataFrame] = {}
    for cls, items in buckets.items():
        names = [f.name for f in fields(cls) if f.name not in SKIP_FIELDS]
        getter = attrgetter(*names)
        rows = [getter(record) for _, record in items]
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        data = {"seq": np.fromiter((seq for seq, _ in items), dtype=np.int64, count=len(items))}
        for name, column in zip(names, columns, strict=True):
            data[name] = list(column)
        frame = pd.DataFrame(data)
        frame["timestamp_ms"] = pd.to_numeric(frame["timestamp_ms"], errors="coerce").astype(float)
        frame["env"] = frame["environment"].where(
            frame["environment"].notna(), "source:" + frame["source"].astype(str)
        )
        frames[cls.__name__] = frame
    return frames


def events_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All records as one frame (kind, seq, env, ts, request_id, phase), ordered per environment
    by time then input order. A record without a time takes the time of the one before it."""
    parts = []
    for kind, frame in frames.items():
        part = frame[["seq", "env", "timestamp_ms", "request_id", "source", "line"]].copy()
        part["kind"] = kind
        part["phase"] = frame.get("phase", None)
        parts.append(part)
    if not parts:
        return pd.DataFrame(
            columns=["seq", "env", "timestamp_ms", "request_id", "source", "line", "kind", "phase"]
        )
    events = pd.concat(parts, ignore_index=True).sort_values("seq", kind="stable")
    events["ts"] = events.groupby("env", sort=False)["timestamp_ms"].ffill()
    events["ts"] = events["ts"].fillna(events.groupby("env", sort=False)["ts"].bfill())
    events = events.sort_values(["env", "ts", "seq"], kind="stable", na_position="first")
    return events.reset_index(drop=True)


def parse_streams(names: pd.Series) -> pd.DataFrame:
    """Split log stream names into date (UTC midnight, epoch ms), function and version."""
    parts = names.astype(str).str.extract(STREAM_RE)
    date_ms = pd.to_datetime(parts["date"], format="%Y/%m/%d", utc=True, errors="coerce")
    out = pd.DataFrame(index=names.index)
    out["stream_date_ms"] = (date_ms - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)
    out["stream_function"] = parts["function"]
    out["stream_version"] = parts["version"]
    return out
