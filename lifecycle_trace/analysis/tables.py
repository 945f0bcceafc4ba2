"""The two tables of the analysis model: invocations (one row per request id) and environments
(one row per log stream). Column lists are the contract the renderers and users rely on.

`disagreements` (invocations): where two sources gave different values for a phase or init,
what each said and which one the row uses. `idle_s` / `idle_max_s` (environments): time the
runtime waited in `GET /next` between invocations, measured by the wrapper's `poll_wait` (exact;
the `idle_gap_*` columns are inferred from log timestamps, and stand in when no trace
measured it); `idle_source` says which (`poll_wait` | `log_gaps`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis import billing, classify, coldstart
from lifecycle_trace.analysis.classify import (
    STATUSES,
    environment_codes,
    equals_any,
    fill_nan,
    first_of_each,
    has_value,
    is_broadcast,
)
from lifecycle_trace.analysis.coldstart import grouped_order
from lifecycle_trace.analysis.frames import (
    by_first_appearance,
    first_row_mask,
    narrow_ints,
    parse_streams,
)
from lifecycle_trace.analysis.merge import INVOCATION_KINDS, Merged, stream_facts

INVOCATION_COLUMNS = [
    "request_id", "function", "version", "environment", "start", "end", "duration_ms",
    "billed_ms", "memory_mb", "max_memory_mb", "init_ms", "restore_ms", "cold", "cold_type",
    "cold_source", "cold_cause", "status", "error_type", "out_of_memory", "timeout_s",
    "poll_wait_ms", "handler_ms", "response_ms", "post_response_ms", "phase_source",
    "billed_source", "billing_rule", "init_billed", "billed_start", "billed_end", "gb_seconds",
    "cost_usd", "suppressed_init_ms", "app_lines", "trace_id", "runtime_version", "sources",
    "invocation", "disagreements",
]
"""`invocation` is unique: the request id, then `<id>#2`... for further runs of the same id
(Lambda retries async events with the same request id; each run is billed)."""
ENVIRONMENT_COLUMNS = [
    "environment", "function", "version", "first_seen", "last_seen", "started_in_export",
    "runtime_version", "init_ms", "init_type", "cold_start_cause", "invocations", "cold_starts",
    "timeouts", "errors", "crashes", "idle_gap_max_s", "idle_gap_total_s", "ended",
    "billed_ms", "gb_seconds", "cost_usd", "idle_s", "idle_max_s", "idle_source",
]


PHASES = ("poll_wait_ms", "handler_ms", "response_ms", "post_response_ms")
RAW_COLUMNS = (
    "request_id", "max_memory_mb", "trace_id", "start_trace_id", "span_trace_id", "timeout_s",
    "runtime_version", "runtime_arn", "suppressed_init_ms", "app_lines", "sources",
    "report_init_ms", "report_restore_ms", "report_status", "report_error_type", "report_dialect",
    "rd_status", "rd_error_type", "timed_out_text", "exit_reason", "exit_signal",
    "exit_error_type", "exit_text", "init_start_ts", "init_type", "init_report_ms", "init_status",
    "init_report_type", "init_report_dialect", "init_error_type", "init_rd_status",
    "suppressed_start_ts", "suppressed_status", "suppressed_error_type", "restore_start_ts",
    "restore_report_ms", "wr_cold", "wr_init_ms", "wr_outcome", "span_init_ms", "span_cold",
    "span_alt_dialect", "span_dialect", "span_invocation_ms", "span_restore_ms", "span_outcome",
    "span_alt_init_ms", "reported_billed_ms", "billed_restore_ms",
    *(f"{source}_{phase}" for phase in PHASES for source in ("wr", "span", "span_alt", "rd")),
)
"""The merged raw columns the later steps read (classify, billing, findings, the report); the
others stay in `Merged.invocations` and are not copied into the table."""


def _utc(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms.astype(float), unit="ms", utc=True)


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    return classify._floats_of(frame, name)


def _nan0(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), 0.0, values)


def _take(column: pd.Series | pd.Index, order: np.ndarray,
          empty: dict[object, np.ndarray] | None = None) -> pd.Series:
    """One column in table order, its dtype kept (a plain object array is not re-inferred).

    A column with no value anywhere (a source absent from the input: most columns) shares one
    read-only array per missing marker (`empty`) instead of a copy of its own."""
    values = column.array if not isinstance(column.dtype, np.dtype) else column.to_numpy()
    first = values[0] if len(values) else 0
    missing = first is None or isinstance(first, float) and first != first
    if values.dtype == object and missing and values.strides == (0,) and len(values) > 1:
        return pd.Series(values, dtype=object, copy=False)  # the merge's broadcast NaN
    if values.dtype == object and missing and pd.isna(values).all():
        key = None if first is None else "nan"
        shared = None if empty is None else empty.get(key)
        if shared is None:
            shared = np.full(len(values), first, dtype=object)
            shared.flags.writeable = False
            if empty is not None:
                empty[key] = shared
        return pd.Series(shared, dtype=object, copy=False)
    return pd.Series(values.take(order), dtype=column.dtype, copy=False)


def _times(raw: pd.DataFrame) -> dict[str, np.ndarray]:
    """start_ms, end_ms, duration_ms and memory_mb of each merged row, from the best source
    (the intermediate arrays are let go on return)."""
    duration = _num(raw, "duration_ms")
    report_ts, start_ts, rd_ts = _num(raw, "report_ts"), _num(raw, "start_ts"), _num(raw, "rd_ts")
    start = fill_nan(start_ts, report_ts - _nan0(duration))
    start = fill_nan(start, rd_ts - _nan0(_num(raw, "rd_duration_ms")))
    start = fill_nan(fill_nan(start, _num(raw, "wr_ts")), _num(raw, "span_start_ts"))
    span_run = _num(raw, "span_invocation_ms")
    duration = fill_nan(fill_nan(duration, _num(raw, "rd_duration_ms")), span_run)
    memory = fill_nan(_num(raw, "memory_mb"), _num(raw, "span_memory_mb"))
    # A start taken from a trace is after init, while RIE's Duration holds its lazy init: end
    # such a row by the trace's own run (handler + response + post-response) when there is one.
    from_trace = np.isnan(start_ts) & np.isnan(report_ts) & np.isnan(rd_ts)
    trace_run = fill_nan(span_run, _num(raw, "wr_handler_ms") + _nan0(_num(raw, "wr_response_ms"))
                      + _nan0(_num(raw, "wr_post_response_ms")))
    run = np.where(~from_trace | np.isnan(trace_run), duration, trace_run)
    end = fill_nan(fill_nan(start + run, report_ts), _num(raw, "end_ts"))
    return {"duration_ms": duration, "memory_mb": memory, "start_ms": start, "end_ms": end}


def build_invocations(merged: Merged, idle_gap_s: float, *, consume: bool = False
                      ) -> pd.DataFrame:
    """Merged raw facts -> the invocations table (without cost, added once prices are known).

    Times are worked out on plain arrays in the merge's order; the table is then made once, in
    start order, from the few raw columns the later steps read (the merged frame is wide).
    `consume`: `merged.invocations` is the caller's to give away: it is replaced by an empty
    frame, and each raw column is let go as soon as it has been read (the raw frame and the
    table are not both held whole)."""
    raw = merged.invocations
    facts = stream_facts(raw, merged.environment_functions)
    times = _times(raw)
    order = np.argsort(times["start_ms"], kind="stable")  # NaN last, ties in merge order
    empty: dict[object, np.ndarray] = {}
    owners = _owner_codes(merged)
    if consume:
        merged.invocations = _emptied(raw)
        for name in raw.columns.difference(RAW_COLUMNS, sort=False):
            del raw[name]  # (read above: times, stream facts)
    data = {"invocation": _take(raw.index, order)}
    if owners is not None:  # (evidence finds an invocation's records by it)
        data["owner_code"] = pd.Series(narrow_ints(owners)[order], copy=False)
    for name in RAW_COLUMNS:
        if name in raw:
            data[name] = _take(raw[name], order, empty)
            if consume:
                del raw[name]
    del raw
    data.update((name, _take(facts[name], order)) for name in ("environment", "function",
                                                                  "version"))
    env_code, env_names = _first_seen(facts["environment_code"].to_numpy()[order],
                                      data["environment"].to_numpy(dtype=object))
    del facts
    data.update((name, pd.Series(times.pop(name)[order], copy=False)) for name in (
        "duration_ms", "memory_mb", "start_ms", "end_ms"))
    inv = pd.DataFrame(data, copy=False)
    del data, order
    inv["environment_code"] = narrow_ints(env_code)  # (the later steps group on it:
    # classify.environment_codes)
    envs = pd.Series(env_names)
    dates = parse_streams(envs).set_index(envs)["stream_date_ms"]
    started = coldstart.started_in_export(merged.events, dates)
    merged.started_in_export = started
    inv = classify.classify_status(inv)
    inv = classify.classify_cold(inv, started)
    inv = classify.choose_phases(inv)
    inv = billing.compute_billing(inv)
    inv["cold_cause"] = coldstart.cold_start_causes(inv, idle_gap_s)
    inv["start"] = _utc(inv["start_ms"])
    inv["end"] = _utc(inv["end_ms"])
    inv["billed_start"] = _utc(inv["billed_start_ms"])
    inv["billed_end"] = _utc(inv["billed_end_ms"])
    inv["app_lines"] = inv["app_lines"].fillna(0).astype(int)
    inv["trace_id"] = inv["trace_id"].fillna(inv["start_trace_id"]).fillna(inv["span_trace_id"])
    inv["cost_usd"] = np.nan
    started_env = started.reindex(pd.Index(env_names, dtype=object)).fillna(False)
    inv["stream_started"] = np.append(started_env.to_numpy(dtype=bool), False)[env_code]
    return inv


def _emptied(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with no rows, holding none of its arrays (`frame.iloc[:0]` is a view: it would
    keep every column of a million rows alive)."""
    return frame.iloc[:0].copy(deep=True)


