"""`lctrace analyze FILE...`: read logs (and traces) and report on the lifecycle.

A thin wrapper over `lifecycle_trace.analysis.analyze` and `lifecycle_trace.report.render`.
Exit codes: 0 report written, 1 `--fail-on` matched a finding, 2 bad input or option.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lifecycle_trace import schema
from lifecycle_trace.errors import ConfigError

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


def register(app: typer.Typer) -> None:
    """Add the `analyze` command to the app."""

    @app.command("analyze")
    def analyze(
        paths: Annotated[list[str], typer.Argument(help="Files, directories or '-' for stdin.")],
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
            str | None, typer.Option("--function", help="Only this function.")
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
    ) -> None:
        """Cold starts, billing windows and stuck runtimes from Lambda logs in any format AWS
        produces (and lctrace traces).

        Exit status: 0 report written, 1 a --fail-on kind was found, 2 bad input or option."""
        from lifecycle_trace.analysis import analyze as run
        from lifecycle_trace.report import render

        if output_format not in FORMATS:
            raise ConfigError(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
        gate = parse_fail_on(fail_on)
        report = run(paths, input_format=input_format, function=function, arch=arch,
                     region=region, price_per_gb_second=price_per_gb_second)
        to_terminal = output is None and sys.stdout.isatty()
        width = None
        if to_terminal:
            import shutil

            width = shutil.get_terminal_size((120, 40)).columns
        text = render(report, output_format, invocations=invocations, width=width,
                      color=to_terminal)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
        for source in report.sources:
            for error in source.errors:
                typer.echo(f"lctrace: skipped {error}", err=True)
        hits = [f for f in report.findings if gate & {f.kind, *f.related_kinds}]
        if hits:
            kinds = sorted({f.kind for f in hits})
            typer.echo(f"lctrace: --fail-on matched {len(hits)} finding(s): {', '.join(kinds)}",
                       err=True)
            raise typer.Exit(1)
