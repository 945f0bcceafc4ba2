"""The execution-environment timeline of the HTML report, as one inline SVG.

One lane per environment (log stream): init (and SnapStart restore) before the first
invocation, each invocation coloured by status with its post-response tail, idle gaps on the
lane's baseline, and stuck periods hatched. Beyond `MAX_DETAILED` invocations the lanes turn
into time buckets (busy share, worst status, cold starts, stuck) and the page says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lifecycle_trace.report.html_charts import FONT, TimeAxis, esc, fmt_ms, fmt_time

MAX_DETAILED = 3000
"""Invocations drawn one by one; above this the timeline is aggregated into buckets."""
MAX_LANES = 200
"""Environments drawn; those with findings first, then the busiest."""
BUCKETS = 160
STREAM_RE = re.compile(r"^(\d{4}/\d{2}/\d{2})/(?:[\w.-]+)?\[([^\]]+)\]([0-9a-f]{8,})$")
STATUS_COLORS = {"success": "#2563eb", "error": "#f59e0b", "timeout": "#ef4444", "crash": "#7c3aed"}
STATUS_RANK = {"success": 0, "error": 1, "timeout": 2, "crash": 3}
INIT_COLOR, RESTORE_COLOR, POST_COLOR, STUCK_COLOR = "#10b981", "#14b8a6", "#f97316", "#dc2626"
WIDTH, LABEL_W, LANE_H, TOP = 1100, 230, 16, 22
COLUMNS = (
    "request_id", "function", "environment", "start", "end", "duration_ms", "billed_ms",
    "memory_mb", "init_ms", "restore_ms", "cold", "cold_cause", "cold_source", "status",
    "error_type", "poll_wait_ms", "handler_ms", "response_ms", "post_response_ms",
    "suppressed_init_ms",
)  # fmt: skip
NUMERIC = ("duration_ms", "billed_ms", "memory_mb", "init_ms", "restore_ms", "post_response_ms",
           "handler_ms", "response_ms", "poll_wait_ms", "suppressed_init_ms")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Timeline:
    """The rendered timeline and what the reader must be told about it."""

    svg: str
    mode: str  # detailed | aggregated | empty
    notice: str | None
    lanes: int
    environments: int


def epoch_ms(column: pd.Series) -> pd.Series:
    """Times as float epoch ms, whether they come as datetimes, ISO strings or numbers."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = pd.to_datetime(column, utc=True)
    else:
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().sum() >= column.notna().sum():
            return numeric.astype(float)
        stamps = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    return (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)


def prepare_invocations(invocations: pd.DataFrame | None) -> pd.DataFrame:
    """The invocations table with every column the report reads (missing ones become empty),
    times as epoch ms (`start_ms`, `end_ms`) and an `env` lane key."""
    frame = pd.DataFrame() if invocations is None else invocations.copy()
    frame = frame.reset_index(drop=True)
    for name in COLUMNS:
        if name not in frame:
            frame[name] = None
    for name in NUMERIC:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame["start_ms"] = epoch_ms(frame["start"])
    frame["end_ms"] = epoch_ms(frame["end"])
    frame["end_ms"] = frame["end_ms"].fillna(frame["start_ms"] + frame["duration_ms"])
    frame["end_ms"] = frame["end_ms"].fillna(frame["start_ms"])  # unknown length: a tick
    frame["cold"] = frame["cold"].astype("boolean").fillna(False).astype(bool)
    frame["status"] = frame["status"].fillna("success").astype(str)
    frame["env"] = frame["environment"].fillna(frame["function"]).fillna("(unknown)").astype(str)
    return frame


