"""Rich progress bars for collections (on stderr), one adapter per collector's totals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich import filesize
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from lifecycle_trace.collect.insights import InsightsProgress
from lifecycle_trace.collect.logs import LogsProgress
from lifecycle_trace.collect.traces import TracesProgress


def describe_logs(stats: LogsProgress) -> tuple[float, float, str]:
    """(completed, total, detail): time covered of the range, events, streams, bytes."""
    total = max(stats.end_ms - stats.start_ms, 1)
    done = total if stats.complete else max(0, (stats.last_timestamp or stats.start_ms)
                                               - stats.start_ms)
    detail = (f"{stats.events:,} events · {len(stats.streams):,} streams · "
              f"{filesize.decimal(stats.bytes)}")
    return min(done, total), total, detail


def describe_traces(stats: TracesProgress) -> tuple[float, float | None, str]:
    """(completed, total, detail): ids fetched of ids listed, traces, segments, bytes."""
    if stats.phase == "listing":
        return 0, None, f"listing: {stats.ids_found:,} trace ids"
    detail = (f"{stats.traces:,} traces · {stats.segments:,} segments · "
              f"{filesize.decimal(stats.bytes)}")
    return stats.ids_done, max(stats.ids_found, 1), detail


def describe_insights(stats: InsightsProgress) -> tuple[float, float, str]:
    """(completed, total, detail): seconds of range queried, rows, queries, window splits."""
    total = max(stats.end_s - stats.start_s, 1)
    detail = (f"{stats.rows:,} rows · {stats.queries} queries · {stats.windows_split} splits · "
              f"{filesize.decimal(stats.bytes)}")
    return min(stats.covered_s, total), total, detail


DESCRIBERS: dict[type, Callable[[Any], tuple[float, float | None, str]]] = {
    LogsProgress: describe_logs,
    TracesProgress: describe_traces,
    InsightsProgress: describe_insights,
}


@contextmanager
def progress_bar(title: str, *, enabled: bool = True,
                 console: Console | None = None) -> Iterator[Callable[[Any], None]]:
    """Yield a progress callback for any collector; draws nothing when `enabled` is False."""
    if not enabled:
        yield lambda stats: None
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )
    task = bar.add_task(title, total=None, detail="")

    def update(stats: Any) -> None:
        completed, total, detail = DESCRIBERS[type(stats)](stats)
        bar.update(task, completed=completed, total=total, detail=detail)

    with bar:
        yield update
