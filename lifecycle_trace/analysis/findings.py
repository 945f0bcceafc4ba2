"""Findings: what went wrong, where, what it cost, and the lines that show it.

The vocabulary and its order are `schema.FINDING_KINDS`. From logs alone:
- `never_polled`: the runtime never reached `GET /next` — an `INIT_REPORT Phase: init Status:
  timeout` followed by invocations that re-ran init and timed out (no `Init Duration`), or an
  environment whose invocations all timed out with no function output at all after START.
  Its invocations are not reported again as `timeout`/`init_timeout`.
- `timeout`, `init_timeout`, `init_error`, `runtime_exit`, `out_of_memory`.
From lctrace's own output: stuck markers (`never_polled`, `no_response`, `stopped_polling`) merge
with the log finding about the same environment/request (one finding, both evidences), and
`post_response_overhead` when post-response work takes more than a share of billed time.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecycle_trace import schema
from lifecycle_trace.analysis import evidence
from lifecycle_trace.analysis.classify import (
    FAILED,
    INIT_ERROR_TYPES,
    INIT_ERRORS,
    STATUSES,
    _present,
    _Text,
    _values,
    environment_codes,
    first_of_each,
    is_broadcast,
    status_is,
)
from lifecycle_trace.analysis.merge import Merged

SEVERITY = {
    "never_polled": "critical", "stopped_polling": "critical", "no_response": "high",
    "timeout": "high", "init_timeout": "high", "init_error": "high", "runtime_exit": "medium",
    "out_of_memory": "medium", "post_response_overhead": "low",
}
POST_RESPONSE_SHARE = 0.25
POST_RESPONSE_MIN_MS = 10.0
ROW_FIELDS = [
    "invocation", "request_id", "function", "version", "environment", "status", "billed_ms",
    "cost_usd", "duration_ms", "timeout_s", "init_report_ms", "init_error_type",
    "suppressed_error_type", "error_type", "max_memory_mb", "memory_mb", "exit_reason",
    "exit_text", "sources",
]
"""The columns a finding about one invocation reads (`_message`, `_table_evidence`)."""


@dataclass
class Finding:
    """One problem. `request_id` names the invocation when one is concerned (for environment
    findings: the first affected one, all listed in `request_ids`)."""

    kind: str
    function: str | None
    environment: str | None
    request_id: str | None
    billed_ms: float | None
    message: str
    evidence: list[str] = field(default_factory=list)
    version: str | None = None
    request_ids: list[str] = field(default_factory=list)
    related_kinds: list[str] = field(default_factory=list)
    cost_usd: float | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def to_dict(self) -> dict[str, object]:
        """The report contract's finding object (plus additive fields)."""
        return {
            "kind": self.kind, "severity": self.severity, "function": _text(self.function),
            "version": _text(self.version), "environment": _text(self.environment),
            "request_id": _text(self.request_id), "billed_ms": _number(self.billed_ms),
            "cost_usd": _number(self.cost_usd), "message": self.message,
            "evidence": list(self.evidence),
            "request_ids": [r for r in self.request_ids if isinstance(r, str)],
            "related_kinds": list(self.related_kinds),
        }


FINDING_FIELDS = ("kind", "severity", "function", "version", "environment", "request_id",
                  "billed_ms", "cost_usd", "message", "evidence", "request_ids", "related_kinds")
"""The keys of `Finding.to_dict`, in order."""


def finding_columns(findings: list[Finding]) -> list[list[object]]:
    """`[f.to_dict() for f in findings]` column by column (`FINDING_FIELDS`): the values of
    each key, without a dict per finding (the JSON writer reads them so)."""
    return [
        [f.kind for f in findings], [SEVERITY[f.kind] for f in findings],
        [v if isinstance(v := f.function, str) else None for f in findings],
        [v if isinstance(v := f.version, str) else None for f in findings],
        [v if isinstance(v := f.environment, str) else None for f in findings],
        [v if isinstance(v := f.request_id, str) else None for f in findings],
        [_number(f.billed_ms) for f in findings], [_number(f.cost_usd) for f in findings],
        [f.message for f in findings], [f.evidence for f in findings],  # (read, not copied)
        [[r for r in f.request_ids if isinstance(r, str)] for f in findings],
        [f.related_kinds for f in findings],
    ]


