"""Frames packed for the trip from a worker to the driver, restored exactly.

Most columns of a partition's merged invocations are null (a block whose records the partition
does not hold: no X-Ray, no Telemetry, ...), and the string columns repeat a few values (file
paths, stream names, statuses). `ship` leaves out all-null columns (noting which null they held)
and sends repeated strings as categories; `unship` gives back the same frame, dtypes and nulls
included (about a fifth of the bytes on a CloudWatch export).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

REPEATED = 0.25
"""A string column is sent as categories when it has fewer distinct values than this share."""


@dataclass
class Shipped:
    """`data` without the all-null columns; `template` (no rows) keeps every column's dtype."""

    data: pd.DataFrame
    template: pd.DataFrame
    nulls: dict[str, object] = field(default_factory=dict)
    categorized: list[str] = field(default_factory=list)


def ship(frame: pd.DataFrame) -> Shipped:
    nulls: dict[str, object] = {}
    kept = []
    for column in frame.columns:
        values = frame[column]
        if len(values) and values.isna().all():
            nulls[column] = values.iloc[0]
        else:
            kept.append(column)
    data = frame[kept].copy()
    categorized = []
    for column in kept:
        if data[column].dtype == "str" and data[column].nunique() < REPEATED * len(data):
            data[column] = data[column].astype("category")
            categorized.append(column)
    return Shipped(data, frame.iloc[:0].copy(), nulls, categorized)


def unship(shipped: Shipped) -> pd.DataFrame:
    data, template = shipped.data, shipped.template
    index = data.index
    columns = {}
    for column in template.columns:
        dtype = template[column].dtype
        if column in shipped.nulls:
            columns[column] = pd.Series([shipped.nulls[column]] * len(index), index=index,
                                        dtype=dtype)
        elif column in shipped.categorized:
            columns[column] = data[column].astype(dtype)
        else:
            columns[column] = data[column]
    out = pd.DataFrame(columns, index=index)
    return out if len(out.columns) == len(template.columns) else out.reindex(
        columns=template.columns)
