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


def classify_status(inv: pd.DataFrame) -> pd.DataFrame:
    """Add status (success | error | timeout | crash, null when no outcome record), error_type,
    out_of_memory."""
    rs, rd = _col(inv, "report_status"), _col(inv, "rd_status")
    wr = _col(inv, "wr_outcome").fillna(_col(inv, "span_outcome"))
    error_type = (_col(inv, "report_error_type").fillna(_col(inv, "rd_error_type"))
                  .fillna(_col(inv, "exit_error_type")).fillna(_col(inv, "suppressed_error_type")))
    exited = _col(inv, "exit_reason").notna() | _col(inv, "exit_text").notna()
    timeout = (rs.eq("timeout") | rd.eq("timeout") | wr.eq("timeout")
               | _col(inv, "timed_out_text").notna() | _col(inv, "timeout_s").notna())
    killed = (_col(inv, "exit_signal").astype(str).str.contains("kill", na=False)
              | _col(inv, "exit_text").astype(str).str.contains("signal: killed", na=False))
    # RIE reports Max Memory Used = Memory Size always: no memory evidence there.
    at_limit = inv["max_memory_mb"].astype(float).ge(inv["memory_mb"].astype(float)) & ~inv[
        "report_dialect"].eq(RIE)
    oom = error_type.eq("Runtime.OutOfMemory") | (killed & at_limit) | (
        (exited | error_type.isin(CRASH_ERROR_TYPES)) & at_limit)
    crash = exited | error_type.isin(CRASH_ERROR_TYPES) | rs.eq("failure") | wr.eq("crash") | oom
    error = rs.eq("error") | rd.isin(("error", "failure")) | wr.eq("error")
    seen = (inv["duration_ms"].notna() | rs.notna() | rd.notna() | wr.notna())
    status = np.select([timeout, crash, error, seen], ["timeout", "crash", "error", "success"],
                       default=None)
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["status"] = pd.Series(status, index=inv.index, dtype=object)
    out["error_type"] = error_type.where(~pd.Series(status, index=inv.index).eq("success"))
    out["out_of_memory"] = oom.astype(bool)
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


def choose_phases(inv: pd.DataFrame) -> pd.DataFrame:
    """poll_wait/handler/response/post_response from the best trace source: the lctrace wrapper
    line, then phase spans (lctrace before X-Ray), then Telemetry `runtimeDone` spans. Where
    another source says something else, `disagreements` says what each said and which was
    used."""
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    sources = pd.Series(np.nan, index=inv.index, dtype=object)
    span_dialect = _col(inv, "span_dialect").astype(object).fillna("span")
    alt_dialect = _col(inv, "span_alt_dialect").astype(object).fillna("span")
    notes = pd.Series("", index=inv.index, dtype=object)
    columns = ("poll_wait_ms", "handler_ms", "response_ms", "post_response_ms", "init_ms")
    for column in columns:
        named = [(_label("lctrace", inv), f"wr_{column}"),
                 (span_dialect, f"span_{column}"), (alt_dialect, f"span_alt_{column}"),
                 (_label("telemetry", inv), f"rd_{column}")]
        candidates = [(name, inv[col].astype(float)) for name, col in named if col in inv]
        if column == "init_ms":  # the platform's own figures come first (as in classify_cold)
            rie = inv["report_dialect"].eq(RIE)
            candidates[:0] = [(_label("report", inv), inv["report_init_ms"].where(~rie)),
                              (_col(inv, "init_report_dialect").fillna("init_report"),
                               inv["init_report_ms"])]
            candidates = [(n, v.astype(float).where(inv["cold"])) for n, v in candidates]
        value = pd.Series(np.nan, index=inv.index, dtype=float)
        used = pd.Series(np.nan, index=inv.index, dtype=object)
        for name, other in candidates:
            fill = value.isna() & other.notna()
            value = value.where(~fill, other)
            used = used.where(~fill, name)
        for name, other in candidates:
            gap = (other - value).abs()
            differ = gap.gt(DISAGREE_MS) & gap.gt(DISAGREE_SHARE * value.abs())
            if differ.any():
                notes[differ] += (column + ": " + used[differ].astype(str) + " "
                                  + value[differ].round(1).astype(str) + " vs "
                                  + name[differ].astype(str) + " "
                                  + other[differ].round(1).astype(str) + " (used "
                                  + used[differ].astype(str) + "); ")
        if column == "init_ms":
            continue  # init_ms is chosen with the cold start (classify_cold); only compared here
        sources = sources.where(~(used.notna() & sources.isna()), used)
        out[column] = value
    # Duration: REPORT's against the wrapper's invocation span (RIE's cold Duration holds its
    # lazy init, which the span does not: not a disagreement).
    rie_cold = inv["report_dialect"].eq(RIE) & inv["cold"]
    reported = inv["duration_ms"].astype(float).where(inv["report_dialect"].notna() & ~rie_cold)
    traced = _col(inv, "span_invocation_ms").astype(float)
    gap = (traced - reported).abs()
    differ = gap.gt(DISAGREE_MS) & gap.gt(DISAGREE_SHARE * reported.abs())
    if differ.any():
        notes[differ] += ("duration_ms: " + inv["report_dialect"][differ].astype(str) + " "
                          + reported[differ].round(1).astype(str) + " vs "
                          + span_dialect[differ].astype(str) + " "
                          + traced[differ].round(1).astype(str) + " (used "
                          + inv["report_dialect"][differ].astype(str) + "); ")
    out["phase_source"] = sources
    out["disagreements"] = notes.str.rstrip("; ").replace("", None)
    return out
