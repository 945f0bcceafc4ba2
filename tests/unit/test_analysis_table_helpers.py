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
    assert classify.equals_any(plain, "timeout", "crash").tolist() == values.isin(
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


def test_text_codes_answer_like_eq_and_has() -> None:
    values = np.array(["timeout", None, np.nan, "crash", "timeout", "error"], dtype=object)
    text = classify._Text(values)
    assert text.isin("timeout", "crash").tolist() == classify.equals_any(values, "timeout",
                                                                  "crash").tolist()
    assert text.isin("nothing").tolist() == [False] * len(values)
    assert text.has().tolist() == classify.has_value(values).tolist()
    for value in ("error", None, np.nan):  # a column one value fills (the merge's broadcast)
        broadcast = np.broadcast_to(np.array([value], dtype=object), (4,))
        text = classify._Text(broadcast)
        assert text.isin("error").tolist() == [value == "error"] * 4
        assert text.has().tolist() == [value is not None and value == value] * 4


def test_environment_codes_number_like_factorize_and_notice_a_stale_column() -> None:
    names = ["b", "a", None, "b", "c", "a"]
    inv = pd.DataFrame({"environment": pd.Series(names, dtype=object)})
    codes, uniques = pd.factorize(inv["environment"].to_numpy(dtype=object))
    got, got_names = classify.environment_codes(inv)
    assert got.tolist() == codes.tolist() and list(got_names) == list(uniques)
    inv["environment_code"] = codes
    got, got_names = classify.environment_codes(inv)
    assert got.tolist() == codes.tolist() and list(got_names) == ["b", "a", "c"]
    # a subset of the rows: the stored codes no longer count from 0 in order: factorized again
    subset = inv.iloc[[4, 5, 0]]
    got, got_names = classify.environment_codes(subset)
    assert got.tolist() == [0, 1, 2] and list(got_names) == ["c", "a", "b"]
    assert classify.first_rows(np.array([-1, 0, 0, -1, 1, 0, 2])).tolist() == [1, 4, 6]
    assert classify.first_rows(np.array([1, 0])) is None


def test_status_codes_answer_like_the_status_text() -> None:
    inv = pd.DataFrame({
        "report_status": pd.Series(["timeout", np.nan, "error", "failure", np.nan],
                                   dtype="str"),
        "max_memory_mb": [128, 64, 128, 128, np.nan], "memory_mb": [128.0] * 5,
        "duration_ms": [10.0, 5.0, 3.0, 1.0, np.nan],
        "report_dialect": pd.Series(["text"] * 4 + [np.nan], dtype="str")})
    out = classify.classify_status(inv)
    assert out["status"].tolist() == ["timeout", "success", "error", "crash", None]
    text_only = out.drop(columns=["status_code"])
    for names in (("timeout",), ("timeout", "crash"), ("success", "error")):
        assert classify.status_is(out, *names).tolist() == classify.status_is(
            text_only, *names).tolist()


def _causes_by_groupby(frame: pd.DataFrame) -> list[bool]:
    """`coldstart._replacements`' same-stream rule stated with pandas groupby: the previous
    invocation (by start) of the stream ended badly."""
    ordered = frame.sort_values("start_ms", kind="stable")
    previous = ordered.groupby("environment", sort=False)["status"].shift(1)
    return previous.reindex(frame.index).isin(coldstart.BAD_END).tolist()


def test_replacement_rule_matches_a_groupby_statement() -> None:
    rng = np.random.default_rng(7)
    n = 200
    frame = pd.DataFrame({
        "environment": rng.choice(np.array(["e1", "e2", "e3", None], dtype=object), n),
        "status": rng.choice(np.array(["success", "timeout", "crash", "error"], dtype=object), n),
        "start_ms": np.where(rng.random(n) < 0.05, np.nan, rng.integers(0, 50, n) * 100.0)})
    codes, _ = pd.factorize(frame["environment"].to_numpy(dtype=object))
    group = {"start": frame["start_ms"].to_numpy(), "end": frame["start_ms"].to_numpy() + 50.0,
             "env": codes, "bad": frame["status"].isin(coldstart.BAD_END).to_numpy()}
    every = np.arange(n)
    same_env = coldstart._replacements(group, every, np.full(n, np.nan), 1000.0)
    assert same_env.tolist() == _causes_by_groupby(frame)


def test_evidence_by_owner_code_is_the_evidence_by_key() -> None:
    from lifecycle_trace.analysis.merge import merge_records
    from tests.fixtures.analysis.builders import init_start, invoke, stream, timed_out

    one, two = stream(31), stream(32)
    records = [init_start(one, 0), *invoke(one, "a", 100, 5.0, 6, init_ms=90.0),
               *invoke(two, "b", 150, 3000.0, 3000, status="timeout"),
               timed_out(two, "b", 3150, 3.0), *invoke(one, "c", 400, 2.0, 2),
               *invoke(two, "b", 5000, 1.0, 1)]  # a retry of b: a second invocation
    merged = merge_records(records, keep_events=True)  # (no cut of the quoted frames: every
    # invocation's records are there, and with them every owner code)
    inv = tables.build_invocations(merged, 1800.0)
    assert "owner_code" in inv
    rows = np.flatnonzero(inv["request_id"].isin(["a", "b"]).to_numpy())
    wanted = set(inv["invocation"].to_numpy(dtype=object)[rows])
    by_key = evidence.collect(merged.frames, "owner", wanted)
    by_code = evidence.collect_owned(merged.frames, inv["owner_code"].to_numpy()[rows], wanted)
    assert by_code == by_key and len(by_key) == 3
    # codes that are not those keys' are noticed (the caller then looks up by key)
    others = np.flatnonzero(~inv["request_id"].isin(["a", "b"]).to_numpy())
    assert evidence.collect_owned(merged.frames, inv["owner_code"].to_numpy()[others],
                                  wanted) is None


def test_start_and_report_lines_rendered_by_column_as_by_row() -> None:
    frame = pd.DataFrame({
        "owner": pd.Series(["k1", "k2", "k3"], dtype="str"), "seq": [5, 6, 7],
        "source": pd.Series(["a.log", "a.log", "b.json"], dtype="str"), "line": [10, 11, 3],
        "request_id": pd.Series(["r1", np.nan, "r3"], dtype="str"),
        "duration_ms": [12.345, np.nan, 3000.0], "billed_ms": [13.0, 100.0, np.nan],
        "memory_mb": [128, 256, 1024], "max_memory_mb": [60, 256, 1024],
        "init_ms": [190.62, np.nan, np.nan],
        "restore_ms": pd.Series([None, 2.5, None], dtype=object),
        "billed_restore_ms": pd.Series([None, 3, None], dtype=object),
        "status": pd.Series([np.nan, "timeout", "error"], dtype="str"),
        "error_type": pd.Series([None, None, "Runtime.ExitError"], dtype=object),
        "version": pd.Series(["$LATEST", None, "7"], dtype=object),
        "dialect": pd.Series(["text", "json", "rie"], dtype="str"),
    })
    rows = np.array([2, 0, 1])
    names = ["owner", *(n for n in evidence.RENDERED if n in frame and n != "owner")]
    for kind in ("Start", "Report", "RuntimeDone"):
        by_row = [(row["owner"], int(row["seq"]), evidence.render(kind, row))
                  for row in evidence._records(frame, names, rows)]
        assert evidence._rendered(kind, frame, "owner", rows) == by_row
    narrow = frame[["owner", "seq", "request_id"]]  # fields a source does not have
    for kind in ("Start", "Report"):
        by_row = [(row["owner"], int(row["seq"]), evidence.render(kind, row))
                  for row in evidence._records(narrow, ["owner", "seq", "request_id"], rows)]
        assert evidence._rendered(kind, narrow, "owner", rows) == by_row


def test_known_is_notna_of_one_value() -> None:
    from lifecycle_trace.analysis import findings

    for value in (None, np.nan, float("nan"), np.float64("nan"), 0.0, 3, "", "x", pd.NA,
                  pd.NaT, np.int64(2), True):
        assert findings._known(value) == bool(pd.notna(value))


def test_fillna_from_an_absent_source_is_pandas_fillna() -> None:
    absent = pd.Series(np.broadcast_to(np.array([np.nan], dtype=object), (3,)), dtype=object)
    for values in (pd.Series(["x", None, np.nan], dtype=object),
                   pd.Series(["x", np.nan, np.nan], dtype="str")):
        got, want = classify._fillna(values, absent), values.fillna(absent)
        assert got.dtype == want.dtype
        assert [type(v) for v in got] == [type(v) for v in want]


def test_consumed_build_is_the_build_and_lets_go_of_the_raw_frame() -> None:
    import weakref

    from lifecycle_trace.analysis.merge import merge_records
    from tests.fixtures.analysis.builders import init_start, invoke, stream, timed_out

    one, two = stream(41), stream(42)
    records = [init_start(one, 0), *invoke(one, "a", 100, 5.0, 6, init_ms=90.0),
               *invoke(two, "b", 150, 3000.0, 3000, status="timeout"),
               timed_out(two, "b", 3150, 3.0), *invoke(one, "c", 400, 2.0, 2)]
    kept = merge_records(records)
    expected = tables.build_invocations(kept, 1800.0)
    assert len(kept.invocations) == 3  # not consumed: left as it was
    given = merge_records(records)
    raw = weakref.ref(given.invocations)
    columns = given.invocations.dtypes
    actual = tables.build_invocations(given, 1800.0, consume=True)
    pd.testing.assert_frame_equal(actual, expected)
    assert len(given.invocations) == 0 and given.invocations.dtypes.equals(columns)
    assert raw() is None  # nothing holds the raw frame


def test_emptied_frame_holds_none_of_the_arrays() -> None:
    import weakref

    frame = pd.DataFrame({"x": np.arange(4.0), "y": pd.Series(["a", None, "c", "d"], dtype=object)})
    arrays = [weakref.ref(block.values) for block in frame._mgr.blocks
              if isinstance(block.values, np.ndarray)]
    assert arrays
    view = frame.iloc[:0]
    emptied = tables._emptied(frame)
    del frame
    assert all(array() is not None for array in arrays)  # the view keeps them
    del view
    assert all(array() is None for array in arrays)
    assert emptied.empty and emptied.dtypes.tolist() == [np.dtype(float), np.dtype(object)]


def test_factorized_is_factorize() -> None:
    cases = [["v1"] * 5, ["v1", "v1", None], ["a", "b", "a"], [None, "a"], [np.nan] * 3, [],
             ["a", pd.NA, "a"], ["x", np.nan, "x", "y"], ["a"] * 300 + ["b"], ["a"] * 300]
    for values in cases:
        array = np.array(values, dtype=object)
        codes, names = classify.factorized(array)
        expected_codes, expected_names = pd.factorize(array)
        assert codes.tolist() == expected_codes.tolist(), values
        assert list(names) == list(expected_names) and names.dtype == object, values
