"""Several inputs (a directory of exports, files named together) with the ingest fast path.

Each input is read as `read_sources` would (directories expanded, a file of no known format in
a directory kept as an "unknown" source): the exports the fast path takes become columns
directly, the others are read the general way, and their columns are put end to end in input
order with one running `seq`, exactly as the general path numbers the records of all sources.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from lifecycle_trace.ingest.base import ParsedSource, SourceStats


def read_inputs(paths: Sequence[str | os.PathLike], input_format: str | None
                ) -> tuple[dict[str, dict[str, object]], list[SourceStats]] | None:
    """(per-type columns, stats per source) of every input, or None when no input takes the
    fast path (the caller then reads them all the general way)."""
    from lifecycle_trace.analysis.frames import CODE_COLUMNS, records_to_columns
    from lifecycle_trace.errors import InputFormatError
    from lifecycle_trace.ingest import _check_format, expand_paths, read_source
    from lifecycle_trace.ingest.fastpath import candidate, read_fast

    _check_format(input_format)
    expanded = expand_paths(paths)
    if not any(candidate(path, input_format) for path, _ in expanded):
        return None  # nothing for the fast path: the general path reads them, once
    stats: list[SourceStats] = []
    parts: dict[str, list[dict[str, object]]] = {}
    first_seen: dict[str, int] = {}
    offset = 0
    fast_any = False
    for path, from_directory in expanded:
        found = read_fast(path, input_format)
        if found is not None:
            source_stats, columns, count = found
            fast_any = True
            typed = [(name, {**data, "seq": np.asarray(data["seq"]) + offset})
                     for name, data in columns.items()]
        else:
            try:
                parsed = read_source(path, input_format=input_format)
            except InputFormatError as error:
                if not from_directory:
                    raise
                unknown = SourceStats(path=path, format="unknown")
                unknown.skip(0, str(error).removeprefix(f"{path}: "))
                parsed = ParsedSource(stats=unknown)
            source_stats, count = parsed.stats, len(parsed.records)
            typed = list(records_to_columns(parsed.records, offset))
            parsed.records = []
        for name, data in typed:
            parts.setdefault(name, []).append(data)
            first_seen[name] = min(first_seen.get(name, offset + count),
                                   int(data["seq"][0]) if len(data["seq"]) else offset)
        stats.append(source_stats)
        offset += count
    if not fast_any:
        return None
    if len(stats) > 1:  # request-id and stream codes are numbered per input: not comparable
        for pieces in parts.values():
            for piece in pieces:
                for name in CODE_COLUMNS:
                    piece.pop(name, None)
    order = sorted(parts, key=lambda name: -first_seen[name])  # as records_to_frames orders
    return {name: _joined(parts.pop(name)) for name in order}, stats


def _joined(pieces: list[dict[str, object]]) -> dict[str, object]:
    """One type's columns from several sources, end to end (already in `seq` order)."""
    from lifecycle_trace.ingest.fastpath import _combine

    if len(pieces) == 1:
        return pieces[0]
    return {name: _combine([piece[name] for piece in pieces], None) for name in pieces[0]}
