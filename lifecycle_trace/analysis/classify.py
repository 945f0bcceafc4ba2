"""Per-invocation facts inferred from the merged raw columns: status, cold start, phases.

Cold start = the environment ran init for this invocation (ARCHITECTURE.md):
`cold_source` says which evidence showed it (`report` = Init Duration, `init_start`,
`init_report`, `restore`, `suppressed_init`, `trace`, or `inferred`: the first invocation of a
stream whose start is inside the input but which shows no init evidence). `cold_type` tells apart
`on-demand`, `provisioned-concurrency`, `snapstart`, `suppressed` (init re-run inside the invoke
after an init timeout or crash: its time is inside Duration) and `managed-instances`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.records import RIE, TEXT

CRASH_ERROR_TYPES = ("Runtime.ExitError", "Runtime.OutOfMemory")
INIT_ERROR_TYPES = (
    "Runtime.ImportModuleError", "Runtime.UserCodeSyntaxError", "Runtime.InvalidEntrypoint",
    "Runtime.InvalidWorkingDir", "Extension.InitError", "Extension.LaunchError",
)
FAILED = ("error", "failure", "timeout", "init_error", "never_polled", "crash")
"""Init outcomes that mean init did not complete (platform statuses, then the lctrace wrapper's
init-line outcomes)."""
INIT_ERRORS = ("error", "failure", "init_error", "crash")
INIT_TYPES = {
    "on-demand": "on-demand", "provisioned-concurrency": "provisioned-concurrency",
    "snap-start": "snapstart", "lambda-managed-instances": "managed-instances",
}


def _label(name: str, inv: pd.DataFrame) -> pd.Series:
    return pd.Series(name, index=inv.index, dtype=object)


def _col(inv: pd.DataFrame, name: str) -> pd.Series:
    return inv[name] if name in inv else pd.Series(np.nan, index=inv.index, dtype=object)


def _values(inv: pd.DataFrame, name: str) -> np.ndarray:
    """A column as plain objects (missing: NaN/None), for comparisons without pandas' overhead."""
    return _col(inv, name).to_numpy(dtype=object, na_value=None)


def _eq(values: np.ndarray, *options: str) -> np.ndarray:
    """`Series.isin(options)` on plain objects (missing values match nothing)."""
    out = values == options[0]
    for option in options[1:]:
        out |= values == option
    return np.asarray(out, dtype=bool)


def _has(values: np.ndarray) -> np.ndarray:
    return ~pd.isna(values)


def _contains(values: np.ndarray, text: str) -> np.ndarray:
    """`astype(str).str.contains(text, na=False)`, worked out only where there is a value."""
    out = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(_has(values))
    if len(rows):
        out[rows] = pd.Series(values[rows], dtype=object).astype(str).str.contains(
            text, regex=False, na=False).to_numpy(dtype=bool)
    return out


def classify_status(inv: pd.DataFrame) -> pd.DataFrame:
    """Add status (success | error | timeout | crash, null when no outcome record), error_type,
    out_of_memory."""
    rs, rd = _values(inv, "report_status"), _values(inv, "rd_status")
    wr = _values(inv, "wr_outcome")
    wr = np.where(pd.isna(wr), _values(inv, "span_outcome"), wr)
    error_type = (_col(inv, "report_error_type").fillna(_col(inv, "rd_error_type"))
                  .fillna(_col(inv, "exit_error_type")).fillna(_col(inv, "suppressed_error_type")))
    error = error_type.to_numpy(dtype=object)
    exit_text = _values(inv, "exit_text")
    exited = _has(_values(inv, "exit_reason")) | _has(exit_text)
    timeout = (_eq(rs, "timeout") | _eq(rd, "timeout") | _eq(wr, "timeout")
               | _has(_values(inv, "timed_out_text")) | _has(_values(inv, "timeout_s")))
    killed = _contains(_values(inv, "exit_signal"), "kill") | _contains(exit_text,
                                                                        "signal: killed")
    # RIE reports Max Memory Used = Memory Size always: no memory evidence there.
    at_limit = (inv["max_memory_mb"].to_numpy(dtype=float) >= inv["memory_mb"].to_numpy(
        dtype=float)) & ~_eq(_values(inv, "report_dialect"), RIE)
    crash_type = _eq(error, *CRASH_ERROR_TYPES)
    oom = _eq(error, "Runtime.OutOfMemory") | (killed & at_limit) | (
        (exited | crash_type) & at_limit)
    crash = exited | crash_type | _eq(rs, "failure") | _eq(wr, "crash") | oom
    failed = _eq(rs, "error") | _eq(rd, "error", "failure") | _eq(wr, "error")
    seen = (~np.isnan(inv["duration_ms"].to_numpy(dtype=float)) | _has(rs) | _has(rd)
            | _has(wr))
    status = np.select([timeout, crash, failed, seen], ["timeout", "crash", "error", "success"],
                       default=None)
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["status"] = pd.Series(status, index=inv.index, dtype=object)
    out["error_type"] = error_type.where(status != "success")
    out["out_of_memory"] = oom
    return out


