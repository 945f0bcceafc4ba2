"""Engines that run the analysis somewhere other than this process.

`analyze_dask(paths, scheduler=..., n_workers=..., **options) -> Report` (`engine.dask`) runs it
on a Dask cluster; `engine.partition` is the engine-neutral split (per-stream work per partition,
global steps once) and `engine.remote` expands and opens globs and fsspec URLs (`s3://`).
Nothing here is imported by `lifecycle_trace` itself; dask is imported only when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["analyze_dask"]


def analyze_dask(paths: Any, **options: Any) -> Any:
    """Analyse on Dask; see `lifecycle_trace.engine.dask.analyze_dask`."""
    from lifecycle_trace.engine.dask import analyze_dask as run

    return run(paths, **options)
