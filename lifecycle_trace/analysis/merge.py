"""Merge records from every source into one row per request id.

Step 1 (`assign_owners`): every record gets the invocation it belongs to. Records with a request
id own themselves; init/restore records without one belong to the invocation that was open when
they were written (a suppressed init, re-run inside the invoke) or else to the next `START` in
the same environment (the invocation the init ran for); output and crash lines without an id go to
the open invocation, else to the most recent one.

Step 2 (`merge_invocations`): per record type, the first non-null value per owner, joined on
request id. Each value group keeps the source it came from (`*_source` columns and `sources`, the
dialects that described the invocation). Trace inputs (lctrace wrapper lines, phase spans) join
here by request id too, so adding a source means adding a block, not rewriting the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
import pandas as pd

from lifecycle_trace import schema
from lifecycle_trace.analysis.frames import events_frame, parse_streams, records_to_frames

INIT_KINDS = ("InitStart", "InitReport", "InitRuntimeDone", "RestoreStart", "RestoreReport")
LATE_KINDS = ("RuntimeExit", "TimedOut", "PlatformNote")
INVOCATION_KINDS = (
    "Start",
    "End",
    "Report",
    "RuntimeDone",
    "TimedOut",
    "RuntimeExit",
    "WrapperInvocation",
    "StuckMarker",
    "PhaseSpan",
)
PHASE_COLUMNS = {
    schema.SPAN_POLL_WAIT: "poll_wait_ms",
    schema.SPAN_HANDLER: "handler_ms",
    schema.SPAN_RESPONSE: "response_ms",
    schema.SPAN_POST_RESPONSE: "post_response_ms",
}


@dataclass
class Merged:
    """The merge result: typed frames (with `owner`), the ordered events, one row per request id
    and the init/restore records that no invocation followed (`orphans`)."""

    frames: dict[str, pd.DataFrame]
    events: pd.DataFrame
    invocations: pd.DataFrame
    orphans: pd.DataFrame
    started_in_export: pd.Series | None = None  # per environment, set by the tables step


def assign_owners(events: pd.DataFrame) -> pd.DataFrame:
    """Add `owner` (request id the record belongs to) and `during_invoke` to `events`."""
    kind, rid, env = events["kind"], events["request_id"], events["env"]
    has_rid = rid.notna() & rid.astype(str).ne("")
    is_start = kind.eq("Start") & has_rid
    is_close = kind.eq("Report") & has_rid
    next_rid = rid.where(is_start).groupby(env, sort=False).bfill()
    marker = pd.Series(np.nan, index=events.index, dtype=object)
    marker[is_start] = rid[is_start]
    marker[is_close] = ""
    open_rid = marker.groupby(env, sort=False).ffill()
    is_open = open_rid.notna() & open_rid.ne("")
    recent = kind.isin(("Start", "Report")) & has_rid
    last_rid = rid.where(recent).groupby(env, sort=False).ffill()

    owner = rid.where(has_rid)
    init = kind.isin(INIT_KINDS)
    phase = events["phase"]
    invoke_phase = phase.eq("invoke") | (phase.isna() & is_open)
    init_owner = np.where(invoke_phase & is_open, open_rid, next_rid)
    owner = owner.where(~init, pd.Series(init_owner, index=events.index))
    app = kind.eq("AppLine") & ~has_rid
    owner = owner.where(~app, open_rid.where(is_open))
    late = kind.isin(LATE_KINDS) & ~has_rid
    owner = owner.where(~late, open_rid.where(is_open, last_rid))
    events = events.copy()
    events["owner"] = owner.replace("", np.nan)
    events["during_invoke"] = is_open.to_numpy() & init.to_numpy() & invoke_phase.to_numpy()
    events["init_output"] = app.to_numpy() & ~is_open.to_numpy()
    return events


def _by_owner(frame: pd.DataFrame | None, columns: dict[str, str]) -> pd.DataFrame:
    """First non-null value of each column per owner, renamed; empty when the type is absent."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=list(columns.values()))
    present = {src: dst for src, dst in columns.items() if src in frame}
    sub = frame.loc[frame["owner"].notna(), ["owner", *present]]
    grouped = sub.groupby("owner", sort=False).first().rename(columns=present)
    return grouped.reindex(columns=list(columns.values()))


