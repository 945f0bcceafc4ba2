"""X-Ray `GetTraceSummaries` (filtered to one function) then `BatchGetTraces`, 5 ids a call.

Output: one `batch-get-traces` response per line, `{"Traces":[...],"UnprocessedTraceIds":[...]}`
(`Document` stays the JSON string AWS returns). Summaries are listed in windows of at most
`SUMMARY_WINDOW_S` because GetTraceSummaries limits the range one call may span.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from lifecycle_trace.collect.errors import AwsRequestError
from lifecycle_trace.collect.output import (
    Checkpointer,
    clear_state,
    flushed_on_error,
    open_for_collection,
)
from lifecycle_trace.collect.resolve import function_name

KIND = "traces"
BATCH_SIZE = 5
"""BatchGetTraces accepts at most 5 trace ids per call."""
SUMMARY_WINDOW_S = 6 * 3600
"""Longest range per GetTraceSummaries call (X-Ray refuses longer ranges)."""
LAMBDA_ORIGINS = ("AWS::Lambda", "AWS::Lambda::Function")
DEFAULT = "default"


def function_filter_expression(function: str) -> str:
    """X-Ray filter expression selecting traces that pass through the function's node."""
    name = function_name(function).replace("\\", "\\\\").replace('"', '\\"')
    return f'service(id(name: "{name}", type: "AWS::Lambda::Function"))'


@dataclass(slots=True)
class TracesProgress:
    """Running totals: ids listed, traces/segments written, ids X-Ray left unprocessed."""

    function: str
    start_ms: int
    end_ms: int
    phase: str = "listing"
    ids_found: int = 0
    ids_done: int = 0
    traces: int = 0
    segments: int = 0
    bytes: int = 0
    batches: int = 0
    skipped_other: int = 0
    unprocessed: list[str] = field(default_factory=list)
    complete: bool = False

    def totals(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("traces", "segments", "bytes", "batches",
                                              "skipped_other")}

    def restore(self, totals: dict[str, Any]) -> None:
        for key, value in totals.items():
            if key in self.totals():
                setattr(self, key, int(value))


ProgressFn = Callable[[TracesProgress], None]


def _windows(start_ms: int, end_ms: int, width_s: int) -> Iterable[tuple[datetime, datetime]]:
    step = width_s * 1000
    for left in range(start_ms, end_ms, step):
        right = min(left + step, end_ms)
        yield (datetime.fromtimestamp(left / 1000, tz=UTC),
               datetime.fromtimestamp(right / 1000, tz=UTC))


def list_trace_ids(
    client: Any,
    *,
    start_ms: int,
    end_ms: int,
    filter_expression: str | None,
    on_page: Callable[[int], None] | None = None,
) -> list[str]:
    """Every trace id GetTraceSummaries lists in the range (all pages, all windows), deduped
    in the order listed."""
    seen: dict[str, None] = {}
    for left, right in _windows(start_ms, end_ms, SUMMARY_WINDOW_S):
        request: dict[str, Any] = {"StartTime": left, "EndTime": right, "Sampling": False}
        if filter_expression:
            request["FilterExpression"] = filter_expression
        token = None
        while True:
            response = client.get_trace_summaries(**request, **({"NextToken": token} if token
                                                                 else {}))
            for summary in response.get("TraceSummaries", []):
                seen.setdefault(summary["Id"], None)
            if on_page:
                on_page(len(seen))
            new_token = response.get("NextToken")
            if new_token and new_token == token:
                raise AwsRequestError("GetTraceSummaries returned the same NextToken twice")
            token = new_token
            if not token:
                break
    return list(seen)


def touches_function(trace: dict[str, Any], name: str) -> bool:
    """Whether one of the trace's segments is the function's (AWS::Lambda[::Function] origin,
    named after it or carrying its ARN). Selection only: documents are not otherwise read."""
    for segment in trace.get("Segments", []):
        try:
            document = json.loads(segment.get("Document") or "{}")
        except ValueError:
            continue
        if document.get("origin") not in LAMBDA_ORIGINS:
            continue
        arns = (document.get("resource_arn") or "", (document.get("aws") or {}).get(
            "function_arn") or "")
        if document.get("name") == name or any(
            (arn + ":").find(f":function:{name}:") >= 0 for arn in arns
        ):
            return True
    return False


