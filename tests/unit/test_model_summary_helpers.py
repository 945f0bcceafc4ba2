"""The summary's shortcuts give what the plain pandas ways give."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis import model
from lifecycle_trace.analysis.classify import STATUSES


def grouped(inv: pd.DataFrame) -> list[tuple[tuple[str, str | None], list[int]]]:
    """Rows by function (rows without one left out, as pandas' grouping does) and version, a
    missing version its own group (None), sorted with that group first."""
    rows: dict[tuple[str, str | None], list[int]] = {}
    for label, fn, ver in zip(inv.index, inv["function"], inv["version"], strict=True):
        if not pd.isna(fn):
            rows.setdefault((fn, None if pd.isna(ver) else ver), []).append(label)
    return sorted(rows.items(), key=lambda item: (item[0][0], item[0][1] is not None,
                                                  item[0][1] or ""))


def test_one_function_and_version_is_its_own_group() -> None:
    cases = [
        (["f", "f", "f"], ["1", "1", "1"]), (["f", "f", "f"], [None, np.nan, None]),
        (["f", "f", "f"], ["1", None, "1"]), (["f", "g", "f"], ["1", "1", "2"]),
        ([np.nan, "f", "f"], ["1", "1", "1"]), (["f", "f", "f"], ["$LATEST", "1", "1"]),
    ]
    for functions, versions in cases:
        inv = pd.DataFrame({"function": pd.Series(functions, dtype=object),
                            "version": pd.Series(versions, dtype=object)})
        got = [(key, rows.index.tolist()) for key, rows in model._by_function(inv)]
        assert got == grouped(inv), (functions, versions)
    one = pd.DataFrame({"function": ["f"] * 2, "version": ["3"] * 2})
    assert model._by_function(one)[0][1] is one  # (not a copy of its rows)
    assert model._by_function(one.iloc[:0]) == []


def test_status_counts_and_present_counts() -> None:
    status = pd.Series(["timeout", None, "success", "crash", "timeout", "error"], dtype=object)
    code = np.array([STATUSES.index(s) if s else len(STATUSES) for s in status], dtype=np.int8)
    expected = status.value_counts()
    for frame in (pd.DataFrame({"status": status}),
                  pd.DataFrame({"status": status, "status_code": code})):
        counts = model._status_counts(frame)
        assert {k: v for k, v in counts.items() if v} == expected.to_dict()
    broadcast = pd.Series(np.broadcast_to(np.array([np.nan], dtype=object), (5,)), dtype=object,
                          copy=False)
    for column in (broadcast, pd.Series([1.0, np.nan, 2.0]),
                   pd.Series(["a", None, np.nan, "b"], dtype=object)):
        assert model._count_present(column) == int(column.notna().sum())
