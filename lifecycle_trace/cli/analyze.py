"""`lctrace analyze FILE...`: read logs (and traces) and report on the lifecycle."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `analyze` command to the app."""

    @app.command("analyze")
    def analyze(
        paths: Annotated[list[str], typer.Argument(help="Files, directories or '-' for stdin.")],
        input_format: Annotated[
            str | None,
            typer.Option("--input-format", help="Skip detection and read every input as this."),
        ] = None,
    ) -> None:
        """Read Lambda logs in any format AWS produces and count what they hold."""
        from lifecycle_trace.ingest import read_sources
        from lifecycle_trace.records import Start

        for parsed in read_sources(paths, input_format=input_format):
            stats = parsed.stats
            kinds = Counter(type(record).__name__ for record in parsed.records)
            invocations = len({r.request_id for r in parsed.records if isinstance(r, Start)})
            typer.echo(
                f"{stats.path}: {stats.format}: {stats.records} records, "
                f"{stats.skipped} skipped, {invocations} invocations "
                + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
            )
            for error in stats.errors:
                typer.echo(f"  {error}", err=True)
