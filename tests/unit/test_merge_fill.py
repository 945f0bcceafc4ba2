"""`merge._EnvFill` fills as pandas' `groupby(env).ffill()` / `.bfill()` do, sorted or not,
read at every row or at some."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_trace.analysis.merge import _EnvFill

ROWS = st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 50), st.booleans()),
                max_size=40)


@settings(max_examples=300, deadline=None)
@given(ROWS, st.booleans())
def test_fills_match_pandas_groupby(rows: list[tuple], ordered: bool) -> None:
    if ordered:
        rows = sorted(rows, key=lambda row: row[0])
    env = np.array([row[0] for row in rows], dtype=np.int64)
    mask = np.array([row[1] for row in rows], dtype=bool)
    values = np.array([row[2] for row in rows], dtype=float)
    read = np.flatnonzero([row[3] for row in rows])  # the rows the fills are read at
    masked = pd.Series(values).where(mask)
    fill = _EnvFill(env, read)
    np.testing.assert_array_equal(
        fill.ffill(values, mask), masked.groupby(env, sort=False).ffill().to_numpy()[read])
    np.testing.assert_array_equal(
        fill.bfill(values, mask), masked.groupby(env, sort=False).bfill().to_numpy()[read])
