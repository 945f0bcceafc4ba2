"""`lctrace collect logs|traces`: fetch from AWS into files `lctrace analyze` reads.

Thin: parse options, call one library function from `lifecycle_trace.collect`, report. AWS
errors become one line and exit 2 (via `LifecycleTraceError`); Ctrl-C keeps what was written,
prints the command that resumes it and exits 130.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

Output = Annotated[Path, typer.Option("--output", "-o", help="File to write (.gz: gzip).")]
Function = Annotated[str | None, typer.Option("--function", "-f", help="Function name or ARN.")]
Since = Annotated[str | None, typer.Option(help="How far back from now: 30m, 2h, 7d (default 1h).")]
Start = Annotated[str | None, typer.Option(help="Range start: ISO 8601 (UTC if no zone), "
                                                "epoch s/ms.")]
End = Annotated[str | None, typer.Option(help="Range end (default now).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted collection "
                                                       "from OUTPUT.resume.json.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Start again over an unfinished "
                                                             "collection.")]
Profile = Annotated[str | None, typer.Option(help="AWS profile (standard credential chain "
                                                  "otherwise).")]
Region = Annotated[str | None, typer.Option(help="AWS region (default: profile or AWS_REGION).")]
Endpoint = Annotated[str | None, typer.Option(
    "--endpoint-url", help="Endpoint for every AWS service called (emulators); per service: "
                           "AWS_ENDPOINT_URL_LOGS, AWS_ENDPOINT_URL_XRAY, ...")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _interrupted(output: Path, subcommand: str, target: Any, what: str) -> typer.Exit:
    """After Ctrl-C: say what was kept and the exact command that resumes (exit 130)."""
    from rich import filesize

    from lifecycle_trace.collect.output import load_state

    state = load_state(output)
    if state is None:
        _say(f"interrupted before anything was written to {output}")
        return typer.Exit(130)
    totals = state.totals
    kept = totals.get(what, 0)
    size = filesize.decimal(int(totals.get("bytes", 0)))
    command = shlex.join(["lctrace", "collect", subcommand, "-o", str(output), "--resume",
                          *target.cli_options()])
    _say(f"interrupted: kept {kept:,} {what} ({size}) in {output}")
    _say(f"resume with: {command}")
    return typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add the `collect` sub-app (`logs`, `traces`) to the app."""
    collect_app = typer.Typer(
        name="collect",
        help="Fetch Lambda logs and X-Ray traces from AWS into files `lctrace analyze` reads.",
        no_args_is_help=True,
    )
    app.add_typer(collect_app, name="collect")

    @collect_app.command("logs")
    def logs(
        output: Output,
        function: Function = None,
        log_group: Annotated[str | None, typer.Option("--log-group", "-g",
                                                      help="Log group name or ARN.")] = None,
        since: Since = None,
        start: Start = None,
        end: End = None,
        filter_pattern: Annotated[str | None, typer.Option(
            help="CloudWatch Logs filter pattern (FilterLogEvents only).")] = None,
        insights: Annotated[bool, typer.Option(
            "--insights", help="Run a Logs Insights query that keeps only lifecycle lines "
                               "(for groups too large to download).")] = False,
        page_size: Annotated[int | None, typer.Option(
            min=1, max=10000, help="Events per FilterLogEvents call (default: AWS's).")] = None,
        resume: Resume = False,
        overwrite: Overwrite = False,
        profile: Profile = None,
        region: Region = None,
        endpoint_url: Endpoint = None,
        quiet: Quiet = False,
    ) -> None:
        """CloudWatch Logs to JSONL (every stream, every page); --insights: Insights rows."""
        from lifecycle_trace.collect.output import load_state

        state = load_state(output) if resume else None
        kind = state.kind if state else ("insights" if insights else "logs")
        _collect(kind, output, function=function, log_group=log_group, since=since,
                 start=start, end=end, filter_pattern=filter_pattern, page_size=page_size,
                 resume=resume, overwrite=overwrite, profile=profile, region=region,
                 endpoint_url=endpoint_url, quiet=quiet)

    @collect_app.command("traces")
    def traces(
        output: Output,
        function: Function = None,
        since: Since = None,
        start: Start = None,
        end: End = None,
        filter_expression: Annotated[str | None, typer.Option(
            help="X-Ray filter expression (default: the function's node); '' sends none "
                 "(traces are still checked to contain the function).")] = None,
        resume: Resume = False,
        overwrite: Overwrite = False,
        profile: Profile = None,
        region: Region = None,
        endpoint_url: Endpoint = None,
        quiet: Quiet = False,
    ) -> None:
        """X-Ray traces of one function (GetTraceSummaries, then BatchGetTraces) to JSON lines."""
        _collect("traces", output, function=function, since=since, start=start, end=end,
                 filter_expression=filter_expression, resume=resume, overwrite=overwrite,
                 profile=profile, region=region, endpoint_url=endpoint_url, quiet=quiet)