def render_timeline(
    frame: pd.DataFrame,
    stuck_requests: Mapping[str, str],
    stuck_environments: Mapping[str, str],
    finding_environments: Collection[str],
    environments: pd.DataFrame | None = None,
) -> Timeline:
    """The timeline of `frame` (from `prepare_invocations`). `stuck_*` map request ids /
    environments to the finding kind that marks them stuck; `environments` (the analysis
    table) adds how each environment ended, its cold-start cause, and lanes for environments
    that initialised but served no invocation in the input."""
    timed = frame[frame["start_ms"].notna()]
    info = _environment_info(environments)
    idle = info[~info.index.isin(timed["env"].unique()) & info["first_ms"].notna()]
    all_envs = timed["env"].nunique() + len(idle)
    if all_envs == 0:
        return Timeline("", "empty", "No invocation has a start time: nothing to draw.", 0, 0)
    counts = pd.concat([timed.groupby("env").size(), pd.Series(0, index=idle.index)])
    flagged = counts.index.isin(list(finding_environments))
    order = pd.DataFrame({"count": counts.values, "flag": flagged}, index=counts.index)
    chosen = set(order.sort_values(["flag", "count"], ascending=False).index[:MAX_LANES])
    timed = timed[timed["env"].isin(chosen)]
    idle = idle[idle.index.isin(chosen)]
    init_from = timed["start_ms"] - timed["init_ms"].fillna(0) - timed["restore_ms"].fillna(0)
    idle_end = idle["first_ms"] + idle["init_ms"].fillna(0)
    first_seen = pd.concat([init_from.groupby(timed["env"]).min(), idle["first_ms"]])
    lane_function = pd.concat(
        [timed.groupby("env")["function"].first(), pd.Series(None, index=idle.index, dtype=object)]
    ).reindex(first_seen.index)
    lane_order = pd.DataFrame(
        {"function": lane_function.fillna("").astype(str), "first": first_seen}
    )
    lanes = list(lane_order.sort_values(["function", "first"], kind="stable").index)
    axis = TimeAxis(
        np.concatenate([init_from.to_numpy(), idle["first_ms"].to_numpy()]),
        np.concatenate([timed["end_ms"].to_numpy(), idle_end.to_numpy()]),
        LABEL_W,
        WIDTH - LABEL_W - 10,
    )
    lane_of = {env: index for index, env in enumerate(lanes)}
    height = TOP + LANE_H * len(lanes) + 6
    detailed = len(frame) <= MAX_DETAILED
    parts = [_svg_head(height), axis.svg(TOP, height)]
    per_env = timed.groupby("env").agg(count=("env", "size"), function=("function", "first"),
                                       last=("end_ms", "max"))  # fmt: skip
    for env, index in lane_of.items():
        parts.append(_lane_label(env, index, per_env, info))
    if detailed:
        parts += _detailed_marks(timed, lane_of, axis, stuck_requests)
    else:
        parts += _bucket_marks(timed, lane_of, axis, stuck_requests)
    for env, row in idle.iterrows():
        y = TOP + lane_of[env] * LANE_H + 2
        x0 = float(axis.x(row["first_ms"]))
        x1 = float(axis.x(row["first_ms"] + row["init_ms"])) if row["init_ms"] > 0 else x0 + 4
        tip = f"init {fmt_ms(row['init_ms'])}" if row["init_ms"] > 0 else "environment started"
        parts.append(_rect(x0, x1, y, INIT_COLOR, f"{tip}; no invocation in this input", "init"))
    for env, kind in stuck_environments.items():
        if env in lane_of:
            x = float(axis.x(first_seen[env]))
            parts.append(
                f'<rect class="stuck" x="{x:.1f}" y="{TOP + lane_of[env] * LANE_H + 1}" '
                f'width="8" height="{LANE_H - 2}" fill="url(#lct-stuck)">'
                f"<title>{esc(env)}: {esc(kind)}</title></rect>"
            )
    for env, index in lane_of.items():
        ended = info["ended"].get(env) if env in info.index else None
        if isinstance(ended, str) and ended:
            last = per_env["last"].get(env, idle_end.get(env))
            x = float(axis.x(last)) + 3
            parts.append(
                f'<text class="ended" x="{x:.1f}" y="{TOP + index * LANE_H + 12}">✕'
                f"<title>environment ended: {esc(ended)}</title></text>"
            )
    parts.append("</svg>")
    notes = []
    if not detailed:
        notes.append(
            f"Timeline aggregated: {len(frame):,} invocations exceed {MAX_DETAILED:,}, so each "
            f"environment is drawn as {BUCKETS} time buckets (opacity = busy share, colour = "
            "worst status, green tick = cold start)."
        )
    if axis.breaks:
        notes.append(
            f"{len(axis.breaks)} long stretch(es) without activity are collapsed (hatched grey "
            "bands on the axis; hover for their length): the scale differs between segments."
        )
    if all_envs > len(lanes):
        notes.append(
            f"Showing {len(lanes):,} of {all_envs:,} environments (those with findings first, "
            "then the busiest)."
        )
    return Timeline(
        "".join(parts),
        "detailed" if detailed else "aggregated",
        " ".join(notes) or None,
        len(lanes),
        all_envs,
    )


def _svg_head(height: int) -> str:
    return (
        f'<svg class="chart timeline" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" {FONT} aria-label="execution environment timeline">'
        '<defs><pattern id="lct-stuck" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="3" height="6" fill="{STUCK_COLOR}"/>'
        "</pattern></defs>"
    )


