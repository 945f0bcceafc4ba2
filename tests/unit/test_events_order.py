"""The events frame's orderings and reductions against the plain pandas they stand for."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_trace.analysis.frames import (
    _by_first_seq,
    _env_time_order,
    _input_order,
    by_first_appearance,
)
from lifecycle_trace.analysis.merge import reduced_events
from lifecycle_trace.analysis.tables import _first_seen

TIMES = st.one_of(st.integers(0, 5).map(float), st.just(float("nan")))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), TIMES), max_size=40), st.booleans())
def test_env_time_order_is_the_stable_lexsort(rows: list[tuple], ordered: bool) -> None:
    if ordered:  # in time order within each stream, as most inputs are
        rows = sorted(rows, key=lambda row: 0.0 if np.isnan(row[1]) else row[1])
    env = np.array([row[0] for row in rows], dtype=np.int64)
    ts = np.array([row[1] for row in rows], dtype=float)
    known = ~np.isnan(ts)
    expected = np.lexsort((np.arange(len(ts)), np.where(known, ts, 0.0), known, env))
    np.testing.assert_array_equal(_env_time_order(env, ts), expected)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.permutations(list(range(12))), st.lists(st.integers(0, 11), max_size=12),
                 st.sets(st.integers(0, 20), max_size=12).map(sorted).flatmap(st.permutations)))
def test_input_order_is_the_stable_argsort(seq: list[int]) -> None:
    """(distinct numbers with gaps: the sequence numbers left when some types are left out)"""
    values = np.array(seq, dtype=np.int64)
    np.testing.assert_array_equal(_input_order(values), np.argsort(values, kind="stable"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a.json", "b.json"]), TIMES),
                min_size=1, max_size=40))
def test_reduced_events_keeps_the_rows_pandas_grouping_keeps(rows: list[tuple]) -> None:
    events = pd.DataFrame({"env_code": [row[0] for row in rows],
                           "source": [row[1] for row in rows],
                           "ts": [row[2] for row in rows]})
    env, ts = events["env_code"], events["ts"]
    pair = env * 2 + events["source"].eq("b.json")
    expected = (~env.duplicated() | ~pair.duplicated()
                | ts.eq(ts.groupby(pair).transform("min"))
                | ts.eq(ts.groupby(env).transform("max")))
    pd.testing.assert_frame_equal(reduced_events(events), events.loc[expected])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["s1", "s2", "s3"])), max_size=30),
       st.randoms())
def test_first_seen_is_factorize_of_the_names(names: list, rng) -> None:
    values = np.array(names, dtype=object)
    other, _ = pd.factorize(values)  # the same names in another numbering
    shuffled = np.arange(other.max() + 2 if len(other) else 1)
    rng.shuffle(shuffled[:-1])
    codes = np.where(other >= 0, shuffled[other], -1)
    expected_codes, expected_names = pd.factorize(values)
    got_codes, got_names = _first_seen(codes, values)
    np.testing.assert_array_equal(got_codes, expected_codes)
    assert list(got_names) == list(expected_names)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 6), max_size=40))
def test_by_first_appearance_is_factorize(codes: list[int]) -> None:
    values = np.array(codes, dtype=np.int64)
    expected_codes, expected_olds = pd.factorize(values)
    got_codes, got_olds = by_first_appearance(values)
    np.testing.assert_array_equal(got_codes, expected_codes)
    np.testing.assert_array_equal(got_olds, expected_olds)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(-1, 6), max_size=12), min_size=1, max_size=5),
       st.randoms(use_true_random=False))
def test_by_first_seq_is_first_appearance_in_input_order(parts: list[list[int]], rng) -> None:
    """Codes of several types (each in input order, their sequence numbers interleaved) renumbered
    by the first record of each: `by_first_appearance` of the codes in input order."""
    total = sum(map(len, parts))
    seq = list(range(total))
    rng.shuffle(seq)
    seqs, start = [], 0
    for part in parts:  # each type's sequence numbers rise, as the readers make them
        seqs.append(np.array(sorted(seq[start : start + len(part)]), dtype=np.int64))
        start += len(part)
    codes = np.array([c for part in parts for c in part], dtype=np.int32)
    if not len(codes):
        return
    rank, firsts = _by_first_seq(codes, seqs)
    in_order = codes[np.argsort(np.concatenate(seqs), kind="stable")]
    want_codes, want_olds = by_first_appearance(in_order)
    assert rank[in_order + 1].tolist() == want_codes.tolist()
    assert firsts.tolist() == want_olds.tolist()