def classify_cold(inv: pd.DataFrame, started_in_export: pd.Series) -> pd.DataFrame:
    """Add cold, cold_type, cold_source and init_ms/restore_ms (best source). Expects `status`
    and rows ordered by start time."""
    rie = inv["report_dialect"].eq(RIE)
    report_init = inv["report_init_ms"].notna()
    init_start = inv["init_start_ts"].notna()
    init_report = inv["init_report_ms"].notna() | inv["init_status"].notna()
    restore = (inv["report_restore_ms"].notna() | inv["restore_start_ts"].notna()
               | inv["restore_report_ms"].notna() | inv["span_restore_ms"].notna())
    suppressed = (inv["suppressed_init_ms"].notna() | inv["suppressed_start_ts"].notna()
                  | inv["suppressed_status"].notna())
    failed_init = inv["init_status"].isin(FAILED) & ~report_init
    trace = (inv["wr_cold"].eq(True) | inv["span_cold"].eq(True) | inv["span_init_ms"].notna()
             | inv["wr_init_ms"].notna())
    evidence = [report_init, init_start, init_report, restore, suppressed | failed_init, trace]
    names = ["report", "init_start", "init_report", "restore", "suppressed_init", "trace"]
    cold_source = pd.Series(np.select(evidence, names, default=None), index=inv.index,
                            dtype=object)
    # A stream whose init never completed re-runs it in every invoke (the never-polled doom
    # loop): after a failed init, each invocation until one ends well is a suppressed init.
    env = inv["environment"]
    failure = (suppressed | failed_init).astype(int)
    failure_before = failure.groupby(env, sort=False).cumsum() - failure
    ended_well = (~inv["status"].isin(("timeout", "crash")) | report_init).astype(int)
    good_before = ended_well.groupby(env, sort=False).cumsum() - ended_well
    doom_loop = cold_source.isna() & failure_before.gt(0) & good_before.eq(0) & ~report_init
    cold_source[doom_loop] = "suppressed_init"
    suppressed = suppressed | doom_loop
    # The first invocation of a stream that began inside the input, with no init evidence.
    first_in_env = ~inv.duplicated("environment", keep="first") & inv["environment"].notna()
    inferred = cold_source.isna() & first_in_env & started_in_export.reindex(
        inv["environment"]).fillna(False).to_numpy()
    cold_source[inferred] = "inferred"
    cold = cold_source.notna()

    declared = inv["init_type"].fillna(inv["init_report_type"]).map(INIT_TYPES)
    text_pc = (inv["init_report_dialect"].eq(TEXT) & inv["init_status"].fillna("success").eq(
        "success") & ~report_init & ~restore) | (init_start & ~report_init & ~restore
                                                 & ~init_report & inv["duration_ms"].notna()
                                                 & ~rie)
    cold_type = np.select(
        [~cold, suppressed | failed_init, restore | declared.eq("snapstart"), declared.notna(),
         text_pc, cold_source.eq("inferred")],
        [None, "suppressed", "snapstart", declared, "provisioned-concurrency", "unknown"],
        default="on-demand",
    )
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["cold"] = cold.astype(bool)
    out["cold_type"] = pd.Series(cold_type, index=inv.index, dtype=object)
    out["cold_source"] = cold_source
    # RIE's Init Duration is meaningless (~0.03 ms): evidence of a cold start, not a duration.
    init_ms = (inv["report_init_ms"].where(~rie).astype(float)
               .fillna(inv["init_report_ms"].where(~failed_init).astype(float))
               .fillna(inv["wr_init_ms"].astype(float)).fillna(inv["span_init_ms"].astype(float)))
    out["init_ms"] = init_ms.where(cold)
    out["restore_ms"] = inv["report_restore_ms"].astype(float).fillna(
        inv["restore_report_ms"].astype(float)).fillna(inv["span_restore_ms"].astype(float))
    out["managed"] = declared.eq("managed-instances").to_numpy()
    return out


DISAGREE_MS = 2.0
DISAGREE_SHARE = 0.10
"""Two sources of one phase disagree when they differ by more than both of these (the wrapper
and X-Ray measure at different points: a few ms apart is the same fact)."""


def _floats(inv: pd.DataFrame, name: str) -> np.ndarray:
    return inv[name].to_numpy(dtype=float) if name in inv else np.full(len(inv), np.nan)


class _Names:
    """Who measured a value: one label, or a label per row (a trace's dialect), filled only
    when some row needs it."""

    def __init__(self, label: str, inv: pd.DataFrame | None = None, column: str = "") -> None:
        self.label, self.inv, self.column = label, inv, column
        self._values: np.ndarray | None = None

    def at(self, rows: np.ndarray) -> np.ndarray:
        if self.inv is None:
            return np.full(len(rows), self.label, dtype=object)
        if self._values is None:
            self._values = (_col(self.inv, self.column).astype(object).fillna(self.label)
                            .to_numpy(dtype=object))
        return self._values[rows]


