"""The typer application: thin commands over one library call each (see STYLE.md)."""

from __future__ import annotations

import sys

import typer

from lifecycle_trace.errors import LifecycleTraceError

app = typer.Typer(
    name="lctrace",
    help="Why was this Lambda slow, what did it cost, and why did it hang?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach each command module's commands; each module owns its own options."""
    from lifecycle_trace.cli import analyze

    analyze.register(app)
    try:
        from lifecycle_trace.cli import collect
    except ImportError:  # pragma: no cover - collect lands with its own issue
        pass
    else:
        collect.register(app)

    @app.command(
        "wrap",
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": ["-h", "--help"],
        },
    )
    def wrap(ctx: typer.Context) -> None:
        """Run a Lambda runtime bootstrap behind the tracing Runtime-API proxy:
        `lctrace wrap -- ./bootstrap [ARGS...]`."""
        from lifecycle_trace.runtime.wrapper import main as wrap_main

        raise typer.Exit(wrap_main(list(ctx.args)))


_register()


def run(args: list[str]) -> None:
    """Run the app; turn lctrace's own errors into one line on stderr and their exit code."""
    try:
        app(args=args, prog_name="lctrace", standalone_mode=True)
    except LifecycleTraceError as error:
        print(f"lctrace: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
