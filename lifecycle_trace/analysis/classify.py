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

from lifecycle_trace.analysis.frames import first_rows, is_broadcast
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


def _col(inv: pd.DataFrame, name: str) -> pd.Series:
    return inv[name] if name in inv else pd.Series(np.nan, index=inv.index, dtype=object)


def _values(inv: pd.DataFrame, name: str) -> np.ndarray:
    """A column as plain objects (missing: NaN/None), for comparisons without pandas' overhead."""
    column = _col(inv, name)
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        return column.to_numpy(dtype=object)  # (no pd.NA in these)
    return column.to_numpy(dtype=object, na_value=None)


def equals_any(values: np.ndarray, *options: str) -> np.ndarray:
    """`Series.isin(options)` on plain objects (missing values match nothing)."""
    if is_broadcast(values):
        return np.full(len(values), equals_any(values[:1], *options)[0], dtype=bool)
    out = values == options[0]
    for option in options[1:]:
        out |= values == option
    return np.asarray(out, dtype=bool)


def has_value(values: np.ndarray) -> np.ndarray:
    if is_broadcast(values):
        return np.full(len(values), not pd.isna(values[0]), dtype=bool)
    return ~pd.isna(values)


def _lean(values: np.ndarray, index: pd.Index) -> pd.Series:
    """A computed column; one with no value anywhere as a read-only broadcast of its missing
    value (no memory per row: most phase columns of a log-only input)."""
    if len(values) > 1 and values.dtype == float and np.isnan(values).all():
        values = np.broadcast_to(np.array([np.nan]), values.shape)
    elif len(values) > 1 and values.dtype == object and pd.isna(values).all():
        nones = np.asarray(values == None, dtype=bool)  # noqa: E711 - elementwise
        if nones.all() or not nones.any():
            values = np.broadcast_to(np.array([values[0]], dtype=object), values.shape)
    return pd.Series(values, index=index, dtype=values.dtype, copy=False)


def _missing(index: pd.Index, value: object) -> pd.Series:
    """A computed text column with no value anywhere: a read-only broadcast of `value` (what
    `_lean` makes of it, without reading a million rows to find that out)."""
    return pd.Series(np.broadcast_to(np.array([value], dtype=object), (len(index),)),
                     index=index, dtype=object, copy=False)


def _select(conditions: list[np.ndarray], choices: list[str | None],
            default: str | None) -> np.ndarray:
    """`np.select` with constant choices, picked by position (no object array per choice)."""
    picked = np.select(conditions, range(len(choices)), default=len(choices))
    return np.array([*choices, default], dtype=object)[picked]


def _contains(values: np.ndarray, text: str) -> np.ndarray:
    """`astype(str).str.contains(text, na=False)`, worked out only where there is a value."""
    out = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(has_value(values))
    if len(rows):
        out[rows] = pd.Series(values[rows], dtype=object).astype(str).str.contains(
            text, regex=False, na=False).to_numpy(dtype=bool)
    return out