def _first_seen(codes: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(names)` (codes by first appearance, -1 for none; the distinct names),
    worked out on `codes`, integer codes of the same names in another numbering (-1: none)."""
    out = np.full(len(codes), -1, dtype=np.int64)
    has = np.flatnonzero(codes >= 0)
    out[has], _ = by_first_appearance(codes[has])
    return out, names[has[first_row_mask(codes[has])]]


def _owner_codes(merged: Merged) -> np.ndarray | None:
    """Each merged invocation's owner code (what the record frames' `owner_code` holds), or
    None when the frames kept after the merge do not show every one of them.

    The merge makes one row per owner code that an invocation record names, in code order;
    when the kept frames name exactly as many codes as there are rows, those are the rows'
    codes. (`evidence.collect_owned` also checks the names of what it finds.) The merge gives
    them outright (`Merged.owner_codes`) once it has cut the frames kept for quoting."""
    rows = len(merged.invocations)
    given = getattr(merged, "owner_codes", None)
    if given is not None and len(given) == rows:
        return given
    named = [frame["owner_code"].to_numpy() for kind, frame in merged.frames.items()
             if kind in INVOCATION_KINDS and "owner_code" in frame]
    codes = np.concatenate(named) if named else np.zeros(0, dtype=np.int64)
    codes = codes[codes >= 0]
    if not rows or not len(codes):
        return None
    present = np.zeros(int(codes.max()) + 1, dtype=bool)
    present[codes] = True
    owners = np.flatnonzero(present)
    return owners if len(owners) == rows else None


def public_invocations(inv: pd.DataFrame) -> pd.DataFrame:
    """The documented columns only, in order."""
    return inv.reindex(columns=INVOCATION_COLUMNS).reset_index(drop=True)


def build_environments(inv: pd.DataFrame, merged: Merged) -> pd.DataFrame:
    """One row per execution environment (log stream), including streams that only ran init.

    The per-environment figures are worked out on integer codes of the environment (in order
    of first appearance by start time, as a `groupby(sort=False)` on the names would number
    them): counts with `np.bincount`, firsts and lasts at positions, float sums by pandas on
    the codes (its compensated sums, as before)."""
    events = merged.events
    seen = events.groupby("env_code", sort=False)["ts"].agg(["min", "max"])
    names = events.groupby("env_code", sort=False)["env"].first()
    seen.index = names.reindex(seen.index).to_numpy()
    started = merged.started_in_export
    env, env_names = _per_environment(inv)
    env.index = pd.Index(env_names, dtype=object).take(env.index.to_numpy())
    # streams that only ran init count too; a file's stand-in key ("source:...") only when
    # invocations live in it (X-Ray records, say, have no stream and join the logs' one)
    real_codes = np.unique(events["env_code"].to_numpy()[events["real_env"].to_numpy(dtype=bool)])
    real = names.reindex(real_codes).to_numpy()
    env = env.reindex(env.index.union(pd.Index(real)))
    env = _add_orphans(env, merged)
    env["first_seen"] = _utc(seen["min"].reindex(env.index))
    env["last_seen"] = _utc(seen["max"].reindex(env.index))
    env["started_in_export"] = started.reindex(env.index).fillna(False).astype(bool)
    for column in ("invocations", "cold_starts", "timeouts", "errors", "crashes"):
        env[column] = env[column].fillna(0).astype(int)
    env = env.rename_axis("environment").reset_index()
    streams = parse_streams(env["environment"])
    env["function"] = env["function"].fillna(streams["stream_function"]).fillna("unknown")
    env["version"] = env["version"].fillna(streams["stream_version"])
    return env.reindex(columns=ENVIRONMENT_COLUMNS)


def _per_environment(inv: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The invocations' part of the environments table: one row per environment code (rows
    without an environment belong to none), and the environments' names."""
    order = np.argsort(inv["start_ms"].to_numpy(dtype=float), kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        order = None  # already in start order (as build_invocations makes it)
        code, env_names = environment_codes(inv)
    else:
        code, env_names = pd.factorize(inv["environment"].to_numpy(dtype=object)[order])
        env_names = np.asarray(env_names, dtype=object)
    keep = code >= 0
    if keep.all():
        keep = slice(None)  # (no copy of each column)
    code = code[keep]
    count = len(env_names)

    def column(name: str) -> np.ndarray:
        values = inv[name].to_numpy()
        return (values if order is None else values[order])[keep]

    def typed(name: str, values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=inv[name].dtype)

    first = first_of_each(code)  # each environment's first invocation
    start, end = column("start_ms").astype(float), column("end_ms").astype(float)
    # time between an invocation's end and the next start in the same environment
    by_env = grouped_order(code)
    grouped_code = code[by_env]
    previous_end = np.full(len(code), np.nan)
    previous_end[by_env[1:]] = np.where(grouped_code[1:] == grouped_code[:-1],
                                        end[by_env[:-1]], np.nan)
    gap_s = np.round((start - previous_end) / 1000.0, 6)
    floats = pd.DataFrame({"billed_ms": column("billed_ms"), "gb_seconds": column("gb_seconds"),
                           "cost_usd": column("cost_usd"), "gap_s": gap_s}, copy=False)
    by_code = floats.groupby(code, sort=False)  # (the codes are factorized once for both)
    sums = by_code.sum()
    status = column("status")
    status_code = _status_codes(inv, status, order, keep)
    ended = np.full(count, np.nan, dtype=object)
    last = _last_of_each(code, status_code < len(STATUSES), count)
    has_end = last >= 0
    ended[has_end] = status[last[has_end]]
    env = pd.DataFrame({
        "function": typed("function", _first_valid(column("function"), code, first, count)),
        "version": typed("version", _first_valid(column("version"), code, first, count)),
        "runtime_version": typed("runtime_version", _first_valid(
            column("runtime_version"), code, first, count)),
        "invocations": np.bincount(code, minlength=count),
        "cold_starts": np.bincount(code, weights=column("cold"), minlength=count).astype(np.int64),
        "billed_ms": sums["billed_ms"], "gb_seconds": sums["gb_seconds"],
        "cost_usd": sums["cost_usd"],
        "idle_gap_max_s": by_code["gap_s"].max(),
        "idle_gap_total_s": sums["gap_s"], "ended": typed("status", ended)})
    # exact idle: every GET /next wait but the first (after init, not between invocations)
    exact = _exact_idle(column("poll_wait_ms"), code, first)
    env["idle_s"] = exact["sum"].where(exact["count"].gt(0)).round(6)
    env["idle_max_s"] = exact["max"].round(6)
    env["idle_source"] = pd.Series("poll_wait", index=exact.index).where(
        exact["count"].gt(0)).reindex(env.index)
    inferred = env["idle_source"].isna() & env["idle_gap_total_s"].notna()
    env.loc[inferred, "idle_source"] = "log_gaps"
    env["idle_s"] = env["idle_s"].fillna(env["idle_gap_total_s"].where(inferred))
    env["idle_max_s"] = env["idle_max_s"].fillna(env["idle_gap_max_s"].where(inferred))
    for name, value in (("timeouts", "timeout"), ("errors", "error"), ("crashes", "crash")):
        env[name] = np.bincount(code[status_code == STATUSES.index(value)], minlength=count)
    cold = np.flatnonzero(column("cold").astype(bool))
    first_cold = pd.DataFrame({"environment": code[cold], **{
        name: typed(name, column(name)[cold]) for name in ("init_ms", "cold_type", "cold_cause")}}
        ).groupby("environment", sort=False).first()
    env["init_ms"] = first_cold["init_ms"]
    env["init_type"] = first_cold["cold_type"]
    env["cold_start_cause"] = first_cold["cold_cause"]
    env["ended"] = env["ended"].where(env["ended"].isin(coldstart.BAD_END))
    return env, env_names


def _status_codes(inv: pd.DataFrame, status: np.ndarray, order: np.ndarray | None,
                  keep: np.ndarray | slice) -> np.ndarray:
    """Each row's position of its status in `STATUSES` (`len(STATUSES)`: none)."""
    if "status_code" in inv:
        codes = inv["status_code"].to_numpy()
        return (codes if order is None else codes[order])[keep]
    codes = np.full(len(status), len(STATUSES), dtype=np.int8)
    for i, name in enumerate(STATUSES):
        codes[equals_any(status, name)] = i
    return codes


def _first_valid(values: np.ndarray, code: np.ndarray, first: np.ndarray,
                 count: int) -> np.ndarray:
    """Per code, the first value that is not missing (`groupby(...).first()`): the value of
    the code's first row when none of those is missing (no pass over the column), else found
    with a minimum of positions."""
    at_first = np.asarray(values[first], dtype=object)
    if not pd.isna(at_first).any():
        return at_first
    rows = np.flatnonzero(has_value(values))
    position = np.full(count, len(values))
    np.minimum.at(position, code[rows], rows)
    out = np.full(count, np.nan, dtype=object)
    found = position < len(values)
    out[found] = values[position[found]]
    return out


def _last_of_each(code: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """Per code, the last row where `rows` holds (-1: none)."""
    position = np.full(count, -1)
    where = np.flatnonzero(rows)
    np.maximum.at(position, code[where], where)
    return position


def _exact_idle(poll_wait_ms: np.ndarray, code: np.ndarray, first: np.ndarray
                ) -> pd.DataFrame:
    """Per environment with more than one invocation: sum, max and count of its GET /next
    waits in seconds, leaving out each environment's first (after init)."""
    later = np.ones(len(code), dtype=bool)
    later[first] = False
    waits = poll_wait_ms.astype(float)
    if is_broadcast(waits) and np.isnan(waits[0]):  # no trace measured any wait
        groups = np.flatnonzero(np.bincount(code[later], minlength=len(first)) > 0)
        return pd.DataFrame({"sum": np.zeros(len(groups)), "max": np.full(len(groups), np.nan),
                             "count": np.zeros(len(groups), dtype=np.int64)}, index=groups)
    return (pd.Series(waits[later] / 1000.0).groupby(code[later], sort=False)
            .agg(["sum", "max", "count"]))


def _add_orphans(env: pd.DataFrame, merged: Merged) -> pd.DataFrame:
    """Streams whose init was not followed by any invocation: how their init ended."""
    orphans = merged.orphans
    if orphans.empty or "status" not in orphans:
        return env
    reports = orphans.loc[orphans["kind"].eq("InitReport")].groupby("env").last()
    failed = reports["status"].isin(classify.FAILED)
    ended = reports["status"].where(failed).map(
        {"timeout": "init_timeout", "error": "init_error", "failure": "init_error"})
    env["ended"] = env["ended"].fillna(ended.reindex(env.index))
    env["init_ms"] = env["init_ms"].fillna(reports["duration_ms"].reindex(env.index))
    if "function" in orphans:
        env["function"] = env["function"].fillna(
            orphans.groupby("env")["function"].first().reindex(env.index))
    return env
