"""CloudWatch Logs Insights: let AWS pick the lifecycle lines, download only those rows.

For log groups too large to download: `LIFECYCLE_QUERY` (also shipped as
`collectors/insights/lifecycle-fields.query`, for the console) keeps REPORT lines, INIT/RESTORE
lines, old-style timeouts and crashes, JSON-format `platform.*` records and lctrace's own
markers. A query returns at most `ROW_LIMIT` rows, so a window that comes back full (or whose
`recordsMatched` exceeds its rows) is split in two and both halves are queried again.

Output: one `get-query-results` object per window and line,
`{"results":[[{"field","value"},...]],"statistics":{...},"status":"Complete"}`.
Windows share their boundary second; rows seen in the previous window (same `@ptr`) are dropped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lifecycle_trace.collect.errors import AwsRequestError
from lifecycle_trace.collect.output import (
    Checkpointer,
    clear_state,
    flushed_on_error,
    open_for_collection,
)

KIND = "insights"
ROW_LIMIT = 10_000
POLL_S = 1.0
LIFECYCLE_QUERY = """\
fields @timestamp, @logStream, @log, @requestId, @type, @duration, @billedDuration, \
@initDuration, @memorySize, @maxMemoryUsed, @message
| filter @type = "REPORT"
    or @message like /^(INIT_START|INIT_REPORT|RESTORE_START|RESTORE_REPORT)/
    or @message like /Task timed out after|Runtime exited|Runtime\\.ExitError|Runtime\\.OutOfMemory/
    or @message like /"type"\\s*:\\s*"platform\\./
    or @message like /"lctrace"\\s*:/
