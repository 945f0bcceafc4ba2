"""Why each cold start happened, where the logs show it.

Causes, first match wins:
- `replacement`: the environment it replaces ended badly — the same stream re-ran init after a
  timeout or crash, or another environment of the function had its last invocation time out or
  crash before this init (each such end explains at most one cold start).
- `scale_out`: other environments of the function were busy (running an invocation, or
  running their own init) at the moment init began.
- `first_environment`: no invocation of this function version appears before it.
- `idle`: nothing of the function ran anywhere for `idle_gap_s` before it.
- `provisioned`: a provisioned-concurrency init (done ahead of traffic, not caused by a request).
Otherwise `unknown`.

Also here: which streams began inside the input (`started_in_export`), which decides whether a
stream's first invocation without init evidence is called cold (`inferred`) or left warm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis.classify import (
    _floats_of,
    environment_codes,
    factorized,
    fill_nan,
    status_is,
)
from lifecycle_trace.analysis.merge import INIT_KINDS

BAD_END = ("timeout", "crash")


def started_in_export(events: pd.DataFrame, stream_dates: pd.Series) -> pd.Series:
    """Per environment: True when its start is inside the input.

    Shown by either the stream's first record being init-phase (INIT_START, EXTENSION lines, init
    output, ...) rather than the middle of an invocation, or by the input starting before the
    stream's creation day (stream names carry the UTC date the environment was created).
    """
    if events.empty:
        return pd.Series(dtype=bool)
    env_code = events["env_code"].to_numpy()
    first = events.take(np.flatnonzero(~pd.Series(env_code).duplicated().to_numpy()),
                        ).set_index("env")  # each stream's first event, in events order
    init_like = first["kind"].isin((*INIT_KINDS, "PlatformNote")) | (
        first["kind"].eq("AppLine") & first["request_id"].isna()
    )
    # Each input file covers its own time range: compare with the earliest time of the files
    # that hold the stream, not with the earliest time of everything.
    source_code = _codes(events["source"])
    source_start = pd.Series(events["ts"].to_numpy()).groupby(source_code).min()
    per_event = source_start.reindex(source_code).to_numpy()
    env_start = pd.Series(per_event).groupby(env_code).min()
    env_start.index = pd.Series(first.index, index=first["env_code"].to_numpy()).reindex(
        env_start.index).to_numpy()
    dates = stream_dates.groupby(level=0).first().reindex(first.index)
    before_creation = dates.notna() & (env_start.reindex(first.index) < dates)
    return (init_like | before_creation).astype(bool)


def _codes(values: pd.Series) -> np.ndarray:
    """`pd.factorize` codes of a column that holds long runs of one value (the input file of
    each event): only the first value of each run is hashed."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.factorize(values)[0]
    array = values.to_numpy(dtype=object)
    if len(array) == 0:
        return np.zeros(0, dtype=np.intp)
    change = np.ones(len(array), dtype=bool)
    change[1:] = array[1:] != array[:-1]
    starts = np.flatnonzero(change)
    return np.repeat(pd.factorize(array[starts])[0], np.diff(np.append(starts, len(array))))


def cold_start_causes(inv: pd.DataFrame, idle_gap_s: float) -> pd.Series:
    """A cause for every cold invocation (NaN for warm ones). Vectorised per function, on
    float arrays and integer codes of the environment, status and version (no per-group copy
    of the table)."""
    causes = np.full(len(inv), np.nan, dtype=object)
    cold_all = inv["cold"].to_numpy(dtype=bool) if len(inv) else np.zeros(0, dtype=bool)
    if not cold_all.any():
        return pd.Series(causes, index=inv.index, dtype=object)
    start = inv["start_ms"].to_numpy(dtype=float)
    init_ms = inv["init_ms"].to_numpy(dtype=float)
    t0 = fill_nan(_floats_of(inv, "init_start_ts"),
                  start - np.where(np.isnan(init_ms), 0.0, init_ms))
    columns = {
        "start": start, "end": inv["end_ms"].to_numpy(dtype=float), "t0": t0,
        "env": environment_codes(inv)[0], "bad": status_is(inv, *BAD_END), "cold": cold_all,
        "provisioned": _provisioned(inv["cold_type"].to_numpy(dtype=object), cold_all),
        "version": _version_codes(inv["version"].to_numpy(dtype=object))}
    # rows without a function belong to no group (as `groupby` drops them)
    function, names = factorized(inv["function"].to_numpy(dtype=object))
    for code in np.unique(function[cold_all]):
        if code < 0:
            continue
        rows = None if len(names) == 1 and function[0] == 0 and (function >= 0).all() else (
            np.flatnonzero(function == code))
        group = columns if rows is None else {k: v[rows] for k, v in columns.items()}
        picked, cold = _causes(group, idle_gap_s)
        causes[cold if rows is None else rows[cold]] = picked
    return pd.Series(causes, index=inv.index, dtype=object)


def _provisioned(cold_type: np.ndarray, cold: np.ndarray) -> np.ndarray:
    """Cold rows whose init was a provisioned-concurrency one (read on the cold rows only)."""
    out = np.zeros(len(cold), dtype=bool)
    rows = np.flatnonzero(cold)
    out[rows] = cold_type[rows] == "provisioned-concurrency"
    return out