def collect_traces(
    client: Any,
    out: BinaryIO,
    *,
    function: str,
    start_ms: int,
    end_ms: int,
    filter_expression: str | None = DEFAULT,
    done_ids: set[str] | None = None,
    stats: TracesProgress | None = None,
    progress: ProgressFn | None = None,
    checkpoint: Callable[[TracesProgress, set[str]], None] | None = None,
) -> TracesProgress:
    """List the function's traces, fetch them 5 at a time, write one line per response page.

    `filter_expression` defaults to `function_filter_expression(function)`; None sends none
    (for endpoints without filter support), and either way only traces with a segment of the
    function are written. `done_ids` (from a resume) are not fetched again;
    `checkpoint(stats, done_ids)` runs after each batch is on disk.
    """
    name = function_name(function)
    if filter_expression == DEFAULT:
        filter_expression = function_filter_expression(function)
    stats = stats or TracesProgress(name, start_ms, end_ms)
    done = done_ids if done_ids is not None else set()

    def listed(count: int) -> None:
        stats.ids_found = count
        if progress:
            progress(stats)

    ids = list_trace_ids(client, start_ms=start_ms, end_ms=end_ms,
                         filter_expression=filter_expression, on_page=listed)
    stats.phase = "fetching"
    stats.ids_done = sum(1 for trace_id in ids if trace_id in done)
    pending = [trace_id for trace_id in ids if trace_id not in done]
    unprocessed = _fetch(client, out, pending, name, stats, done, progress, checkpoint)
    if unprocessed:  # X-Ray may leave some ids unprocessed; ask once more for those
        unprocessed = _fetch(client, out, unprocessed, name, stats, done, progress, checkpoint)
    stats.unprocessed = unprocessed
    stats.complete = True
    if progress:
        progress(stats)
    return stats


def _fetch(client: Any, out: BinaryIO, ids: list[str], name: str, stats: TracesProgress,
           done: set[str], progress: ProgressFn | None,
           checkpoint: Callable[[TracesProgress, set[str]], None] | None) -> list[str]:
    left_over: list[str] = []
    for index in range(0, len(ids), BATCH_SIZE):
        batch = ids[index:index + BATCH_SIZE]
        token = None
        unprocessed: set[str] = set()
        while True:
            response = client.batch_get_traces(TraceIds=batch, **({"NextToken": token} if token
                                                                  else {}))
            traces = response.get("Traces", [])
            kept = [trace for trace in traces if touches_function(trace, name)]
            stats.skipped_other += len(traces) - len(kept)
            unprocessed.update(response.get("UnprocessedTraceIds", []))
            page = {"Traces": kept, "UnprocessedTraceIds": response.get("UnprocessedTraceIds",
                                                                        [])}
            if kept or page["UnprocessedTraceIds"]:
                line = json.dumps(page, ensure_ascii=False, separators=(",", ":")) + "\n"
                stats.bytes += out.write(line.encode())
            stats.traces += len(kept)
            stats.segments += sum(len(trace.get("Segments", [])) for trace in kept)
            new_token = response.get("NextToken")
            if not new_token or new_token == token:
                break
            token = new_token
        stats.batches += 1
        done.update(trace_id for trace_id in batch if trace_id not in unprocessed)
        left_over += [trace_id for trace_id in batch if trace_id in unprocessed]
        stats.ids_done = len(done)
        if checkpoint:
            checkpoint(stats, done)
        if progress:
            progress(stats)
    return left_over


@dataclass(frozen=True, slots=True)
class TracesQuery:
    """What a `collect traces` run fetches; saved in the sidecar for `--resume`."""

    function: str
    start_ms: int
    end_ms: int
    filter_expression: str | None = DEFAULT

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "filter_expression": self.filter_expression}


def collect_traces_to_file(
    client: Any,
    output: Path,
    query: TracesQuery | dict[str, Any] | None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> TracesProgress:
    """Collect into `output` with a resume sidecar holding the trace ids already written."""
    output = Path(output)
    given = query.to_dict() if isinstance(query, TracesQuery) else dict(query or {})
    writer, state = open_for_collection(output, KIND, given, resume=resume, overwrite=overwrite)
    saved = TracesQuery(**state.query)
    stats = TracesProgress(function_name(saved.function), saved.start_ms, saved.end_ms)
    stats.restore(state.totals)
    done = set(state.cursor or []) if resume else set()

    saver = Checkpointer(output, state)

    def checkpoint(current: TracesProgress, done_ids: set[str]) -> None:
        saver.update(writer.tell(), sorted(done_ids), current.totals())

    with writer, flushed_on_error(saver):
        collect_traces(client, writer, function=saved.function, start_ms=saved.start_ms,
                       end_ms=saved.end_ms, filter_expression=saved.filter_expression,
                       done_ids=done, stats=stats, progress=progress, checkpoint=checkpoint)
    clear_state(output)
    return stats
