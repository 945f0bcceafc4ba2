"""CloudWatch Logs `FilterLogEvents` -> JSONL that `lctrace analyze` reads.

One line per event, in the order AWS returns them, with `logGroupName` added:
`{"logGroupName","logStreamName","timestamp","message","ingestionTime","eventId"}`.
No stream filter, so every stream (execution environment) in the group is covered; all pages
are followed. Nothing here parses messages: collectors fetch and write.
"""

from __future__ import annotations

import json
import re
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

KIND = "logs"
MAX_PAGE_SIZE = 10_000


@dataclass(slots=True)
class LogsProgress:
    """Running totals of one collection; also what the progress callback sees."""

    log_group: str
    start_ms: int
    end_ms: int
    events: int = 0
    bytes: int = 0
    pages: int = 0
    streams: set[str] = field(default_factory=set)
    last_timestamp: int | None = None
    next_token: str | None = None
    other_streams: int = 0
    complete: bool = False

    def totals(self) -> dict[str, Any]:
        """JSON-able totals for the resume sidecar."""
        return {
            "other_streams": self.other_streams,
            "events": self.events,
            "bytes": self.bytes,
            "pages": self.pages,
            "streams": sorted(self.streams),
            "last_timestamp": self.last_timestamp,
        }

    def restore(self, totals: dict[str, Any]) -> None:
        """Continue counting from a sidecar's totals."""
        self.events = int(totals.get("events", 0))
        self.bytes = int(totals.get("bytes", 0))
        self.pages = int(totals.get("pages", 0))
        self.streams = set(totals.get("streams", []))
        self.last_timestamp = totals.get("last_timestamp")
        self.other_streams = int(totals.get("other_streams", 0))


ProgressFn = Callable[[LogsProgress], None]


def event_line(log_group: str, event: dict[str, Any]) -> bytes:
    """One FilterLogEvents event as a JSONL line, `logGroupName` first."""
    record = {"logGroupName": log_group}
    for key in ("logStreamName", "timestamp", "message", "ingestionTime", "eventId"):
        if key in event:
            record[key] = event[key]
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def collect_logs(
    client: Any,
    out: BinaryIO,
    *,
    log_group: str,
    start_ms: int,
    end_ms: int,
    filter_pattern: str | None = None,
    stream_pattern: str | None = None,
    page_size: int | None = None,
    next_token: str | None = None,
    stats: LogsProgress | None = None,
    progress: ProgressFn | None = None,
    checkpoint: ProgressFn | None = None,
) -> LogsProgress:
    """Fetch every event of `log_group` in `[start_ms, end_ms)` and write one page per write.

    `checkpoint(stats)` runs after each page is on disk (save the resume state there),
    `progress(stats)` after that. `log_group` may be a name or a log group ARN (cross-account).
    `stream_pattern` (a regex) keeps only matching streams: one function's streams in a custom
    log group shared by several; events of other streams are counted in `other_streams`.
    """
    selected = re.compile(stream_pattern) if stream_pattern else None
    stats = stats or LogsProgress(log_group, start_ms, end_ms)
    request: dict[str, Any] = {"startTime": start_ms, "endTime": end_ms - 1}
    request["logGroupIdentifier" if log_group.startswith("arn:") else "logGroupName"] = log_group
    if filter_pattern:
        request["filterPattern"] = filter_pattern
    if page_size:
        request["limit"] = min(page_size, MAX_PAGE_SIZE)
    token = next_token
    while True:
        if token:
            request["nextToken"] = token
        response = client.filter_log_events(**request)
        events = response.get("events", [])
        if selected is not None:
            kept = [e for e in events if selected.search(e.get("logStreamName", ""))]
            stats.other_streams += len(events) - len(kept)
            events = kept
        stats.bytes += out.write(b"".join(event_line(log_group, e) for e in events))
        stats.events += len(events)
        stats.pages += 1
        for event in events:
            stats.streams.add(event.get("logStreamName", ""))
            stamp = event.get("timestamp")
            if stamp is not None and (stats.last_timestamp is None or stamp > stats.last_timestamp):
                stats.last_timestamp = stamp
        new_token = response.get("nextToken")
        if new_token and new_token == token:
            raise AwsRequestError(f"FilterLogEvents returned the same nextToken twice for "
                                  f"{log_group}; stopping to avoid a loop")
        token = new_token
        stats.next_token = token
        stats.complete = not token
        if checkpoint:
            checkpoint(stats)
        if progress:
            progress(stats)
        if not token:
            return stats


@dataclass(frozen=True, slots=True)
class LogsQuery:
    """What a `collect logs` run fetches; saved in the sidecar so `--resume` repeats it."""

    log_group: str
    start_ms: int
    end_ms: int
    filter_pattern: str | None = None
    stream_pattern: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_group": self.log_group,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "filter_pattern": self.filter_pattern,
            "stream_pattern": self.stream_pattern,
        }


def collect_logs_to_file(
    client: Any,
    output: Path,
    query: LogsQuery | dict[str, Any] | None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    page_size: int | None = None,
    progress: ProgressFn | None = None,
) -> LogsProgress:
    """Collect into `output`, saving `<output>.resume.json` after every page; with `resume`,
    continue the saved query from its nextToken (the query comes from the sidecar; a `query`
    given too must agree with it). The sidecar is removed when the collection completes."""
    output = Path(output)
    given = query.to_dict() if isinstance(query, LogsQuery) else dict(query or {})
    writer, state = open_for_collection(output, KIND, given, resume=resume, overwrite=overwrite)
    saved = LogsQuery(**state.query)
    stats = LogsProgress(saved.log_group, saved.start_ms, saved.end_ms)
    stats.restore(state.totals)

    saver = Checkpointer(output, state)

    def checkpoint(current: LogsProgress) -> None:
        saver.update(writer.tell(), current.next_token, current.totals())

    with writer, flushed_on_error(saver):
        collect_logs(
            client,
            writer,
            log_group=saved.log_group,
            start_ms=saved.start_ms,
            end_ms=saved.end_ms,
            filter_pattern=saved.filter_pattern,
            stream_pattern=saved.stream_pattern,
            page_size=page_size,
            next_token=state.cursor if resume else None,
            stats=stats,
            progress=progress,
            checkpoint=checkpoint,
        )
    clear_state(output)
    return stats