def _version_codes(version: np.ndarray) -> np.ndarray:
    """Integer codes of the version, a missing version counting as "" (`fillna("")`)."""
    codes, names = factorized(version)
    blank = np.flatnonzero(np.asarray(names, dtype=object) == "")
    return np.where(codes < 0, blank[0] if len(blank) else len(names), codes)


def _causes(group: dict[str, np.ndarray], idle_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The causes of the cold rows of one function (the rows of `group`, table order), and
    where those rows are."""
    cold = np.flatnonzero(group["cold"])
    t = group["t0"][cold]
    # Busy = running an invocation [start, end) or an init [init start, start).
    run_start, run_end = group["start"], group["end"]
    init_from, init_to = t, run_start[cold]
    ok = ~np.isnan(run_start) & ~np.isnan(run_end)
    ok_init = ~np.isnan(init_from) & ~np.isnan(init_to) & (init_from < init_to)
    starts = np.sort(np.concatenate([run_start[ok], init_from[ok_init]]), kind="stable")
    ends = np.sort(np.concatenate([run_end[ok], init_to[ok_init]]), kind="stable")
    own_start, own_end = init_to, run_end[cold]
    own = (ok_init & (init_from <= t) & (t < init_to)) | ((own_start <= t) & (t < own_end))
    busy = (np.searchsorted(starts, t, "right") - np.searchsorted(ends, t, "right")
            - own.astype(int))
    idx = np.searchsorted(ends, t, "left") - 1
    prev_end = (np.where(idx >= 0, ends[np.clip(idx, 0, None)], -np.inf) if len(ends)
                else np.full(len(t), -np.inf))
    idle = (t - prev_end) >= idle_gap_s * 1000.0
    first_env = _first_of_version(group["version"], run_start, cold, t)
    replaced = _replacements(group, cold, t, idle_gap_s * 1000.0)
    picked = np.select(
        [group["provisioned"][cold], replaced, busy > 0, first_env, idle & np.isfinite(prev_end)],
        ["provisioned", "replacement", "scale_out", "first_environment", "idle"],
        default="unknown",
    )
    return picked, cold


def _first_of_version(version: np.ndarray, start: np.ndarray, cold: np.ndarray,
                      t: np.ndarray) -> np.ndarray:
    """True where no invocation of the same version starts before this init began."""
    earliest = pd.Series(start).groupby(version).min()
    return ~(earliest.reindex(version[cold]).to_numpy(dtype=float) < t - 1e-6)


def grouped_order(codes: np.ndarray) -> np.ndarray:
    """A stable order of rows by integer code (a radix sort when the codes fit 16 bits)."""
    small = len(codes) and codes.min() >= -1 and codes.max() < np.iinfo(np.int16).max
    return np.argsort(codes.astype(np.int16) if small else codes, kind="stable")


def _replacements(group: dict[str, np.ndarray], cold: np.ndarray, t: np.ndarray,
                  window_ms: float) -> np.ndarray:
    """Same stream re-init after a bad end, or the first init after another stream's bad end
    (within `window_ms`: after longer, the new environment is not replacing anything)."""
    n = len(group["start"])
    order = np.argsort(group["start"], kind="stable")  # start order (NaN last)
    env = group["env"][order]
    by_env = grouped_order(env)  # each environment's rows together, in start order
    env_sorted = env[by_env]
    same = np.zeros(n, dtype=bool)
    same[1:] = (env_sorted[1:] == env_sorted[:-1]) & (env_sorted[1:] >= 0)
    after_bad = np.zeros(n, dtype=bool)
    after_bad[1:] = group["bad"][order][by_env][:-1]
    previous_bad = np.empty(n, dtype=bool)
    previous_bad[order[by_env]] = after_bad & same
    same_env = previous_bad[cold]
    # each environment's last invocation (by start), those that ended badly, by end time
    last = np.ones(n, dtype=bool)
    last[:-1] = env_sorted[:-1] != env_sorted[1:]
    last &= env_sorted >= 0
    last_rows = order[np.sort(by_env[last])]
    end = group["end"]
    last_rows = last_rows[group["bad"][last_rows] & ~np.isnan(end[last_rows])]
    dead = pd.DataFrame({"environment": group["env"][last_rows], "end_ms": end[last_rows]}
                        ).sort_values("end_ms")
    other = np.zeros(len(cold), dtype=bool)
    if not dead.empty:
        probe = pd.DataFrame({"t": t, "pos": np.arange(len(cold)),
                              "environment_cold": group["env"][cold]})
        probe = probe.loc[probe["t"].notna()].sort_values("t")
        matched = pd.merge_asof(probe, dead, left_on="t", right_on="end_ms",
                                direction="backward")
        matched = matched.loc[matched["end_ms"].notna()
                              & matched["environment"].ne(matched["environment_cold"])
                              & (matched["t"] - matched["end_ms"]).le(window_ms)]
        matched = matched.drop_duplicates("environment", keep="first")
        other[matched["pos"].to_numpy(dtype=int)] = True
    return same_env | other