def factorized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(values)` of an object array; one text through every row (one function or
    version in a large input) is found by a comparison pass, several times cheaper than
    pandas' hashing of every string."""
    if len(values) and isinstance(values[0], str):
        try:  # (the first rows first: a column that varies is told apart at once)
            same = bool((values[:256] == values[0]).all()) and bool((values == values[0]).all())
        except TypeError:  # (a value that does not compare to text as a plain bool: pd.NA)
            same = False
        if same:
            return np.zeros(len(values), dtype=np.intp), values[:1].copy()
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


class _Text:
    """A text column's distinct values and per-row codes (-1: missing), factorized once: any
    number of `isin` tests then cost a table lookup each instead of a pass of object
    comparisons. A broadcast column (one value seen through every row) is not read per row."""

    def __init__(self, values: np.ndarray) -> None:
        if is_broadcast(values):
            missing = bool(pd.isna(values[0]))
            self.uniques = values[:0] if missing else values[:1]
            self.codes = np.broadcast_to(np.intp(-1 if missing else 0), values.shape)
        else:
            self.codes, self.uniques = factorized(values)

    def isin(self, *options: object) -> np.ndarray:
        """`equals_any(values, *options)`: rows whose value is one of `options`."""
        table = np.array([value in options for value in self.uniques] + [False], dtype=bool)
        return table[self.codes]

    def has(self) -> np.ndarray:
        """Rows with a value (`has_value`)."""
        return np.asarray(self.codes >= 0)


def _present(inv: pd.DataFrame, name: str) -> np.ndarray:
    """`has_value(_values(inv, name))` without boxing a numeric column into objects."""
    if name not in inv:
        return np.zeros(len(inv), dtype=bool)
    column = inv[name]
    if column.dtype == float:
        return ~np.isnan(column.to_numpy())
    if column.dtype == object:
        return has_value(column.to_numpy())
    return column.notna().to_numpy(dtype=bool)


def _first(values: np.ndarray, other: np.ndarray) -> np.ndarray:
    """`np.where(pd.isna(values), other, values)` (object arrays); a broadcast column with no
    value on either side is taken as it is, not read per row."""
    if is_broadcast(values) and pd.isna(values[0]):
        return other
    if is_broadcast(other) and pd.isna(other[0]):
        return values
    return np.where(pd.isna(values), other, values)


def _fillna(values: pd.Series, other: pd.Series) -> pd.Series:
    """`values.fillna(other)`; skipped when `other` is a broadcast column with no value and
    `values` is text (what would be filled in is missing too, and stays text's NaN; an object
    column's None would become NaN, so that one is filled)."""
    array = other.to_numpy() if other.dtype == object else None
    if (array is not None and is_broadcast(array) and pd.isna(array[0])
            and isinstance(values.dtype, pd.StringDtype)):
        return values
    return values.fillna(other)


def report_is_rie(inv: pd.DataFrame) -> np.ndarray:
    """Rows whose REPORT came from the Runtime Interface Emulator (its Init Duration and Max
    Memory Used carry no information). Read from the `rie` column `classify_status` adds when
    there is one: several steps ask, the 1M-row text column is compared once."""
    if "rie" in inv:
        return inv["rie"].to_numpy(dtype=bool)
    return _Text(_values(inv, "report_dialect")).isin(RIE)


STATUSES = ("timeout", "crash", "error", "success")
"""`status` values in the order `classify_status` picks them; `status_code` numbers them (and
`len(STATUSES)` for no status)."""


def status_is(inv: pd.DataFrame, *names: str) -> np.ndarray:
    """Rows whose `status` is one of `names`, from the integer `status_code` when the frame
    has it (no pass of object comparisons)."""
    if "status_code" not in inv:
        return equals_any(_values(inv, "status"), *names)
    table = np.array([status in names for status in STATUSES] + [False], dtype=bool)
    return table[inv["status_code"].to_numpy()]


def classify_status(inv: pd.DataFrame) -> pd.DataFrame:
    """Add status (success | error | timeout | crash, null when no outcome record), error_type,
    out_of_memory; and, for the later steps, `status_code` (position in `STATUSES`) and `rie`.

    Each text column is factorized once (`_Text`) and tested on its codes."""
    rs, rd = _Text(_values(inv, "report_status")), _Text(_values(inv, "rd_status"))
    wr = _Text(_first(_values(inv, "wr_outcome"), _values(inv, "span_outcome")))
    error_type = _fillna(_fillna(_fillna(_col(inv, "report_error_type"),
                                         _col(inv, "rd_error_type")),
                                 _col(inv, "exit_error_type")), _col(inv, "suppressed_error_type"))
    error = _Text(error_type.to_numpy(dtype=object))
    exit_text = _values(inv, "exit_text")
    exited = has_value(_values(inv, "exit_reason")) | has_value(exit_text)
    timeout = (rs.isin("timeout") | rd.isin("timeout") | wr.isin("timeout")
               | has_value(_values(inv, "timed_out_text")) | has_value(_values(inv, "timeout_s")))
    killed = _contains(_values(inv, "exit_signal"), "kill") | _contains(exit_text,
                                                                        "signal: killed")
    # RIE reports Max Memory Used = Memory Size always: no memory evidence there.
    rie = _Text(_values(inv, "report_dialect")).isin(RIE)
    at_limit = (inv["max_memory_mb"].to_numpy(dtype=float) >= inv["memory_mb"].to_numpy(
        dtype=float)) & ~rie
    crash_type = error.isin(*CRASH_ERROR_TYPES)
    oom = error.isin("Runtime.OutOfMemory") | (killed & at_limit) | (
        (exited | crash_type) & at_limit)
    crash = exited | crash_type | rs.isin("failure") | wr.isin("crash") | oom
    failed = rs.isin("error") | rd.isin("error", "failure") | wr.isin("error")
    seen = ~np.isnan(inv["duration_ms"].to_numpy(dtype=float)) | rs.has() | rd.has() | wr.has()
    code = np.select([timeout, crash, failed, seen], range(len(STATUSES)),
                     default=len(STATUSES)).astype(np.int8)
    status = np.array([*STATUSES, None], dtype=object)[code]
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["status"] = pd.Series(status, index=inv.index, dtype=object)
    out["status_code"] = code
    out["rie"] = rie
    out["error_type"] = error_type.where(code != STATUSES.index("success"))
    out["out_of_memory"] = oom
    return out


def _floats_of(inv: pd.DataFrame, name: str) -> np.ndarray:
    column = inv[name]
    if column.dtype == object:
        values = column.to_numpy()
        if is_broadcast(values):
            return np.full(len(values), values[:1].astype(float)[0])
    return column.to_numpy(dtype=float)


def fill_nan(values: np.ndarray, other: np.ndarray) -> np.ndarray:
    """`values` with NaN entries taken from `other` (float arrays): a coalesce."""
    return np.where(np.isnan(values), other, values)


def environment_codes(inv: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's environment as an integer code (-1: none) in order of first appearance, and
    the names (`pd.factorize`). Read from the `environment_code` column `build_invocations`
    adds, when it still numbers the rows that way: the stage factorizes the 1M-row text column
    once, not once per step."""
    if "environment_code" in inv:
        codes = inv["environment_code"].to_numpy()
        rows = first_rows(codes)
        if rows is not None:
            return codes, inv["environment"].to_numpy(dtype=object)[rows]
    codes, names = pd.factorize(inv["environment"].to_numpy(dtype=object))
    return codes, np.asarray(names, dtype=object)


def _true(values: np.ndarray) -> np.ndarray:
    """Rows holding True (`values == True` elementwise); a broadcast column is read once."""
    if is_broadcast(values):
        return np.full(len(values), _true(values[:1])[0], dtype=bool)
    return np.asarray(values == True, dtype=bool)  # noqa: E712 - elementwise


def _declared(inv: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose INIT_START or INIT_REPORT names an initialization type, and that type in
    lctrace's words (`INIT_TYPES`; NaN for a type it does not know). Worked on those rows only."""
    first, then = _values(inv, "init_type"), _values(inv, "init_report_type")
    has_first = has_value(first)
    rows = np.flatnonzero(has_first | has_value(then))
    named = np.where(has_first[rows], first[rows], then[rows])
    return rows, np.array([INIT_TYPES.get(value, np.nan) for value in named], dtype=object)


def classify_cold(inv: pd.DataFrame, started_in_export: pd.Series) -> pd.DataFrame:
    """Add cold, cold_type, cold_source and init_ms/restore_ms (best source). Expects `status`
    and rows ordered by start time.

    Evidence is tested on codes and float arrays (no object comparison over every row)."""
    n = len(inv)
    rie = report_is_rie(inv)
    report_init = ~np.isnan(_floats_of(inv, "report_init_ms"))
    init_start = _present(inv, "init_start_ts")
    init_status = _Text(_values(inv, "init_status"))
    init_report = _present(inv, "init_report_ms") | init_status.has()
    restore = (_present(inv, "report_restore_ms") | _present(inv, "restore_start_ts")
               | _present(inv, "restore_report_ms") | _present(inv, "span_restore_ms"))
    suppressed = (_present(inv, "suppressed_init_ms") | _present(inv, "suppressed_start_ts")
                  | _present(inv, "suppressed_status"))
    failed_init = init_status.isin(*FAILED) & ~report_init
    trace = (_true(_values(inv, "wr_cold")) | _true(_values(inv, "span_cold"))
             | _present(inv, "span_init_ms") | _present(inv, "wr_init_ms"))
    evidence = [report_init, init_start, init_report, restore, suppressed | failed_init, trace]
    names = ["report", "init_start", "init_report", "restore", "suppressed_init", "trace",
             None, "inferred"]
    unknown, suppressed_init, inferred_code = 6, 4, 7
    source = np.select(evidence, range(len(evidence)), default=unknown).astype(np.int8)
    # A stream whose init never completed re-runs it in every invoke (the never-polled doom
    # loop): after a failed init, each invocation until one ends well is a suppressed init.
    env_code, env_names = environment_codes(inv)
    in_env = env_code >= 0  # (rows without an environment belong to no stream)
    failure = (suppressed | failed_init).astype(np.int64)
    if failure.any():
        failure_before = (pd.Series(failure).groupby(env_code, sort=False).cumsum().to_numpy()
                          - failure)
        ended_well = (~status_is(inv, "timeout", "crash") | report_init).astype(np.int64)
        good_before = (pd.Series(ended_well).groupby(env_code, sort=False).cumsum().to_numpy()
                       - ended_well)
        doom_loop = ((source == unknown) & in_env & (failure_before > 0) & (good_before == 0)
                     & ~report_init)
        source[doom_loop] = suppressed_init
        suppressed = suppressed | doom_loop
    # The first invocation of a stream that began inside the input, with no init evidence.
    first_in_env = np.zeros(n, dtype=bool)
    first_in_env[first_of_each(env_code)] = True
    started = started_in_export.reindex(pd.Index(env_names, dtype=object)).fillna(False)
    started_row = np.append(started.to_numpy(dtype=bool), False)[env_code]  # code -1: False
    source[(source == unknown) & first_in_env & started_row] = inferred_code
    cold = source != unknown
    cold_source = np.array(names, dtype=object)[source]

    rows, declared = _declared(inv)
    declared_any = np.zeros(n, dtype=bool)
    declared_any[rows] = pd.notna(declared)
    snapstart = np.zeros(n, dtype=bool)
    snapstart[rows] = declared == "snapstart"
    managed = np.zeros(n, dtype=bool)
    managed[rows] = declared == "managed-instances"
    text_pc = (_Text(_values(inv, "init_report_dialect")).isin(TEXT)
               & (init_status.isin("success") | ~init_status.has()) & ~report_init & ~restore) | (
        init_start & ~report_init & ~restore & ~init_report
        & ~np.isnan(_floats_of(inv, "duration_ms")) & ~rie)
    types = [None, "suppressed", "snapstart", "(declared)", "provisioned-concurrency", "unknown",
             "on-demand"]
    type_code = np.select(
        [~cold, suppressed | failed_init, restore | snapstart, declared_any, text_pc,
         source == inferred_code], range(len(types) - 1), default=len(types) - 1)
    cold_type = np.array(types, dtype=object)[type_code]
    as_declared = np.flatnonzero(type_code == types.index("(declared)"))
    cold_type[as_declared] = declared[np.searchsorted(rows, as_declared)]
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["cold"] = cold
    out["cold_type"] = pd.Series(cold_type, index=inv.index, dtype=object)
    out["cold_source"] = pd.Series(cold_source, index=inv.index, dtype=object)
    # RIE's Init Duration is meaningless (~0.03 ms): evidence of a cold start, not a duration.
    init_ms = fill_nan(fill_nan(fill_nan(np.where(rie, np.nan, _floats_of(inv, "report_init_ms")),
                                np.where(failed_init, np.nan, _floats_of(inv, "init_report_ms"))),
                          _floats_of(inv, "wr_init_ms")), _floats_of(inv, "span_init_ms"))
    out["init_ms"] = np.where(cold, init_ms, np.nan)
    out["restore_ms"] = _lean(fill_nan(fill_nan(_floats_of(inv, "report_restore_ms"),
                                          _floats_of(inv, "restore_report_ms")),
                                    _floats_of(inv, "span_restore_ms")), inv.index)
    out["managed"] = managed
    return out


def first_of_each(codes: np.ndarray) -> np.ndarray:
    """The row where each code (>= 0) first appears."""
    rows = first_rows(codes)
    if rows is None:
        keep = codes >= 0
        _, first = np.unique(codes[keep], return_index=True)
        rows = np.flatnonzero(keep)[first]
    return rows


DISAGREE_MS = 2.0
DISAGREE_SHARE = 0.10
"""Two sources of one phase disagree when they differ by more than both of these (the wrapper
and X-Ray measure at different points: a few ms apart is the same fact)."""


def _floats(inv: pd.DataFrame, name: str) -> np.ndarray:
    return _floats_of(inv, name) if name in inv else np.full(len(inv), np.nan)


def _filled(inv: pd.DataFrame, name: str) -> bool:
    """False when the frame has no such column, or one with no value anywhere that shows it
    without a pass (a broadcast of a missing value): a source the input does not have."""
    if name not in inv:
        return False
    column = inv[name]
    if column.dtype != object:
        return True
    values = column.to_numpy()
    return not (is_broadcast(values) and pd.isna(values[0]))


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
    rie = report_is_rie(inv)
    columns = ("poll_wait_ms", "handler_ms", "response_ms", "post_response_ms", "init_ms")
    for column in columns:
        named = [(_Names("lctrace"), f"wr_{column}"), (span_dialect, f"span_{column}"),
                 (alt_dialect, f"span_alt_{column}"), (_Names("telemetry"), f"rd_{column}")]
        # (a source the input does not have fills nothing and differs from nothing)
        candidates = [(name, _floats(inv, col)) for name, col in named if _filled(inv, col)]
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
        out[column] = _lean(value, inv.index)
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
    differ = np.zeros(0, dtype=np.intp)
    if _filled(inv, "span_invocation_ms"):
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
    out["phase_source"] = (_lean(sources, inv.index) if (source_of >= 0).any()
                           else _missing(inv.index, np.nan))
    rows = np.flatnonzero(noted)
    if not len(rows):
        out["disagreements"] = _missing(inv.index, None)
        return out
    disagreements = np.full(n, None, dtype=object)
    disagreements[rows] = [text.rstrip("; ") or None for text in notes[rows]]
    out["disagreements"] = _lean(disagreements, inv.index)
    return out