def _collect(kind: str, output: Path, *, function: str | None, since: str | None,
             start: str | None, end: str | None, resume: bool, overwrite: bool,
             profile: str | None, region: str | None, endpoint_url: str | None, quiet: bool,
             log_group: str | None = None, filter_pattern: str | None = None,
             page_size: int | None = None, filter_expression: str | None = None) -> None:
    from lifecycle_trace.collect import cache, insights, logs, traces
    from lifecycle_trace.collect.errors import aws_errors
    from lifecycle_trace.collect.output import load_state
    from lifecycle_trace.collect.progress import progress_bar
    from lifecycle_trace.collect.resolve import missing_group_message, resolve_function_log_group
    from lifecycle_trace.collect.session import AwsTarget, make_client, make_session
    from lifecycle_trace.collect.timerange import resolve_range
    from lifecycle_trace.errors import ConfigError

    if resume and (since or start or end):
        raise ConfigError("--resume continues the saved time range: drop --since/--start/--end")
    if not resume and kind != "traces" and bool(function) == bool(log_group):
        raise ConfigError("give exactly one of --function or --log-group")
    if kind == "insights" and (filter_pattern or page_size):
        raise ConfigError("--filter-pattern and --page-size apply to FilterLogEvents, not "
                          "--insights (the query selects the lines)")
    if not resume and kind == "traces" and not function:
        raise ConfigError("collect traces needs --function")
    window = None if resume else resolve_range(since, start, end)
    target = AwsTarget(profile, region, endpoint_url)
    session = make_session(target)
    found = None
    if function and kind != "traces":
        with aws_errors(f"function {function}", profile=profile):
            found = resolve_function_log_group(make_client("lambda", target, session=session),
                                               function)
        log_group = found.log_group
    if resume:  # name the saved target in messages (the sidecar holds the query)
        saved = load_state(output)
        saved_query = saved.query if saved else {}
        log_group = log_group or saved_query.get("log_group") or next(
            iter(saved_query.get("log_groups") or []), None)
        function = function or saved_query.get("function")
    client = make_client("xray" if kind == "traces" else "logs", target, session=session)
    query: Any
    if kind == "logs":
        collect, noun = logs.collect_logs_to_file, "events"
        pattern = found.stream_pattern if found else None
        query = (logs.LogsQuery(log_group, window.start_ms, window.end_ms, filter_pattern,
                                pattern)
                 if window else ({"log_group": log_group} if log_group else None))
    elif kind == "insights":
        collect, noun = insights.collect_insights_to_file, "rows"
        query = (insights.InsightsQuery([log_group], window.start_ms // 1000,
                                        -(-window.end_ms // 1000),
                                        stream_pattern=found.stream_pattern if found else None)
                 if window else ({"log_groups": [log_group]} if log_group else None))
    else:
        collect, noun = traces.collect_traces_to_file, "traces"
        expression = traces.DEFAULT if filter_expression is None else (filter_expression or None)
        query = (traces.TracesQuery(function, window.start_ms, window.end_ms, expression)
                 if window else ({"function": function} if function else None))
    subject = f"X-Ray traces of {function}" if kind == "traces" else f"log group {log_group}"
    not_found = missing_group_message(log_group or "?", session.region_name, found)
    extra = {"page_size": page_size} if kind == "logs" else {}
    with progress_bar(f"{kind} {output.name}", enabled=not quiet) as progress:
        try:
            stats = cache.run_collection(
                lambda *a, **k: collect(*a, **k, **extra), client, output, query,
                target=target, described=subject, not_found=not_found, resume=resume,
                overwrite=overwrite, progress=progress)
        except KeyboardInterrupt:
            raise _interrupted(output, "traces" if kind == "traces" else "logs", target,
                               noun) from None
    _summarise(kind, stats, output)


def _summarise(kind: str, stats: Any, output: Path) -> None:
    """One line on what was written; a range with nothing in it is said plainly (exit 0)."""
    from rich import filesize

    from lifecycle_trace.collect.timerange import TimeRange

    size = filesize.decimal(stats.bytes)
    if kind == "traces":
        span = TimeRange(stats.start_ms, stats.end_ms).describe()
        if not stats.traces:
            _say(f"X-Ray has no traces of {stats.function} from {span}; wrote an empty {output}")
            _say("  (X-Ray keeps traces 30 days; the function needs active tracing; with "
                 "CloudWatch Transaction Search on, spans are in the aws/spans log group)")
            return
        left = f"; {len(stats.unprocessed)} ids X-Ray left unprocessed" if stats.unprocessed \
            else ""
        _say(f"wrote {stats.traces:,} traces ({stats.segments:,} segments, {size}) to "
             f"{output}{left}")
        return
    if kind == "insights":
        span = TimeRange(stats.start_s * 1000, stats.end_s * 1000).describe()
        if not stats.rows:
            _say(f"no lifecycle lines in {', '.join(stats.log_groups)} from {span}; wrote an "
                 f"empty {output}")
            return
        cut = (f"; {len(stats.truncated_windows)} one-second windows hit the row limit "
               "(rows may be missing)") if stats.truncated_windows else ""
        _say(f"wrote {stats.rows:,} rows from {stats.queries} Insights queries ({size}) to "
             f"{output}{cut}")
        return
    span = TimeRange(stats.start_ms, stats.end_ms).describe()
    if not stats.events:
        _say(f"no log events in {stats.log_group} from {span}; wrote an empty {output}")
        return
    others = (f"; left out {stats.other_streams:,} events of other functions sharing the "
              "log group") if stats.other_streams else ""
    _say(f"wrote {stats.events:,} events from {len(stats.streams):,} streams ({size}) to "
         f"{output}{others}")
