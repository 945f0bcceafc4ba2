"""Engines that run the analysis somewhere other than this process.

`analyze_dask(paths, scheduler=..., n_workers=..., **options) -> Report` (`engine.dask`) runs it
on a Dask cluster; `engine.partition` is the engine-neutral split (per-stream work per partition,
global steps once), `engine.quoting` picks the evidence partitions send, `engine.transport`
packs their tables, and `engine.remote` expands and opens globs and fsspec URLs (`s3://`).
Nothing here is imported by `lifecycle_trace` itself; dask is imported only when used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lifecycle_trace.errors import ConfigError

if TYPE_CHECKING:
    from lifecycle_trace.analysis.model import Report

__all__ = ["ENGINES", "analyze_dask", "runner"]

ENGINES = ("local", "dask")
"""`--engine` values: `local` (this process) and `dask` (a Dask cluster)."""


def analyze_dask(paths: Any, **options: Any) -> Report:
    """Analyse on Dask; see `lifecycle_trace.engine.dask.analyze_dask`."""
    from lifecycle_trace.engine.dask import analyze_dask as run

    return run(paths, **options)


def runner(engine: str, scheduler: str | None,
           local: Callable[..., Report]) -> Callable[..., Report]:
    """The `analyze`-shaped function for `--engine`/`--scheduler` (`local` for `local`)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "local":
        if scheduler:
            raise ConfigError("--scheduler needs --engine dask")
        return local
    return functools.partial(analyze_dask, scheduler=scheduler)
