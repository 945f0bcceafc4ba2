"""The `lctrace` console script.

`lctrace wrap -- CMD...` runs inside Lambda, on the cold-start path: it is dispatched here
without importing typer, rich or pandas. Every other command goes through the typer app in
`lifecycle_trace.cli.app`.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point: fast path for `wrap`, the typer app for everything else."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "wrap" and args[1:2] not in (["--help"], ["-h"]):
        from lifecycle_trace.runtime.wrapper import main as wrap_main

        sys.exit(wrap_main(args[1:]))
    from lifecycle_trace.cli.app import run

    run(args)