def merge_records(records: list) -> Merged:
    """Run both merge steps over records from any number of sources."""
    frames = records_to_frames(records)
    events = assign_owners(events_frame(frames))
    owner_by_seq = pd.Series(events["owner"].to_numpy(), index=events["seq"].to_numpy())
    during = pd.Series(events["during_invoke"].to_numpy(), index=events["seq"].to_numpy())
    init_out = pd.Series(events["init_output"].to_numpy(), index=events["seq"].to_numpy())
    for frame in frames.values():
        frame["owner"] = owner_by_seq.reindex(frame["seq"]).to_numpy()
        frame["during_invoke"] = during.reindex(frame["seq"]).to_numpy().astype(bool)
        frame["init_output"] = init_out.reindex(frame["seq"]).to_numpy().astype(bool)
    invocations = merge_invocations(frames)
    orphan_parts = [
        frames[k].loc[frames[k]["owner"].isna()].assign(kind=k) for k in INIT_KINDS if k in frames
    ]
    orphans = pd.concat(orphan_parts, ignore_index=True) if orphan_parts else pd.DataFrame()
    return Merged(frames=frames, events=events, invocations=invocations, orphans=orphans)


def merge_invocations(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per request id with the raw facts every source gave (before any inference)."""
    owners = [frames[k]["owner"].dropna() for k in INVOCATION_KINDS
              if k in frames and "owner" in frames[k]]
    ids = pd.unique(pd.concat(owners)) if owners else np.array([], dtype=object)
    inv = pd.DataFrame(index=pd.Index(ids, name="request_id"))
    g = frames.get
    blocks = [
        _by_owner(g("Start"), {"env": "start_env", "timestamp_ms": "start_ts",
                               "version": "start_version", "function": "start_function",
                               "trace_id": "start_trace_id", "source": "start_file"}),
        _by_owner(g("End"), {"timestamp_ms": "end_ts"}),
        _by_owner(g("Report"), {
            "env": "report_env", "timestamp_ms": "report_ts", "duration_ms": "duration_ms",
            "billed_ms": "reported_billed_ms", "memory_mb": "memory_mb",
            "max_memory_mb": "max_memory_mb", "init_ms": "report_init_ms",
            "restore_ms": "report_restore_ms", "billed_restore_ms": "billed_restore_ms",
            "status": "report_status", "error_type": "report_error_type", "trace_id": "trace_id",
            "dialect": "report_dialect", "function": "report_function", "source": "report_file"}),
        _by_owner(g("RuntimeDone"), {
            "env": "rd_env", "timestamp_ms": "rd_ts", "status": "rd_status",
            "error_type": "rd_error_type", "duration_ms": "rd_duration_ms",
            "response_latency_ms": "rd_handler_ms", "response_duration_ms": "rd_response_ms",
            "runtime_overhead_ms": "rd_post_response_ms", "function": "rd_function"}),
        _by_owner(g("TimedOut"), {"timeout_s": "timeout_s", "text": "timed_out_text",
                                  "env": "to_env"}),
        _by_owner(g("RuntimeExit"), {"reason": "exit_reason", "exit_status": "exit_status",
                                     "signal": "exit_signal", "error_type": "exit_error_type",
                                     "text": "exit_text", "env": "exit_env"}),
        _init_block(g("InitStart"), g("InitReport")),
        _by_owner(_phase(g("InitRuntimeDone"), None), {"status": "init_rd_status",
                                                       "error_type": "init_rd_error_type"}),
        _by_owner(g("RestoreStart"), {"timestamp_ms": "restore_start_ts",
                                      "runtime_version_arn": "restore_runtime_arn"}),
        _by_owner(g("RestoreReport"), {"duration_ms": "restore_report_ms",
                                       "status": "restore_status",
                                       "error_type": "restore_error_type"}),
        _by_owner(g("WrapperInvocation"), {
            "env": "wr_env", "timestamp_ms": "wr_ts", "cold": "wr_cold", "init_ms": "wr_init_ms",
            "poll_wait_ms": "wr_poll_wait_ms", "handler_ms": "wr_handler_ms",
            "response_ms": "wr_response_ms", "post_response_ms": "wr_post_response_ms",
            "outcome": "wr_outcome", "function": "wr_function", "trigger": "trigger"}),
        _span_block(g("PhaseSpan")),
        _by_owner(g("StuckMarker"), {"kind": "stuck_kind", "elapsed_ms": "stuck_elapsed_ms",
                                     "env": "stuck_env"}),
        _app_block(g("AppLine")),
    ]
    for block in blocks:
        inv = inv.join(block, how="left")
    inv["sources"] = _dialects(frames, inv.index)
    return inv


def _phase(frame: pd.DataFrame | None, during: bool | None) -> pd.DataFrame | None:
    if frame is None or during is None:
        return frame
    return frame.loc[frame["during_invoke"] == during]


def _init_block(starts: pd.DataFrame | None, reports: pd.DataFrame | None) -> pd.DataFrame:
    """Init records split into the init phase (before the invoke) and suppressed inits."""
    start_cols = {"timestamp_ms": "init_start_ts", "initialization_type": "init_type",
                  "runtime_version": "runtime_version", "runtime_version_arn": "runtime_arn",
                  "function_version": "init_version", "function": "init_function"}
    report_cols = {"duration_ms": "init_report_ms", "status": "init_status",
                   "error_type": "init_error_type", "initialization_type": "init_report_type",
                   "timestamp_ms": "init_report_ts", "dialect": "init_report_dialect"}
    sup_start = {"timestamp_ms": "suppressed_start_ts"}
    sup_report = {"duration_ms": "suppressed_init_ms", "status": "suppressed_status",
                  "error_type": "suppressed_error_type"}
    parts = [
        _by_owner(_phase(starts, False), start_cols),
        _by_owner(_phase(reports, False), report_cols),
        _by_owner(_phase(starts, True), sup_start),
        _by_owner(_phase(reports, True), sup_report),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, how="outer")
    return out


def _span_block(spans: pd.DataFrame | None) -> pd.DataFrame:
    """Phase spans (lctrace, X-Ray, Telemetry) -> one duration column per phase."""
    columns = [*(f"span_{c}" for c in PHASE_COLUMNS.values()), "span_init_ms", "span_cold",
               "span_dialect"]
    if spans is None or spans.empty:
        return pd.DataFrame(columns=columns)
    sub = spans.loc[spans["owner"].notna()]
    wide = sub.pivot_table(index="owner", columns="phase", values="duration_ms", aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for phase, column in PHASE_COLUMNS.items():
        out[f"span_{column}"] = wide.get(phase, np.nan)
    out["span_init_ms"] = wide.get(schema.SPAN_INIT, np.nan)
    firsts = sub.groupby("owner", sort=False).agg(span_cold=("cold", "max"),
                                                  span_dialect=("dialect", "first"))
    return out.join(firsts, how="outer").reindex(columns=columns)


def _app_block(lines: pd.DataFrame | None) -> pd.DataFrame:
    """How many lines the function printed during each invocation."""
    if lines is None or lines.empty:
        return pd.DataFrame(columns=["app_lines"])
    sub = lines.loc[lines["owner"].notna() & ~lines["init_output"]]
    return sub.groupby("owner", sort=False).size().rename("app_lines").to_frame()


def _dialects(frames: dict[str, pd.DataFrame], index: pd.Index) -> pd.Series:
    """`text+lctrace`-style list of the dialects whose records described each invocation."""
    seen: dict[str, set] = {}
    for kind in INVOCATION_KINDS:
        frame = frames.get(kind)
        if frame is None or frame.empty:
            continue
        for dialect, owners in frame.groupby("dialect", sort=False)["owner"]:
            seen.setdefault(str(dialect), set()).update(owners.dropna().unique())
    out = pd.Series("", index=index, dtype=object)
    for dialect in sorted(seen):
        has = index.isin(list(seen[dialect]))
        out = out.where(~has, out + np.where(out.eq(""), "", "+") + dialect)
    return out


def stream_facts(invocations: pd.DataFrame) -> pd.DataFrame:
    """Function, version and environment of each invocation, from the best source available:
    the record's own field, then the log stream name, then the input file's name."""
    inv = invocations
    env = _coalesce(inv, ["start_env", "report_env", "rd_env", "wr_env", "to_env", "exit_env",
                          "stuck_env"])
    streams = parse_streams(env.fillna(""))
    function = _coalesce(inv, ["start_function", "report_function", "rd_function",
                               "wr_function", "init_function"])
    files = _coalesce(inv, ["start_file", "report_file"])
    stems = {path: PurePath(str(path)).name.split(".")[0] for path in files.dropna().unique()}
    file_stem = files.map(stems)
    function = function.fillna(streams["stream_function"]).fillna(file_stem).fillna("unknown")
    version = _coalesce(inv, ["start_version", "init_version"]).fillna(streams["stream_version"])
    return pd.DataFrame({"environment": env, "function": function, "version": version,
                         "stream_date_ms": streams["stream_date_ms"]}, index=inv.index)


def _coalesce(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    out = pd.Series(np.nan, index=frame.index, dtype=object)
    for column in columns:
        if column in frame:
            out = out.where(out.notna(), frame[column])
    return out