def _environment_info(environments: pd.DataFrame | None) -> pd.DataFrame:
    """Per environment: first seen (epoch ms), init ms, cold-start cause and how it ended."""
    columns = ["first_ms", "init_ms", "cause", "ended"]
    if environments is None or "environment" not in environments:
        return pd.DataFrame(columns=columns, dtype=object)
    envs = environments.drop_duplicates("environment").set_index("environment")
    empty = pd.Series(None, index=envs.index, dtype=object)
    first = envs.get("first_seen", empty)
    cause = envs.get("cold_start_cause", envs.get("cold_cause", empty))
    info = pd.DataFrame(
        {
            "first_ms": epoch_ms(first) if first.notna().any() else first.astype(float),
            "init_ms": pd.to_numeric(envs.get("init_ms", empty), errors="coerce"),
            "cause": cause,
            "ended": envs.get("ended", empty),
        }
    )
    info.index = info.index.astype(str)
    return info


def _lane_label(env: str, index: int, per_env: pd.DataFrame, info: pd.DataFrame) -> str:
    count = int(per_env["count"].get(env, 0))
    lines = [env, f"{count:,} invocations"]
    function = per_env["function"].get(env)
    if isinstance(function, str):
        lines.append(f"function {function}")
    if env in info.index:
        for key, label in (("cause", "cold start cause"), ("ended", "ended")):
            value = info.at[env, key]
            if isinstance(value, str) and value:
                lines.append(f"{label}: {value}")
    short = short_environment(env, function if isinstance(function, str) else None)
    y = TOP + index * LANE_H
    return (
        f'<g class="lane" data-environment="{esc(env)}"><title>{esc(chr(10).join(lines))}</title>'
        f'<text x="{LABEL_W - 6}" y="{y + 12}" text-anchor="end" class="axis">{esc(short)}</text>'
        f'<line x1="{LABEL_W}" x2="{WIDTH - 10}" y1="{y + LANE_H / 2}" y2="{y + LANE_H / 2}" '
        'class="lanebase"/></g>'
    )


def short_environment(env: str, function: str | None = None) -> str:
    """A lane label: `<function or MM/DD> [version]abcdef…1234` for log stream names (the
    full name is in the tooltip), else the name's tail."""
    match = STREAM_RE.match(env)
    if match:
        date, version, instance = match.groups()
        head = function[:18] if function else date[5:]
        return f"{head} [{version}]{instance[:6]}…{instance[-4:]}"[:40]
    return env if len(env) <= 36 else "…" + env[-34:]


def _rect(x0: float, x1: float, y: float, fill: str, tip: str, cls: str = "") -> str:
    return (
        f'<rect{f" class={chr(34)}{cls}{chr(34)}" if cls else ""} x="{x0:.1f}" y="{y:.1f}" '
        f'width="{max(x1 - x0, 1.0):.1f}" height="{LANE_H - 4}" fill="{fill}">'
        f"<title>{esc(tip)}</title></rect>"
    )


def _detailed_marks(
    timed: pd.DataFrame,
    lane_of: Mapping[str, int],
    axis: TimeAxis,
    stuck: Mapping[str, str],
) -> list[str]:
    parts: list[str] = []
    ordered = timed.sort_values(["env", "start_ms"], kind="stable")
    previous_end: dict[str, float] = {}
    for row in ordered.itertuples(index=False):
        y = TOP + lane_of[row.env] * LANE_H + 2
        x_start, x_end = float(axis.x(row.start_ms)), float(axis.x(row.end_ms))
        gap_from = previous_end.get(row.env)
        x_gap = float(axis.x(gap_from)) if gap_from is not None else x_start
        if x_start - x_gap >= 3:  # an idle gap wide enough to see
            parts.append(
                f'<line class="idle" x1="{x_gap:.1f}" x2="{x_start:.1f}" y1="{y + 6}" '
                f'y2="{y + 6}"><title>idle {esc(fmt_ms(row.start_ms - gap_from))}</title></line>'
            )
        previous_end[row.env] = max(row.end_ms, gap_from or row.end_ms)
        restore_ms = row.restore_ms if row.restore_ms > 0 else 0.0
        if row.cold and row.init_ms > 0:
            x_init = float(axis.x(row.start_ms - row.init_ms - restore_ms))
            parts.append(_rect(x_init, x_start, y, INIT_COLOR, f"init {fmt_ms(row.init_ms)}"))
        if restore_ms:
            x_restore = float(axis.x(row.start_ms - restore_ms))
            tip = f"SnapStart restore {fmt_ms(row.restore_ms)}"
            parts.append(_rect(x_restore, x_start, y, RESTORE_COLOR, tip))
        tip = _invocation_tip(row)
        color = STATUS_COLORS.get(row.status, STATUS_COLORS["success"])
        parts.append(_rect(x_start, x_end, y, color, tip, "inv"))
        if row.suppressed_init_ms > 0:  # init re-run inside the invoke, counted in its duration
            x_init_end = float(axis.x(row.start_ms + row.suppressed_init_ms))
            tip = f"suppressed init {fmt_ms(row.suppressed_init_ms)} (init re-ran in the invoke)"
            parts.append(_rect(x_start, x_init_end, y, INIT_COLOR, tip, "suppressed"))
        if row.post_response_ms > 0:
            x_post = float(axis.x(row.end_ms - row.post_response_ms))
            post_tip = f"post-response work {fmt_ms(row.post_response_ms)} (billed)"
            parts.append(_rect(x_post, x_end, y, POST_COLOR, post_tip))
        if row.request_id in stuck:
            stuck_tip = f"stuck: {stuck[row.request_id]}"
            parts.append(_rect(x_start, x_end, y, "url(#lct-stuck)", stuck_tip, "stuck"))
    return parts


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _invocation_tip(row: object) -> str:
    """Tooltip of one invocation: identity, outcome, times, and the phases the sources gave."""
    error = _text(row.error_type)
    lines = [
        f"{_text(row.request_id) or '(no request id)'} — {row.status}"
        + (f" {error}" if error else ""),
        f"start {fmt_time(row.start_ms)} UTC",
    ]
    for label, value in (
        ("duration", row.duration_ms),
        ("init", row.init_ms),
        ("restore", row.restore_ms),
        ("poll wait before (frozen)", row.poll_wait_ms),
        ("handler", row.handler_ms),
        ("response", row.response_ms),
        ("post-response", row.post_response_ms),
    ):
        if value == value and value is not None:  # not NaN
            lines.append(f"{label} {fmt_ms(value)}")
    if row.billed_ms == row.billed_ms:
        lines.append(f"billed {row.billed_ms:,.0f} ms")
    if row.cold:
        cause = _text(row.cold_cause) or _text(row.cold_source)
        lines.append("cold start" + (f" ({cause})" if cause else ""))
    return "\n".join(lines)


