"""Scan one mapped export on every core: byte ranges split between events, one process each.

The ranges are cut where one event ends and the next begins (`fastscan.find_boundary`), scanned
in forked workers (they share the parent's mapping, nothing is copied in) and returned as
compact columns (numpy arrays, NUL-joined bytes), then put back in file order. Where fork is not
available, or the input is small, the ranges are scanned in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

# fastscan_lined (and numpy, pandas) imported here, before the workers fork: they inherit it
from lifecycle_trace.ingest import fastscan, fastscan_lined  # noqa: F401

_DATA = None  # the mapping the forked workers inherit
RANGES_PER_WORKER = 8
"""Ranges are handed out as workers get free: several per worker, so none waits long for the
last one (the machine may be busy with other work too)."""


def ranges(data, parts: int) -> list[tuple[int, int]]:
    """`parts` event-aligned byte ranges covering `data` (fewer when it is small)."""
    size = len(data)
    cuts = [0]
    for k in range(1, parts):
        cut = fastscan.find_boundary(data, max(size * k // parts, cuts[-1] + 1), size)
        if cut < size and cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _scan(bounds: tuple[int, int]) -> list[fastscan.Chunk]:
    start, end = bounds
    return fastscan.merge_chunks(fastscan.scan_range(_DATA, start, end,
                                                     at_file_start=start == 0,
                                                     at_file_end=end == len(_DATA)))


def workers_for(requested: int | None) -> int:
    """How many processes: `requested`, else one per core (at most 8)."""
    if requested:
        return max(1, requested)
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def scan_file(data, path: str, *, workers: int | None = None, parallel: bool = True,
              started: Callable[[], None] | None = None) -> list[fastscan.Chunk]:
    """Every chunk of the mapped file `data`, in file order (raises fastscan.Unsupported).
    `started` is called once the workers exist (before any scan when there are none): what
    it changes in this process is not inherited by them."""
    global _DATA
    count = workers_for(workers)
    use_fork = (parallel and count > 1 and "fork" in multiprocessing.get_all_start_methods()
                and not multiprocessing.current_process().daemon)  # daemons cannot fork
    bounds = ranges(data, count * RANGES_PER_WORKER if use_fork else 1)
    _DATA = data
    try:
        if use_fork and len(bounds) > 1:
            try:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
                    results = pool.map(_scan, bounds)  # forks the workers
                    if started is not None:
                        started()
                        started = None
                    return [chunk for part in results for chunk in part]
            except (OSError, BrokenProcessPool):  # no processes to be had: scan here
                pass
        if started is not None:
            started()
        return [chunk for part in map(_scan, bounds) for chunk in part]
    finally:
        _DATA = None
