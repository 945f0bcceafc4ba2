"""The array helpers the tables stage uses instead of pandas' slower paths give pandas' answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis import billing, classify, coldstart, evidence, tables


def test_run_codes_group_like_factorize() -> None:
    values = pd.Series(["a.json", "a.json", None, None, "b.json", "a.json", np.nan, "b.json"],
                       dtype=object)
    codes = coldstart._codes(values)
    expected = pd.factorize(values)[0]
    assert codes.tolist() == expected.tolist()
    as_str = coldstart._codes(values.astype("str"))
    assert as_str.tolist() == expected.tolist()
    assert coldstart._codes(pd.Series([], dtype=object)).tolist() == []
    categorical = coldstart._codes(values.astype("category"))
    assert pd.Series(categorical).groupby(expected).nunique().eq(1).all()


def test_take_keeps_dtype_and_shares_missing_columns() -> None:
    order = np.array([2, 0, 1])
    text = tables._take(pd.Series(["x", None, "z"], dtype=object), order)
    assert text.dtype == object and text.tolist() == ["z", "x", None]
    strings = tables._take(pd.Series(["x", np.nan, "z"], dtype="str"), order)
    assert strings.dtype == pd.Series(["x"], dtype="str").dtype
    assert strings.tolist()[0] == "z"
    empty: dict[object, np.ndarray] = {}
    first = tables._take(pd.Series([np.nan] * 3, dtype=object), order, empty)
    second = tables._take(pd.Series([np.nan] * 3, dtype=object), order, empty)
    assert first.dtype == object and first.isna().all()
    assert np.shares_memory(first.to_numpy(), second.to_numpy())
    assert not first.to_numpy().flags.writeable
    nones = tables._take(pd.Series([None] * 3, dtype=object), order, empty)
    assert nones.tolist() == [None, None, None]
    mixed = tables._take(pd.Series([np.nan, "y", np.nan], dtype=object), order, empty)
    assert mixed.tolist()[2] == "y"


def test_eq_and_contains_match_pandas() -> None:
    values = pd.Series(["timeout", None, np.nan, "crash", "signal: killed"], dtype=object)
    plain = values.to_numpy(dtype=object)
    assert classify._eq(plain, "timeout", "crash").tolist() == values.isin(
        ["timeout", "crash"]).tolist()
    expected = values.astype(str).str.contains("kill", na=False)
    assert classify._contains(plain, "kill").tolist() == expected.tolist()


def test_records_match_to_dict() -> None:
    frame = pd.DataFrame({
        "seq": np.array([3, 1], dtype=np.int64), "owner": pd.Series(["a", "b"], dtype="str"),
        "duration_ms": [1.5, np.nan], "status": pd.Series(["timeout", np.nan], dtype="str"),
        "text": pd.Series([None, "x"], dtype=object), "extra": [1, 2],
    })
    names = ["owner", "seq", "duration_ms", "status", "text"]
    got = evidence._records(frame, names)
    want = frame[names].to_dict("records")
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            a, b = mine[key], theirs[key]
            assert (pd.isna(a) and pd.isna(b)) or (a == b and type(a) is type(b))


def test_function_init_rule_from_the_functions_evidence() -> None:
    inv = pd.DataFrame({
        "function": ["f", "f", "g"], "duration_ms": [10.2, 20.0, 5.0],
        "reported_billed_ms": [11.0, np.nan, np.nan], "init_ms": [100.0, 30.0, 50.0],
        "report_dialect": ["text"] * 3, "billed_restore_ms": [np.nan] * 3,
        "start_ms": [0.0, 1000.0, 2000.0], "memory_mb": [128.0] * 3, "managed": [False] * 3,
    })
    out = billing.compute_billing(inv.copy())
    # f's REPORT shows init not billed: its computed row leaves init out; g has no evidence
    # either way: its init is billed
    assert out["billed_ms"].tolist() == [11.0, 20.0, 55.0]
    assert out["billing_rule"].tolist() == ["duration", "computed:duration",
                                            "computed:duration+init"]
