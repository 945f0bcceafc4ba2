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
    """A cause for every cold invocation (NaN for warm ones). Vectorised per function."""
    causes = pd.Series(np.nan, index=inv.index, dtype=object)
    if inv.empty or not inv["cold"].any():
        return causes
    t0 = inv["init_start_ts"].astype(float).fillna(
        inv["start_ms"].astype(float) - inv["init_ms"].fillna(0.0).astype(float))
    # only the columns read here: each group of a wide frame would be a copy of every column
    narrow = pd.DataFrame({name: inv[name] for name in (
        "function", "version", "environment", "status", "cold", "cold_type", "start_ms",
        "end_ms")}, copy=False)
    for _function, group in narrow.groupby("function", sort=False):
        cold = group.loc[group["cold"]]
        if cold.empty:
            continue
        t = t0.loc[cold.index].to_numpy()
        # Busy = running an invocation [start, end) or an init [init start, start).
        run_start = group["start_ms"].to_numpy(dtype=float)
        run_end = group["end_ms"].to_numpy(dtype=float)
        init_from = t0.loc[cold.index].to_numpy(dtype=float)
        init_to = cold["start_ms"].to_numpy(dtype=float)
        ok = ~np.isnan(run_start) & ~np.isnan(run_end)
        ok_init = ~np.isnan(init_from) & ~np.isnan(init_to) & (init_from < init_to)
        starts = np.sort(np.concatenate([run_start[ok], init_from[ok_init]]))
        ends = np.sort(np.concatenate([run_end[ok], init_to[ok_init]]))
        own_start, own_end = init_to, cold["end_ms"].to_numpy(dtype=float)
        own = (ok_init & (init_from <= t) & (t < init_to)) | (
            (own_start <= t) & (t < own_end))
        busy = (np.searchsorted(starts, t, "right") - np.searchsorted(ends, t, "right")
                - own.astype(int))
        idx = np.searchsorted(ends, t, "left") - 1
        prev_end = (np.where(idx >= 0, ends[np.clip(idx, 0, None)], -np.inf) if len(ends)
                    else np.full(len(t), -np.inf))
        idle = (t - prev_end) >= idle_gap_s * 1000.0
        first_env = _first_of_version(group, cold, t)
        replaced = _replacements(group, cold, t, idle_gap_s * 1000.0)
        provisioned = cold["cold_type"].eq("provisioned-concurrency").to_numpy()
        picked = np.select(
            [provisioned, replaced, busy > 0, first_env, idle & np.isfinite(prev_end)],
            ["provisioned", "replacement", "scale_out", "first_environment", "idle"],
            default="unknown",
        )
        causes.loc[cold.index] = picked
    return causes


def _first_of_version(group: pd.DataFrame, cold: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """True where no invocation of the same version starts before this init began."""
    version = group["version"].fillna("")
    earliest = group["start_ms"].groupby(version).min()
    own_version = cold["version"].fillna("")
    return ~(earliest.reindex(own_version).to_numpy(dtype=float) < t - 1e-6)


def _replacements(group: pd.DataFrame, cold: pd.DataFrame, t: np.ndarray,
                  window_ms: float) -> np.ndarray:
    """Same stream re-init after a bad end, or the first init after another stream's bad end
    (within `window_ms`: after longer, the new environment is not replacing anything)."""
    ordered = group.sort_values("start_ms", kind="stable")
    prev_status = ordered.groupby("environment", sort=False)["status"].shift(1)
    same_env = prev_status.reindex(cold.index).isin(BAD_END).to_numpy()
    last = ordered.groupby("environment", sort=False).tail(1)
    dead = last.loc[last["status"].isin(BAD_END) & last["end_ms"].notna(),
                    ["environment", "end_ms"]].sort_values("end_ms")
    other = np.zeros(len(cold), dtype=bool)
    if not dead.empty:
        probe = pd.DataFrame({"t": t, "pos": np.arange(len(cold)),
                              "environment_cold": cold["environment"].to_numpy()})
        probe = probe.loc[probe["t"].notna()].sort_values("t")
        matched = pd.merge_asof(probe, dead, left_on="t", right_on="end_ms",
                                direction="backward")
        matched = matched.loc[matched["end_ms"].notna()
                              & matched["environment"].ne(matched["environment_cold"])
                              & (matched["t"] - matched["end_ms"]).le(window_ms)]
        matched = matched.drop_duplicates("environment", keep="first")
        other[matched["pos"].to_numpy(dtype=int)] = True
    return same_env | other
