"""`lctrace analyze FILE...`: read logs (and traces) and report on the lifecycle.

A thin wrapper over `lifecycle_trace.analysis.analyze` and `lifecycle_trace.report.render`.
Exit codes: 0 report written, 1 `--fail-on` matched a finding, 2 bad input or option.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle_trace import schema
from lifecycle_trace.errors import ConfigError

if TYPE_CHECKING:
    from lifecycle_trace.analysis.model import Report

FORMATS = ("table", "json", "csv", "markdown", "html", "otlp")


def parse_fail_on(value: str | None) -> set[str]:
    """`timeout,never_polled` -> the set, rejecting unknown kinds with the vocabulary."""
    if not value:
        return set()
    kinds = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(kinds - set(schema.FINDING_KINDS))
    if unknown:
        raise ConfigError(f"--fail-on {','.join(unknown)}: expected finding kinds from "
                          f"{', '.join(schema.FINDING_KINDS)}")
    return kinds


def write_json(report: Report, output: Path | None, invocations: bool) -> None:
    """`render(report, "json")` written to `output` (None: stdout) as it is made."""
    if output is None:
        report.write_json(sys.stdout, invocations=invocations)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    with output.open("w", encoding="utf-8") as out:
        report.write_json(out, invocations=invocations)
        out.write("\n")


def register(app: typer.Typer) -> None:
    """Add the `analyze` command to the app."""

    @app.command("analyze")
    def analyze(
        paths: Annotated[
            list[str] | None,
            typer.Argument(help="Files, directories or '-' for stdin (optional with --since/"
                                "--start: then what was collected from AWS is analysed)."),
        ] = None,
        output_format: Annotated[
            str, typer.Option("--format", "-f", help="table, json, csv, markdown, html, otlp.")
        ] = "table",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
        ] = None,
        invocations: Annotated[
            bool, typer.Option("--invocations", help="Add per-invocation rows (json, markdown).")
        ] = False,
        fail_on: Annotated[
            str | None,
            typer.Option("--fail-on", metavar="KIND[,KIND]",
                         help="Exit 1 when a finding of these kinds exists (CI gate)."),
        ] = None,
        function: Annotated[
            str | None,
            typer.Option("--function", help="Only this function (with --since/--start: the "
                                            "function to collect, name or ARN)."),
        ] = None,
        arch: Annotated[
            str, typer.Option("--arch", help="Price as x86_64 or arm64.")
        ] = "x86_64",
        region: Annotated[
            str | None,
            typer.Option("--region", help="Price for this region (default: from the runtime "
                                          "ARN in the logs, else us-east-1)."),
        ] = None,
        price_per_gb_second: Annotated[
            float | None,
            typer.Option("--price-per-gb-second", help="Override the GB-second price (flat)."),
        ] = None,
        input_format: Annotated[
            str | None,
            typer.Option("--input-format", help="Skip detection and read every input as this."),
        ] = None,
        engine: Annotated[
            str, typer.Option("--engine", help="local (this process) or dask (a Dask cluster; "
                                               "also reads globs and s3:// URLs).")
        ] = "local",
        scheduler: Annotated[
            str | None,
            typer.Option("--scheduler", metavar="ADDRESS",
                         help="Dask scheduler (tcp://HOST:PORT) for --engine dask; default: a "
                              "local cluster."),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option("--since", help="Collect the --function's logs of this long ago to now "
                                         "(2h, 30m, 1d) into the cache, then analyse them."),
        ] = None,
        start: Annotated[
            str | None,
            typer.Option("--start", help="Collect from this instant (ISO-8601, epoch s/ms)."),
        ] = None,
        end: Annotated[
            str | None, typer.Option("--end", help="Collect up to this instant (default now).")
        ] = None,
        profile: Annotated[
            str | None, typer.Option("--profile", help="AWS profile to collect with.")
        ] = None,
        endpoint_url: Annotated[
            str | None,
            typer.Option("--endpoint-url", help="Endpoint for every AWS service called "
                                                "(emulators)."),
        ] = None,
        traces: Annotated[
            bool, typer.Option("--traces", help="Collect the function's X-Ray traces too.")
        ] = False,
        insights: Annotated[
            bool, typer.Option("--insights", help="Collect with a Logs Insights query "
                                                  "(lifecycle lines only) instead.")
        ] = False,
    ) -> None:
        """Cold starts, billing windows and stuck runtimes from Lambda logs in any format AWS
        produces (and lctrace traces).

        Exit status: 0 report written, 1 a --fail-on kind was found, 2 bad input or option."""
        from lifecycle_trace.analysis import analyze as run
        from lifecycle_trace.report import render

        if output_format not in FORMATS:
            raise ConfigError(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
        gate = parse_fail_on(fail_on)
        from lifecycle_trace.engine import runner

        run = runner(engine, scheduler, run)  # --engine dask: on a Dask cluster
        paths = list(paths or [])
        if since or start or end:
            if not function:
                raise ConfigError("--since/--start/--end collect from AWS first and need "
                                  "--function")
            from lifecycle_trace.collect import fetch_to_cache
            from lifecycle_trace.collect.resolve import function_name

            paths += [str(path) for path in fetch_to_cache(
                function=function, since=since, start=start, end=end, region=region,
                profile=profile, endpoint_url=endpoint_url, traces=traces, insights=insights,
                show_progress=sys.stderr.isatty())]
            function = function_name(function)  # an ARN filters the report by its name
        elif traces or insights or profile or endpoint_url:
            raise ConfigError("--traces/--insights/--profile/--endpoint-url collect from AWS: "
                              "add --since or --start (and --function)")
        if not paths:
            raise ConfigError("nothing to analyse: give files, or --function NAME --since 2h "
                              "to collect from AWS first")
        report = run(paths, input_format=input_format, function=function, arch=arch,
                     region=region, price_per_gb_second=price_per_gb_second)
        to_terminal = output is None and sys.stdout.isatty()
        width = None
        if to_terminal:
            import shutil

            width = shutil.get_terminal_size((120, 40)).columns
        if output_format == "json":  # (written in pieces: a large report is not held whole)
            write_json(report, output, invocations)
        else:
            text = render(report, output_format, invocations=invocations, width=width,
                          color=to_terminal)
            if output is None:
                typer.echo(text, nl=False)
            else:
                output.write_text(text, encoding="utf-8")
        for source in report.sources:
            for error in source.errors:
                typer.echo(f"lctrace: skipped {error}", err=True)
        if output_format == "otlp" and "start" in report.invocations:
            untimed = int(report.invocations["start"].isna().sum())
            if untimed:
                typer.echo(f"lctrace: {untimed} invocation(s) have no time in the input (RIE "
                           "stdout has none: add the wrapper's spans) and are not spans",
                           err=True)
        hits = [f for f in report.findings if gate & {f.kind, *f.related_kinds}]
        if hits:
            kinds = sorted({f.kind for f in hits})
            typer.echo(f"lctrace: --fail-on matched {len(hits)} finding(s): {', '.join(kinds)}",
                       err=True)
            raise typer.Exit(1)