def _text(value: object) -> str | None:
    """A name, or None for absent values (NaN from a table counts as absent)."""
    return value if isinstance(value, str) else None


def _number(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _known(value: object) -> bool:
    """`pd.notna` of one value, without its dispatch for the usual ones (text, floats, None):
    the messages of tens of thousands of findings ask it several times each."""
    if value is None:
        return False
    if isinstance(value, str):
        return True
    if isinstance(value, float):
        return value == value
    return bool(pd.notna(value))


def _ms(value: object) -> str:
    return "?" if not _known(value) else f"{float(value):.0f} ms"


def detect(inv: pd.DataFrame, merged: Merged, request_price_usd: float = 0.0) -> list[Finding]:
    """All findings, ordered by severity then time. `request_price_usd` (the per-request fee
    inside each row's `cost_usd`) is left out of what post-response work cost.

    Which rows have a finding is worked out on codes and arrays; rows are read (and their
    records quoted) only for those (a few percent of a large input)."""
    env_code, env_names = environment_codes(inv)
    never_envs, np_kind = _never_polled_envs(inv)
    position = {name: i for i, name in enumerate(env_names)}
    never = np.zeros(len(env_names) + 1, dtype=bool)  # (the last slot: code -1, no stream)
    never[[position[name] for name in never_envs]] = True
    in_np = never[env_code]
    init_status = _Text(_values(inv, "init_status"))
    out_of_memory = inv["out_of_memory"].to_numpy(dtype=bool)
    masks = {
        "timeout": status_is(inv, "timeout") & ~in_np,
        "init_timeout": init_status.isin("timeout") & ~in_np,
        "init_error": (init_status.isin(*INIT_ERRORS)
                       | _Text(_values(inv, "suppressed_status")).isin(*INIT_ERRORS)
                       | _Text(_values(inv, "init_rd_status")).isin(*INIT_ERRORS)
                       | _Text(_values(inv, "error_type")).isin(*INIT_ERROR_TYPES)),
        "runtime_exit": status_is(inv, "crash") & ~out_of_memory,
        "out_of_memory": out_of_memory,
    }
    rows = np.flatnonzero(np.logical_or.reduce([in_np, *masks.values()]))
    lines = _evidence(inv, rows, merged.frames)
    findings: list[Finding] = []
    for env_name in never_envs:
        rows = inv.iloc[np.flatnonzero(env_code == position[env_name])]
        hit = rows.loc[rows["status"].eq("timeout")]
        ev = [line for key in rows["invocation"] for line in lines.get(key, [])]
        findings.append(Finding(
            "never_polled", rows["function"].iloc[0], env_name, hit["request_id"].iloc[0],
            hit["billed_ms"].sum(min_count=1), _never_message(np_kind[env_name], hit),
            evidence.pick(ev), rows["version"].iloc[0], hit["request_id"].tolist(),
            cost_usd=hit["cost_usd"].sum(min_count=1)))
    for kind, mask in masks.items():
        for row in _rows(inv, np.flatnonzero(mask)):
            findings.append(Finding(
                kind, row.function, row.environment, row.request_id, row.billed_ms,
                _message(kind, row), evidence.pick(lines.get(row.invocation, []))
                or [_table_evidence(row)], row.version, [row.request_id],
                cost_usd=row.cost_usd))
    findings += _orphan_init_findings(merged)
    findings = _merge_markers(findings, inv, merged)
    findings += _post_response(inv, request_price_usd, merged)
    order = {kind: i for i, kind in enumerate(schema.FINDING_KINDS)}
    findings.sort(key=lambda f: (order[f.kind], f.function or "", f.environment or ""))
    return findings


_Row = namedtuple("_Row", ROW_FIELDS)


def _rows(inv: pd.DataFrame, rows: np.ndarray) -> Iterator[tuple]:
    """`inv.iloc[rows][ROW_FIELDS].itertuples(index=False)` (the same plain Python values),
    from one list per column rather than per-value iteration of text arrays."""
    columns = []
    for name in ROW_FIELDS:
        column = inv[name]
        numeric = isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf"
        values = column.to_numpy() if numeric else column.to_numpy(dtype=object)
        columns.append(values[rows].tolist())
    return map(_Row._make, zip(*columns, strict=True))


def _evidence(inv: pd.DataFrame, rows: np.ndarray, frames: dict[str, pd.DataFrame]
              ) -> dict[object, list[tuple[int, str]]]:
    """The quotable records of the invocations at `rows` (positions in `inv`), by key: found
    by owner code when the table has them (`evidence.collect_owned`), else by key."""
    wanted = set(inv["invocation"].to_numpy(dtype=object)[rows])
    lines = None
    if "owner_code" in inv:
        lines = evidence.collect_owned(frames, inv["owner_code"].to_numpy()[rows], wanted)
    return evidence.collect(frames, "owner", wanted) if lines is None else lines


def _never_polled_envs(inv: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Environments where the runtime never reached GET /next (both log patterns).

    The silent pattern needs more than one timed-out invocation, or a stream whose start is in
    the input, and no sign that init ever completed (an `Init Duration` or a successful init
    report means the runtime did call GET /next): one slow handler that logs nothing is a
    `timeout`, not a runtime that never polled. (Counted per environment code with
    `np.bincount`.)
    """
    code, names = environment_codes(inv)
    valid = code >= 0
    count = len(names)

    def per_env(rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(code[rows & valid], minlength=count,
                           weights=None if weights is None else weights[rows & valid])

    timed_out = status_is(inv, "timeout")
    report_init = _present(inv, "report_init_ms")
    init_status = _Text(_values(inv, "init_status"))
    init_timeout = per_env(init_status.isin("timeout", "never_polled")) > 0
    pattern_a = (per_env(timed_out & ~report_init) > 0) & init_timeout
    init_done = per_env(report_init | init_status.isin("success")
                        | _present(inv, "restore_report_ms")) > 0
    every = np.ones(len(code), dtype=bool)
    rows = per_env(every)
    lines = inv["app_lines"].to_numpy(dtype=float)
    started = inv["stream_started"].to_numpy(dtype=bool)[first_of_each(code)]  # per code
    pattern_b = ((per_env(timed_out) == rows) & (per_env(every, np.nan_to_num(lines)) == 0)
                 & (per_env(status_is(inv, *STATUSES)) == rows) & ~init_done
                 & ((rows >= 2) | started) & (rows > 0))
    kinds = {names[i]: "init_timeout" for i in np.flatnonzero(pattern_a)}
    kinds.update({names[i]: "silent" for i in np.flatnonzero(pattern_b & ~pattern_a)})
    ordered = [name for name in names if name in kinds]  # in order of first appearance
    return ordered, kinds


def _never_message(pattern: str, hit: pd.DataFrame) -> str:
    n = len(hit)
    if pattern == "init_timeout":
        return (f"the runtime never called GET /next: init timed out, then {n} invocation(s) "
                "re-ran init inside the invoke and timed out")
    return (f"the runtime never reached its event loop: all {n} invocation(s) timed out with no "
            "function output after START")


def _message(kind: str, row: object) -> str:
    get = row.__getattribute__
    if kind == "timeout":
        limit = get("timeout_s")
        past = f" past the {float(limit):.2f} s timeout" if _known(limit) else ""
        return f"the handler ran {_ms(get('duration_ms'))}{past}; Lambda stopped it"
    if kind == "init_timeout":
        return f"init timed out after {_ms(get('init_report_ms'))}; init re-ran in the invoke"
    if kind == "init_error":
        error = get("init_error_type")
        error = error if _known(error) else get("suppressed_error_type")
        error = error if _known(error) else get("error_type")
        return f"init failed ({error if _known(error) else 'no error type'})"
    if kind == "out_of_memory":
        return (f"out of memory: used {get('max_memory_mb'):.0f} MB of "
                f"{get('memory_mb'):.0f} MB; the runtime was killed"
                if _known(get("max_memory_mb")) and _known(get("memory_mb"))
                else "out of memory; the runtime was killed")
    reason = get("exit_reason")
    reason = reason if _known(reason) and reason else get("exit_text")
    reason = reason if _known(reason) else get("error_type")
    return f"the runtime process exited ({reason if _known(reason) else 'no reason given'})"


def _table_evidence(row: object) -> str:
    """When no record of the invocation can be quoted: what the merged row says, and whence."""
    get = row.__getattribute__
    return (f"{get('request_id')}: status {get('status')}, duration {_ms(get('duration_ms'))}, "
            f"error {get('error_type') if pd.notna(get('error_type')) else '-'} "
            f"(from {get('sources') or 'no source'})")


def _orphan_init_findings(merged: Merged) -> list[Finding]:
    """Init timeouts/errors in streams no invocation followed (the environment was discarded)."""
    orphans = merged.orphans
    if orphans.empty or "status" not in orphans:
        return []
    failed = orphans.loc[orphans["kind"].eq("InitReport") & orphans["status"].isin(FAILED)]
    out = []
    for row in failed.to_dict("records"):
        if row["status"] == "never_polled":
            continue  # the wrapper's verdict; its stuck marker makes the finding
        kind = "init_timeout" if row["status"] == "timeout" else "init_error"
        function = row.get("function") if pd.notna(row.get("function")) else None
        error = row.get("error_type") if pd.notna(row.get("error_type")) else None
        message = (f"init timed out after {_ms(row.get('duration_ms'))}; no invocation followed"
                   if kind == "init_timeout" else f"init failed ({error or 'no error type'})")
        out.append(Finding(kind, function, row["env"], None, None, message,
                           [evidence.render("InitReport", row)]))
    return out


def _merge_markers(findings: list[Finding], inv: pd.DataFrame, merged: Merged) -> list[Finding]:
    """lctrace stuck markers: join the log finding about the same thing, or stand alone."""
    markers = merged.frames.get("StuckMarker")
    if markers is None or markers.empty:
        return findings
    inv = inv.set_index("invocation", drop=False)  # unique; a request id can repeat (retries)
    first_run = inv.drop_duplicates("request_id").set_index("request_id")["invocation"]
    by_env = {f.environment: f for f in findings if f.kind == "never_polled"}
    by_request = {f.request_id: f for f in findings
                  if f.kind in ("timeout", "no_response", "stopped_polling") and f.request_id}
    # One watchdog firing reaches the input once per sink (stderr line, OTLP span, X-Ray
    # subsegment), each with the same kind, request id and elapsed time: one fact.
    by_fact: dict[tuple[object, ...], Finding] = {}
    for row in markers.sort_values("seq").to_dict("records"):
        kind, rid, env_name = row["kind"], row.get("request_id"), row["env"]
        rid = rid if isinstance(rid, str) and rid else None
        line = evidence.render("StuckMarker", row)
        elapsed = row.get("elapsed_ms")
        fact = (kind, rid, round(float(elapsed), 1)) if pd.notna(elapsed) else None
        target = by_env.get(env_name) if kind == schema.STUCK_NEVER_POLLED else by_request.get(rid)
        target = target or by_fact.get(fact)
        if fact is not None and target is not None:
            by_fact[fact] = target
        if target is not None and (target.environment is None
                                   or str(target.environment).startswith("source:")):
            target.environment = env_name  # a sink that names the environment wins
        if target is not None:
            if target.kind != kind:
                target.related_kinds.append(target.kind)
                target.kind = kind
            target.evidence.append(line)
            continue
        known = rid is not None and rid in first_run.index
        key = first_run[rid] if known else None
        billed = inv.at[key, "billed_ms"] if known else None
        function = inv.at[key, "function"] if known else row.get("function")
        version = inv.at[key, "version"] if known else None
        cost = inv.at[key, "cost_usd"] if known else None
        ids = [rid] if rid else []
        # an environment finding (no request id): the invocations it ran, each still billed
        same = inv.loc[inv["environment"].eq(env_name)] if not known else inv.iloc[:0]
        if not same.empty:
            function = function if pd.notna(function) else same["function"].iloc[0]
            version = same["version"].iloc[0]
            billed = same["billed_ms"].sum(min_count=1)
            cost = same["cost_usd"].sum(min_count=1)
            ids = same["request_id"].tolist()
        finding = Finding(kind, function if pd.notna(function) else None, env_name,
                          ids[0] if ids else None, billed,
                          f"lctrace watchdog: {kind.replace('_', ' ')} after "
                          f"{_ms(row.get('elapsed_ms'))}", [line],
                          version=version if pd.notna(version) else None, request_ids=ids,
                          cost_usd=cost)
        findings.append(finding)
        if fact is not None:
            by_fact[fact] = finding
        if kind == schema.STUCK_NEVER_POLLED:
            by_env[env_name] = finding
        elif rid:
            by_request[rid] = finding
    return findings


def post_response_cost(inv: pd.DataFrame, request_price_usd: float = 0.0) -> pd.DataFrame:
    """Per invocation: billed ms spent after the response (ceil of the post-response time, at
    most the billed time) and the dollars of it (the row's compute price per billed ms)."""
    post = inv["post_response_ms"].astype(float)
    billed = inv["billed_ms"].astype(float)
    ms = np.minimum(np.ceil(post - 1e-6), billed)
    per_ms = (inv["cost_usd"].astype(float) - request_price_usd) / billed.where(billed > 0)
    return pd.DataFrame({"billed_ms": ms, "cost_usd": ms * per_ms}, index=inv.index)


def _post_response(inv: pd.DataFrame, request_price_usd: float = 0.0,
                   merged: Merged | None = None) -> list[Finding]:
    """Environments where work after the response takes a large share of billed time; the
    finding carries the billed ms and dollars that work cost over the whole input, and quotes
    what measured it (the wrapper's line or span) next to what billed it (REPORT). The records
    of every environment's worst invocations are looked up together, once."""
    post = inv["post_response_ms"].to_numpy(dtype=float)
    if is_broadcast(post) and np.isnan(post[0]):
        return []  # (no source measured post-response time: nothing to read per row)
    share = post / inv["billed_ms"].to_numpy(dtype=float)
    heavy = inv.loc[(post >= POST_RESPONSE_MIN_MS) & (share > POST_RESPONSE_SHARE)].set_index(
        "invocation", drop=False)  # (the evidence names rows by their key)
    costs = post_response_cost(heavy, request_price_usd)  # (per row: only the rows flagged)
    groups = [(env_name, rows, rows.sort_values("post_response_ms", ascending=False).head(2))
              for env_name, rows in heavy.groupby("environment", sort=False)]
    lines = None
    if merged is not None and groups:
        frames = {kind: merged.frames[kind] for kind in ("Report", "WrapperInvocation",
                                                         "RuntimeDone") if kind in merged.frames}
        spans = merged.frames.get("PhaseSpan")
        if spans is not None:
            frames["PhaseSpan"] = spans.loc[spans["phase"].eq(schema.SPAN_POST_RESPONSE)]
        every = pd.concat([worst for _, _, worst in groups])
        lines = _evidence(every, np.arange(len(every)), frames)
    out = []
    for env_name, rows, worst_rows in groups:
        worst = rows["post_response_ms"].idxmax()
        worst_id = rows.at[worst, "request_id"]
        billed = float(costs.loc[rows.index, "billed_ms"].sum())
        cost = costs.loc[rows.index, "cost_usd"].sum(min_count=1)
        out.append(Finding(
            "post_response_overhead", rows["function"].iloc[0], env_name, worst_id, billed,
            f"{len(rows)} invocation(s) spent more than {POST_RESPONSE_SHARE:.0%} of billed time "
            f"after the response (worst {rows.at[worst, 'post_response_ms']:.0f} ms of "
            f"{rows.at[worst, 'billed_ms']:.0f} ms billed); {billed:.0f} billed ms after the "
            f"response over the input" + (f", ${cost:.6f}" if pd.notna(cost) else ""),
            _post_evidence(worst_rows, lines),
            rows["version"].iloc[0], rows["request_id"].tolist(),
            cost_usd=float(cost) if pd.notna(cost) else None))
    return out


def _post_evidence(worst: pd.DataFrame, lines: dict[object, list[tuple[int, str]]] | None
                   ) -> list[str]:
    """The records of the worst invocations (`lines`: quotable records by key) that show the
    post-response time and the bill."""
    summary = [f"{rid}: post_response {p:.1f} ms of {b:.0f} ms billed ({src})" for rid, p, b, src
               in worst[["post_response_ms", "billed_ms", "phase_source"]].itertuples()]
    if lines is None:
        return summary
    quoted = [line for key in worst["invocation"] for line in lines.get(key, [])]
    return summary + evidence.pick(quoted, evidence.MAX_EVIDENCE - len(summary))