def _bucket_marks(
    timed: pd.DataFrame,
    lane_of: Mapping[str, int],
    axis: TimeAxis,
    stuck: Mapping[str, str],
) -> list[str]:
    """Buckets of equal width on the page; their time length varies across collapsed gaps."""
    plot_w = WIDTH - LABEL_W - 10
    cell_w = plot_w / BUCKETS
    x_start = np.asarray(axis.x(timed["start_ms"].to_numpy()))
    cells = pd.DataFrame(
        {
            "env": timed["env"].to_numpy(),
            "bucket": np.clip(((x_start - LABEL_W) // cell_w).astype(int), 0, BUCKETS - 1),
            "busy": (timed["end_ms"] - timed["start_ms"]).clip(lower=0).fillna(0).to_numpy(),
            "rank": timed["status"].map(STATUS_RANK).fillna(0).to_numpy(),
            "cold": timed["cold"].to_numpy(),
            "stuck": timed["request_id"].isin(list(stuck)).to_numpy(),
        }
    )
    grouped = cells.groupby(["env", "bucket"]).agg(
        count=("busy", "size"), busy=("busy", "sum"), rank=("rank", "max"),
        cold=("cold", "sum"), stuck=("stuck", "sum"),
    )  # fmt: skip
    edges = np.asarray(axis.t(LABEL_W + np.arange(BUCKETS + 1) * cell_w))
    statuses = {rank: status for status, rank in STATUS_RANK.items()}
    parts: list[str] = []
    for (env, bucket), cell in grouped.iterrows():
        x0 = LABEL_W + bucket * cell_w
        y = TOP + lane_of[env] * LANE_H + 2
        status = statuses[int(cell["rank"])]
        length_ms = max(float(edges[bucket + 1] - edges[bucket]), 1.0)
        share = min(float(cell["busy"]) / length_ms, 1.0)
        tip = (
            f"{fmt_time(edges[bucket])} +{fmt_ms(length_ms)}: {int(cell['count']):,} "
            f"invocations, busy {share:.0%}, worst {status}, {int(cell['cold'])} cold, "
            f"{int(cell['stuck'])} stuck"
        )
        parts.append(
            f'<rect class="cell" x="{x0:.1f}" y="{y}" width="{max(cell_w - 0.5, 1):.1f}"'
            f' height="{LANE_H - 4}" fill="{STATUS_COLORS[status]}" '
            f'fill-opacity="{0.25 + 0.75 * share:.2f}"><title>{esc(tip)}</title></rect>'
        )
        if cell["cold"]:
            parts.append(
                f'<rect x="{x0:.1f}" y="{y - 2}" width="2" height="{LANE_H - 2}" '
                f'fill="{INIT_COLOR}"/>'
            )
        if cell["stuck"]:
            parts.append(
                f'<rect class="stuck" x="{x0:.1f}" y="{y}" width="{max(cell_w, 2):.1f}"'
                f' height="{LANE_H - 4}" fill="url(#lct-stuck)"/>'
            )
    return parts
