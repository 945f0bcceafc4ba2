"""`invocation_keys` against a plain-Python statement of its rule, on random event orders
(retries, a REPORT before its START, ids in several streams, records without a stream)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_trace.analysis.merge import invocation_keys

EVENT = st.tuples(st.sampled_from(["Start", "Report", "End", "AppLine"]),
                  st.integers(0, 2),  # environment
                  st.sampled_from(["a", "b", "c", None]),  # request id
                  st.booleans())  # has a real stream


def _reference(rows: list[tuple]) -> list[str | None]:
    """Per event, its key string: a START opens a new run of its (stream, id) unless the bound
    before it was a START; other records join the run before them, else the next one."""
    occurrence: list[int | None] = [None] * len(rows)
    last: dict[tuple, tuple[str, int]] = {}
    for i, (kind, env, rid, real) in enumerate(rows):
        if rid is None or not real or kind not in ("Start", "Report"):
            continue
        previous_kind, run = last.get((env, rid), ("", 0))
        run += kind == "Start" and previous_kind != "Start"
        last[(env, rid)] = (kind, run)
        occurrence[i] = run
    filled: list[int | None] = list(occurrence)
    for order in (range(len(rows)), range(len(rows) - 1, -1, -1)):
        seen: dict[tuple, int] = {}
        for i in order:
            kind, env, rid, real = rows[i]
            if rid is None or not real:
                continue
            if filled[i] is None:
                filled[i] = seen.get((env, rid))
            elif occurrence[i] is not None or order.step == 1:
                seen[(env, rid)] = filled[i]
    keys: dict[tuple, str] = {}
    runs_of: dict[str, int] = {}
    out: list[str | None] = []
    for i, (_, env, rid, real) in enumerate(rows):
        if rid is None or not real:
            out.append(None)
            continue
        key = (env, rid, filled[i] or 0)
        if key not in keys:
            runs_of[rid] = runs_of.get(rid, 0) + 1
            keys[key] = rid if runs_of[rid] == 1 else f"{rid}#{runs_of[rid]}"
        out.append(keys[key])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=30))
def test_keys_follow_the_rule(rows: list[tuple]) -> None:
    rows = sorted(rows, key=lambda row: row[1])  # events come ordered by environment
    kinds = ["AppLine", "End", "Report", "Start"]
    events = pd.DataFrame({
        "kind": pd.Categorical([row[0] for row in rows], categories=kinds),
        "env_code": np.array([row[1] for row in rows], dtype=np.int64),
        "request_id": pd.Series([row[2] for row in rows], dtype=object),
        "real_env": np.array([row[3] for row in rows], dtype=bool),
    })
    codes, keys, _ = invocation_keys(events)
    got = [keys[code] if code >= 0 and row[3] else None
           for code, row in zip(codes, rows, strict=True)]
    assert got == _reference(rows)