| sort @timestamp asc
| limit 10000
"""
FAILED = {"Failed", "Cancelled", "Timeout", "Unknown"}


class QueryTimeoutError(AwsRequestError):
    """Logs Insights gave up on a window (queries time out after 60 minutes): split it."""
_LIMIT = re.compile(r"\|\s*limit\s+\d+\s*$", re.IGNORECASE)


def build_query(row_limit: int = ROW_LIMIT, query: str = LIFECYCLE_QUERY) -> str:
    """The query with its trailing `| limit N` set to `row_limit` (added when missing)."""
    body = query.rstrip()
    if _LIMIT.search(body):
        return _LIMIT.sub(f"| limit {row_limit}", body) + "\n"
    return f"{body}\n| limit {row_limit}\n"


def with_stream_filter(query: str, stream_pattern: str | None) -> str:
    """Add `| filter @logStream like /PATTERN/` after the `fields` line (one function's
    streams in a shared custom log group); the query unchanged when there is no pattern."""
    if not stream_pattern:
        return query
    first, _, rest = query.partition("\n")
    escaped = stream_pattern.replace("/", "\\/")
    return f"{first}\n| filter @logStream like /{escaped}/\n{rest}"


@dataclass(slots=True)
class InsightsProgress:
    """Running totals; `covered_s` of `end_s - start_s` seconds are done."""

    log_groups: list[str]
    start_s: int
    end_s: int
    rows: int = 0
    bytes: int = 0
    queries: int = 0
    windows_split: int = 0
    covered_s: int = 0
    records_scanned: float = 0
    truncated_windows: list[list[int]] = field(default_factory=list)
    complete: bool = False

    def totals(self) -> dict[str, Any]:
        keys = ("rows", "bytes", "queries", "windows_split", "covered_s", "records_scanned",
                "truncated_windows")
        return {key: getattr(self, key) for key in keys}

    def restore(self, totals: dict[str, Any]) -> None:
        for key, value in totals.items():
            if key in self.totals():
                setattr(self, key, value)


ProgressFn = Callable[[InsightsProgress], None]


def run_query(
    client: Any,
    *,
    log_groups: list[str],
    start_s: int,
    end_s: int,
    query: str,
    row_limit: int = ROW_LIMIT,
    poll_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """StartQuery, poll GetQueryResults until done (following nextToken pages), and return
    `{"results","statistics","status"}`. Ctrl-C stops the query on AWS before re-raising."""
    request: dict[str, Any] = {"startTime": start_s, "endTime": end_s, "queryString": query,
                               "limit": row_limit}
    by_arn = any(group.startswith("arn:") for group in log_groups)
    request["logGroupIdentifiers" if by_arn else "logGroupNames"] = list(log_groups)
    query_id = client.start_query(**request)["queryId"]
    try:
        while True:
            response = client.get_query_results(queryId=query_id)
            status = response.get("status")
            if status == "Complete":
                break
            if status in FAILED:
                raise (QueryTimeoutError if status == "Timeout" else AwsRequestError)(
                    f"Logs Insights query {query_id} ended {status} for "
                    f"{', '.join(log_groups)} ({start_s}..{end_s})"
                )
            sleep(poll_s)
    except KeyboardInterrupt:
        try:
            client.stop_query(queryId=query_id)
        finally:
            raise
    results = list(response.get("results", []))
    token = response.get("nextToken")
    while token:
        more = client.get_query_results(queryId=query_id, nextToken=token)
        results += more.get("results", [])
        token = more.get("nextToken") if more.get("nextToken") != token else None
    return {"results": results, "statistics": response.get("statistics", {}),
            "status": "Complete"}


def _ptr(row: list[dict[str, str]]) -> str | None:
    return next((cell.get("value") for cell in row if cell.get("field") == "@ptr"), None)


def collect_insights(
    client: Any,
    out: BinaryIO,
    *,
    log_groups: list[str],
    start_s: int,
    end_s: int,
    query: str | None = None,
    row_limit: int = ROW_LIMIT,
    poll_s: float = POLL_S,
    pending: list[list[int]] | None = None,
    previous_ptrs: set[str] | None = None,
    stats: InsightsProgress | None = None,
    progress: ProgressFn | None = None,
    checkpoint: Callable[[InsightsProgress, list[list[int]], set[str]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> InsightsProgress:
    """Query `[start_s, end_s]` window by window (splitting full windows), write each window's
    rows as one get-query-results line. `pending`/`previous_ptrs` continue a resumed run;
    `checkpoint(stats, pending, ptrs)` runs whenever a window is on disk or split."""
    text = build_query(row_limit, query or LIFECYCLE_QUERY)
    stats = stats or InsightsProgress(list(log_groups), start_s, end_s)
    windows = [list(w) for w in pending] if pending is not None else [[start_s, end_s]]
    seen = set(previous_ptrs or ())
    while windows:
        left, right = windows[0]
        try:
            result = run_query(client, log_groups=log_groups, start_s=left, end_s=right,
                               query=text, row_limit=row_limit, poll_s=poll_s, sleep=sleep)
        except QueryTimeoutError:
            if right - left <= 1:
                raise
            result = None
        stats.queries += 1
        rows = result["results"] if result else []
        matched = (result.get("statistics") or {}).get("recordsMatched") if result else None
        full = result is None or len(rows) >= row_limit or (
            matched is not None and matched > len(rows))
        if full and right - left > 1:
            middle = (left + right) // 2
            windows[0:1] = [[left, middle], [middle, right]]
            stats.windows_split += 1
        else:
            if full:
                stats.truncated_windows.append([left, right])
            fresh = [row for row in rows if _ptr(row) is None or _ptr(row) not in seen]
            line = json.dumps({**result, "results": fresh}, ensure_ascii=False,
                              separators=(",", ":")) + "\n"
            stats.bytes += out.write(line.encode())
            stats.rows += len(fresh)
            stats.records_scanned += float((result.get("statistics") or {}).get(
                "recordsScanned") or 0)
            seen = {ptr for ptr in map(_ptr, rows) if ptr is not None}
            stats.covered_s += right - left
            windows.pop(0)
        if checkpoint:
            checkpoint(stats, windows, seen)
        if progress:
            progress(stats)
    stats.complete = True
    return stats


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    """What a `collect logs --insights` run fetches; saved in the sidecar for `--resume`."""

    log_groups: list[str]
    start_s: int
    end_s: int
    query: str | None = None
    row_limit: int = ROW_LIMIT
    stream_pattern: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"log_groups": list(self.log_groups), "start_s": self.start_s,
                "end_s": self.end_s, "query": self.query, "row_limit": self.row_limit,
                "stream_pattern": self.stream_pattern}


def collect_insights_to_file(
    client: Any,
    output: Path,
    query: InsightsQuery | dict[str, Any] | None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    poll_s: float = POLL_S,
    progress: ProgressFn | None = None,
) -> InsightsProgress:
    """Collect Insights results into `output` with a resume sidecar (pending windows)."""
    output = Path(output)
    given = query.to_dict() if isinstance(query, InsightsQuery) else dict(query or {})
    writer, state = open_for_collection(output, KIND, given, resume=resume, overwrite=overwrite)
    saved = InsightsQuery(**state.query)
    stats = InsightsProgress(list(saved.log_groups), saved.start_s, saved.end_s)
    stats.restore(state.totals)
    cursor = state.cursor if resume and state.cursor else None

    saver = Checkpointer(output, state)

    def checkpoint(current: InsightsProgress, windows: list[list[int]], ptrs: set[str]) -> None:
        cursor = {"pending": [list(w) for w in windows], "previous_ptrs": sorted(ptrs)}
        saver.update(writer.tell(), cursor, json.loads(json.dumps(current.totals())))

    with writer, flushed_on_error(saver):
        collect_insights(
            client, writer, log_groups=list(saved.log_groups), start_s=saved.start_s,
            end_s=saved.end_s, row_limit=saved.row_limit, poll_s=poll_s,
            query=with_stream_filter(saved.query or LIFECYCLE_QUERY, saved.stream_pattern),
            pending=cursor["pending"] if cursor else None,
            previous_ptrs=set(cursor["previous_ptrs"]) if cursor else None,
            stats=stats, progress=progress, checkpoint=checkpoint,
        )
    clear_state(output)
    return stats