def _note(column: str, used: np.ndarray, value: np.ndarray, name: np.ndarray,
          other: np.ndarray) -> np.ndarray:
    """`<column>: <used> <value> vs <name> <other> (used <used>); ` per row (pandas' float text)."""
    def text(values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=object).astype(str)

    def number(values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=float).round(1).astype(str)

    return (column + ": " + text(used) + " " + number(value) + " vs " + text(name) + " "
            + number(other) + " (used " + text(used) + "); ").to_numpy(dtype=object)


def choose_phases(inv: pd.DataFrame) -> pd.DataFrame:
    """poll_wait/handler/response/post_response from the best trace source: the lctrace wrapper
    line, then phase spans (lctrace before X-Ray), then Telemetry `runtimeDone` spans. Where
    another source says something else, `disagreements` says what each said and which was
    used. (Worked on plain arrays: the texts are made only for the rows that need them.)"""
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    n = len(inv)
    span_dialect = _Names("span", inv, "span_dialect")
    alt_dialect = _Names("span", inv, "span_alt_dialect")
    notes = np.full(n, "", dtype=object)
    noted = np.zeros(n, dtype=bool)
    source_of = np.full(n, -1, dtype=np.int64)  # which column gave phase_source, and its names
    source_names: list[tuple[np.ndarray, list[_Names]]] = []
    cold = inv["cold"].to_numpy(dtype=bool)
    rie = inv["report_dialect"].eq(RIE).to_numpy(dtype=bool)
    columns = ("poll_wait_ms", "handler_ms", "response_ms", "post_response_ms", "init_ms")
    for column in columns:
        named = [(_Names("lctrace"), f"wr_{column}"), (span_dialect, f"span_{column}"),
                 (alt_dialect, f"span_alt_{column}"), (_Names("telemetry"), f"rd_{column}")]
        candidates = [(name, _floats(inv, col)) for name, col in named if col in inv]
        if column == "init_ms":  # the platform's own figures come first (as in classify_cold)
            candidates[:0] = [
                (_Names("report"), np.where(rie, np.nan, _floats(inv, "report_init_ms"))),
                (_Names("init_report", inv, "init_report_dialect"),
                 _floats(inv, "init_report_ms"))]
            candidates = [(name, np.where(cold, values, np.nan)) for name, values in candidates]
        value = np.full(n, np.nan)
        used = np.full(n, -1, dtype=np.int64)
        for i, (_name, other) in enumerate(candidates):
            fill = np.isnan(value) & ~np.isnan(other)
            value = np.where(fill, other, value)
            used[fill] = i
        names = [name for name, _ in candidates]
        for name, other in candidates:
            gap = np.abs(other - value)
            differ = np.flatnonzero((gap > DISAGREE_MS) & (gap > DISAGREE_SHARE * np.abs(value)))
            if len(differ):
                used_names = np.empty(len(differ), dtype=object)
                for i, source in enumerate(names):
                    pick = used[differ] == i
                    if pick.any():
                        used_names[pick] = source.at(differ[pick])
                notes[differ] = notes[differ] + _note(column, used_names, value[differ],
                                                      name.at(differ), other[differ])
                noted[differ] = True
        if column == "init_ms":
            continue  # init_ms is chosen with the cold start (classify_cold); only compared here
        first = (source_of < 0) & (used >= 0)
        source_of[first] = len(source_names)
        source_names.append((used, names))
        out[column] = value
    sources = np.full(n, np.nan, dtype=object)
    for k, (used, names) in enumerate(source_names):
        mine = source_of == k
        for i, name in enumerate(names):
            rows = np.flatnonzero(mine & (used == i))
            if len(rows):
                sources[rows] = name.at(rows)
    # Duration: REPORT's against the wrapper's invocation span (RIE's cold Duration holds its
    # lazy init, which the span does not: not a disagreement).
    dialect = inv["report_dialect"]
    reported = np.where(dialect.notna().to_numpy() & ~(rie & cold),
                        inv["duration_ms"].to_numpy(dtype=float), np.nan)
    traced = _floats(inv, "span_invocation_ms")
    gap = np.abs(traced - reported)
    differ = np.flatnonzero((gap > DISAGREE_MS) & (gap > DISAGREE_SHARE * np.abs(reported)))
    if len(differ):
        reporter = dialect.to_numpy(dtype=object)[differ]
        notes[differ] = notes[differ] + _note("duration_ms", reporter, reported[differ],
                                              span_dialect.at(differ), traced[differ])
        noted[differ] = True
    out["phase_source"] = pd.Series(sources, index=inv.index, dtype=object)
    disagreements = np.full(n, None, dtype=object)
    rows = np.flatnonzero(noted)
    disagreements[rows] = [text.rstrip("; ") or None for text in notes[rows]]
    out["disagreements"] = pd.Series(disagreements, index=inv.index, dtype=object)
    return out
