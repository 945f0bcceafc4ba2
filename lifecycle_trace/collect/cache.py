"""`lctrace analyze --function NAME --since 2h`: collect into a cache, hand back the files.

Files live under `$LCTRACE_CACHE_DIR` (default `~/.cache/lctrace`), named after the log group
and a hash of the query. A closed absolute range (ended more than `SETTLED_MS` ago, so
CloudWatch has ingested it) is fetched once and reused; a relative range (`--since`) is
re-fetched every time into the same file, so the cache does not grow. An interrupted fetch is
resumed from its sidecar.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lifecycle_trace import config
from lifecycle_trace.collect.errors import NOT_FOUND, AwsNotFoundError, aws_errors
from lifecycle_trace.collect.insights import InsightsQuery, collect_insights_to_file
from lifecycle_trace.collect.logs import LogsQuery, collect_logs_to_file
from lifecycle_trace.collect.output import clear_state, load_state
from lifecycle_trace.collect.progress import progress_bar
from lifecycle_trace.collect.resolve import (
    FunctionLogs,
    function_name,
    missing_group_message,
    resolve_function_log_group,
)
from lifecycle_trace.collect.session import AwsTarget, make_client, make_session
from lifecycle_trace.collect.timerange import TimeRange, resolve_range
from lifecycle_trace.collect.traces import TracesQuery, collect_traces_to_file
from lifecycle_trace.errors import CollectError, ConfigError

SETTLED_MS = 10 * 60 * 1000
"""A range that ended this long ago is treated as final (CloudWatch ingestion has caught up)."""


def cache_root(explicit: str | Path | None = None) -> Path:
    """Explicit argument, else `$LCTRACE_CACHE_DIR`, else `~/.cache/lctrace`."""
    chosen = explicit or config.get_str(config.CACHE_DIR)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "lctrace"


def cache_path(root: Path, kind: str, subject: str, key: dict[str, Any]) -> Path:
    """`<root>/<subject-slug>.<kind>.<hash>.jsonl.gz`, the hash over the whole query."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", subject).strip("_") or "logs"
    return root / f"{slug}.{kind}.{digest}.jsonl.gz"


def run_collection(
    collect: Callable[..., Any], client: Any, output: Path, query: Any, *, target: AwsTarget,
    described: str, not_found: str, resume: bool = False, overwrite: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> Any:
    """Run one `collect_*_to_file` and turn AWS errors into one-line `CollectError`s
    (`not_found` is the message for a ResourceNotFoundException)."""
    try:
        with aws_errors(described, profile=target.profile):
            try:
                return collect(client, output, query, resume=resume, overwrite=overwrite,
                               progress=progress)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in NOT_FOUND:
                    raise AwsNotFoundError(not_found) from error
                raise
    except CollectError as error:
        state = load_state(output)
        if state is not None and state.offset == 0 and not resume:
            output.unlink(missing_ok=True)  # nothing fetched: leave no empty file behind
            clear_state(output)
        elif state is not None:
            error.args = (f"{error}; kept what was written, `--resume` continues",)
        raise


def fetch_to_cache(
    *,
    function: str | None = None,
    log_group: str | None = None,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    filter_pattern: str | None = None,
    traces: bool = False,
    insights: bool = False,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    now_ms: int | None = None,
) -> list[Path]:
    """Collect a function's (or log group's) logs, and its X-Ray traces when `traces`, into
    the cache; return the files for `lctrace analyze` (logs first). Raises `CollectError`s
    with one-line messages; `ConfigError` for bad options."""
    if bool(function) == bool(log_group):
        raise ConfigError("give exactly one of --function or --log-group")
    if traces and not function:
        raise ConfigError("traces need --function (X-Ray filters by the function's node)")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    window = resolve_range(since, start, end, now_ms=now_ms)
    target = AwsTarget(profile, region, endpoint_url)
    session = make_session(target)
    found: FunctionLogs | None = None
    if function:
        lambda_client = make_client("lambda", target, session=session)
        with aws_errors(f"function {function}", profile=profile):
            found = resolve_function_log_group(lambda_client, function)
        log_group = found.log_group
    assert log_group is not None
    settled = not since and window.end_ms < now_ms - SETTLED_MS
    base_key = {"target": [profile, session.region_name, endpoint_url], "group": log_group,
                "range": [window.start_ms, window.end_ms] if settled else since or "1h"}
    root = cache_root(cache_dir)
    not_found = missing_group_message(log_group, session.region_name, found)
    logs_client = make_client("logs", target, session=session)
    paths: list[Path] = []
    if insights:
        pattern = found.stream_pattern if found else None
        query: Any = InsightsQuery([log_group], window.start_ms // 1000,
                                   -(-window.end_ms // 1000), stream_pattern=pattern)
        path = cache_path(root, "insights", log_group,
                          {**base_key, "kind": "insights", "streams": pattern})
        collect: Callable[..., Any] = collect_insights_to_file
    else:
        query = LogsQuery(log_group, window.start_ms, window.end_ms, filter_pattern,
                          found.stream_pattern if found else None)
        path = cache_path(root, "logs", log_group, {**base_key, "kind": "logs",
                                                     "filter": filter_pattern,
                                                     "streams": query.stream_pattern})
        collect = collect_logs_to_file
    paths.append(_fetch_one(collect, logs_client, path, query, target, window, settled,
                            f"log group {log_group}", not_found, show_progress))
    if traces and function:
        xray = make_client("xray", target, session=session)
        tquery = TracesQuery(function, window.start_ms, window.end_ms)
        path = cache_path(root, "traces", function_name(function), {**base_key, "kind": "xray"})
        paths.append(_fetch_one(collect_traces_to_file, xray, path, tquery, target, window,
                                settled, f"X-Ray traces of {function}",
                                f"X-Ray has nothing for {function}", show_progress))
    return paths


def _fetch_one(collect: Callable[..., Any], client: Any, path: Path, query: Any,
               target: AwsTarget, window: TimeRange, settled: bool, described: str,
               not_found: str, show_progress: bool) -> Path:
    state = load_state(path)
    if settled and path.exists() and state is None:
        return path  # complete, and the range cannot change any more
    resume = state is not None and state.query == query.to_dict()
    with progress_bar(described, enabled=show_progress) as progress:
        run_collection(collect, client, path, None if resume else query, target=target,
                       described=described, not_found=not_found, resume=resume,
                       overwrite=not resume, progress=progress)
    return path
