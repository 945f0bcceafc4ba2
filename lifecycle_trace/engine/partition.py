"""Partitioned analysis: the per-environment work per partition, the global rest once.

The single-process analysis (`analysis.merge.merge_records`) works per environment (log stream)
and joins records by request id. So a set of files is a valid partition when every environment
and every request id it holds is held by no other partition: `plan_components` finds the
smallest such sets (files linked by a shared stream or request id; an S3 export gives one per
stream), `pack` groups them into partitions of a useful size.

`reduce_partition` runs `merge_records` on one partition's records (in input order, with
`seq` renumbered to the whole input's positions) and keeps only what the global steps read: the
merged invocations (one row per invocation), per stream the few events `started_in_export` and
the environments table need (first, earliest per file, latest), init records no invocation
followed, stuck markers, the merge's per-stream extras, and the records that may be quoted as
evidence (`quoting`). `combine` concatenates the parts in the order a single process would have
produced them and `finish` runs `analysis.model.analyze_merged` on the result (cold-start
causes need every stream of a function; pricing needs the total GB-seconds). The report is the
single-process one, value for value.

The contract with the analysis: after the merge it may read `Merged.events` only for per-stream
first/earliest/latest facts, and `Merged.frames` only to quote the records of a finding's
invocations (`analysis.evidence`) and the stuck markers. The equality tests guard it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lifecycle_trace.analysis.evidence import EVIDENCE_KINDS
from lifecycle_trace.analysis.merge import INIT_KINDS, Merged, merge_records, reduced_events
from lifecycle_trace.engine import quoting
from lifecycle_trace.engine.transport import Shipped, ship, unship
from lifecycle_trace.ingest.base import ParsedSource, SourceStats

if TYPE_CHECKING:
    from lifecycle_trace.analysis.model import Report

INSTANCE_RE = re.compile(r'"instance"\s*:\s*"([^"]+)"')
"""A wrapper marker's `instance` (log stream): the merge joins an RIE stand-in stream to it."""
BUILT = frozenset({"frames", "events", "invocations", "orphans", "started_in_export",
                   "owner_codes"})
"""`Merged` fields `combine` rebuilds itself (or leaves unset: owner codes are a partition's
own numbering); any other field is a per-stream extra."""
KEEP_WHOLE = ("StuckMarker",)
"""Record types every partition ships in full (few, and read across request ids)."""
_ORDER = ("_lc_streamless", "_lc_env_first", "_lc_pos")


@dataclass
class FileKeys:
    """What the planner needs from one parsed file: its stats, its streams and (hashed) request
    ids. `environments` uses the analysis's own fallback (`source:<path>`) for records with none,
    and adds the streams the wrapper's markers name (the merge may join the file's to them)."""

    stats: SourceStats
    records: int
    environments: list[str]
    request_hashes: np.ndarray


def file_keys(parsed: ParsedSource) -> FileKeys:
    """Summarise one parsed file (runs where the file was parsed; only this travels)."""
    envs: dict[str, None] = {}
    rids: dict[str, None] = {}
    for record in parsed.records:
        env = getattr(record, "environment", None)
        envs[env if env is not None else f"source:{getattr(record, 'source', '')}"] = None
        rid = getattr(record, "request_id", None)
        if rid:
            rids[rid] = None
        if type(record).__name__ == "StuckMarker":  # a stand-in stream joins the one it names
            envs.update(dict.fromkeys(INSTANCE_RE.findall(getattr(record, "text", "") or "")))
    hashes = pd.util.hash_array(np.asarray(list(rids), dtype=object)) if rids else np.array(
        [], dtype=np.uint64)
    return FileKeys(parsed.stats, len(parsed.records), list(envs), np.unique(hashes))


def plan_components(keys: list[FileKeys]) -> list[list[int]]:
    """Groups of file indexes that share no stream and no request id with any other group,
    each sorted, in order of their first file. Files without records stand alone."""
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    owner: dict[str, int] = {}
    for index, key in enumerate(keys):
        for env in key.environments:
            union(index, owner.setdefault(env, index))
    if keys:
        hashes = np.concatenate([k.request_hashes for k in keys])
        files = np.concatenate([np.full(len(k.request_hashes), i) for i, k in enumerate(keys)])
        order = np.argsort(hashes, kind="stable")
        hashes, files = hashes[order], files[order]
        for at in np.flatnonzero(hashes[1:] == hashes[:-1]):  # a hash collision only merges
            union(int(files[at]), int(files[at + 1]))
    groups: dict[int, list[int]] = {}
    for index in range(len(keys)):
        groups.setdefault(find(index), []).append(index)
    return [groups[root] for root in sorted(groups)]


def pack(components: list[list[int]], sizes: list[int], target: int) -> list[list[int]]:
    """Components (kept whole, in order) packed into partitions of about `target` records."""
    batches: list[list[int]] = []
    current: list[int] = []
    count = 0
    for component in components:
        current.extend(component)
        count += sum(sizes[i] for i in component)
        if count >= target:
            batches.append(sorted(current))
            current, count = [], 0
    if current:
        batches.append(sorted(current))
    return batches


@dataclass
class Part:
    """One partition's share of the merge, with the keys that restore global order."""

    invocations: Shipped
    events: pd.DataFrame
    orphans: pd.DataFrame
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    quoted: set[str] = field(default_factory=set)
    extras: dict[str, object] = field(default_factory=dict)  # Merged's per-stream extras


def _remap(frame: pd.DataFrame, to_global: np.ndarray) -> None:
    if len(frame) and "seq" in frame:
        frame["seq"] = to_global[frame["seq"].to_numpy()]


def reduce_partition(sources: list[ParsedSource], offsets: list[int],
                     quote: set[str] | None = None) -> Part:
    """Merge one partition's records and keep the small tables (see the module docstring).
    `offsets[i]` is the position of `sources[i]`'s first record in the whole input; `quote`
    adds invocations whose records to send as evidence (the driver's second round)."""
    records = [record for source in sources for record in source.records]
    to_global = np.concatenate(
        [np.arange(offset, offset + len(s.records), dtype=np.int64)
         for s, offset in zip(sources, offsets, strict=True)] or [np.array([], dtype=np.int64)])
    merged = merge_records(records, keep_events=True)
    for frame in merged.frames.values():
        _remap(frame, to_global)
    _remap(merged.events, to_global)
    _remap(merged.orphans, to_global)
    events = merged.events
    env_first = events.groupby("env", sort=False)["seq"].transform("min")
    events = events.assign(_lc_env_first=env_first.to_numpy(), _lc_pos=np.arange(len(events)))
    invocations = _ordered_invocations(merged.invocations, events)
    quoted = quoting.candidates(merged.invocations) | (quote or set())
    frames = {}
    for kind, frame in merged.frames.items():
        if kind in KEEP_WHOLE:
            frames[kind] = frame
        elif kind in EVIDENCE_KINDS:
            frames[kind] = frame.loc[frame["owner"].isin(quoted)]
    extras = {f.name: getattr(merged, f.name) for f in fields(Merged) if f.name not in BUILT}
    return Part(ship(invocations), reduced_events(events), merged.orphans, frames, quoted,
                extras)


def _ordered_invocations(invocations: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Invocations with keys that restore the single-process row order across partitions.

    The merge numbers invocations in event order (stream by stream), those known only from
    records without a stream (`real_env` false) after the rest. Within a partition that order
    is already right; across partitions a stream's place is its first record's position. So an
    invocation sorts by (stream-less, first position of its stream, row in its partition)."""
    carries = events["request_id"].notna().to_numpy() & events["owner"].notna().to_numpy()
    real = events["real_env"].to_numpy(dtype=bool) if "real_env" in events else np.ones(
        len(events), dtype=bool)
    owned = pd.DataFrame({"owner": events["owner"].to_numpy(), "real": real,
                          "env_first": events["_lc_env_first"].to_numpy()}).loc[carries]
    first_real = owned.loc[owned["real"]].drop_duplicates("owner").set_index("owner")
    first_any = owned.drop_duplicates("owner").set_index("owner")
    env_first = first_real["env_first"].reindex(invocations.index)
    out = invocations.copy()
    out[_ORDER[0]] = env_first.isna().to_numpy()
    out[_ORDER[1]] = env_first.fillna(first_any["env_first"].reindex(invocations.index)
                                      ).to_numpy()
    out[_ORDER[2]] = np.arange(len(out))
    return out


def concat_like_one(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames built separately into what one frame built from all the rows would
    have been: a column missing or all-null in a part takes the other parts' dtype (as a left
    join or list inference would give; object columns keep each part's own nulls), so values
    *and* dtypes match the single-process run."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return pd.DataFrame()
    columns: dict[str, None] = {}
    for part in parts:
        columns.update(dict.fromkeys(part.columns))
    index = parts[0].index.append([p.index for p in parts[1:]]) if len(parts) > 1 else \
        parts[0].index
    same = [c for c in columns
            if all(c in p and p[c].dtype == parts[0][c].dtype for p in parts)]
    out = pd.concat([p[same] for p in parts], ignore_index=True)
    for column in columns:
        if column in same:
            continue
        real = [p[column] for p in parts if column in p and p[column].notna().any()]
        template = real[0] if real else next(p[column] for p in parts if column in p)
        pieces = []
        for part in parts:
            has = column in part and (not real or part[column].notna().any())
            piece = part[column] if has else template.iloc[:0].reindex(range(len(part)))
            pieces.append(piece.reset_index(drop=True))
        joined = pd.concat(pieces, ignore_index=True)
        if joined.dtype == object:  # no dtype to restore: keep each part's own nulls (None)
            joined = pd.concat([part[column].reset_index(drop=True) if column in part else piece
                                for part, piece in zip(parts, pieces, strict=True)],
                               ignore_index=True)
        out[column] = joined
    out = out[list(columns)]
    out.index = index
    return out


def combine(parts: list[Part]) -> Merged:
    """The parts as the `Merged` a single process would have built (rows in its order)."""
    if not parts:
        return merge_records([])
    inv = concat_like_one([unship(p.invocations) for p in parts])
    inv = inv.sort_values(list(_ORDER), kind="stable").drop(columns=list(_ORDER))
    events = concat_like_one([p.events for p in parts])
    events = events.sort_values(list(_ORDER[1:]), kind="stable").drop(columns=list(_ORDER[1:]))
    events = events.reset_index(drop=True)
    events["env_code"] = pd.factorize(events["env"])[0]
    kinds: dict[str, None] = {}
    for part in parts:
        kinds.update(dict.fromkeys(part.frames))
    frames = {}
    for kind in kinds:
        frame = concat_like_one([p.frames[kind] for p in parts if kind in p.frames])
        frames[kind] = frame.sort_values("seq", kind="stable").reset_index(drop=True)
    orphans = concat_like_one([p.orphans for p in parts if len(p.orphans)])
    if len(orphans):
        rank = orphans["kind"].map({k: i for i, k in enumerate(INIT_KINDS)})
        orphans = orphans.assign(_lc_rank=rank).sort_values(["_lc_rank", "seq"], kind="stable")
        orphans = orphans.drop(columns="_lc_rank").reset_index(drop=True)
    extras = {name: _combine_extra(name, [p.extras.get(name) for p in parts])
              for name in dict.fromkeys(n for p in parts for n in p.extras)}
    return Merged(frames=frames, events=events, invocations=inv, orphans=orphans, **extras)


def _combine_extra(name: str, values: list[object]) -> object:
    """Merge's other outputs are per stream (a stream is in one part): maps are unioned."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        return {k: v for value in present for k, v in value.items()}  # type: ignore[union-attr]
    if all(isinstance(v, pd.Series) for v in present):
        joined = pd.concat([v for v in present if len(v)]) if any(len(v) for v in present) \
            else present[0]
        return joined[~joined.index.duplicated()]
    raise TypeError(f"Merged.{name}: the engine does not know how to combine "
                    f"{type(present[0]).__name__} values from partitions")


def finish(parts: list[Part], sources: list[SourceStats], options: dict[str, Any],
           refetch: Callable[[list[int], set[str]], list[Part]]) -> Report:
    """The driver's end: combine the parts and run the global steps. When a finding quotes an
    invocation whose records no part sent, `refetch(part_indexes, keys)` re-reduces those
    partitions sending them too, and the steps run again (rare: see `quoting`)."""
    from lifecycle_trace.analysis.model import analyze_merged

    report = analyze_merged(combine(parts), sources=sources, consume=True, **options)
    sent = set().union(*(part.quoted for part in parts))
    missing = quoting.needed(report.findings, report.invocations) - sent
    if not missing:
        return report
    redo = [i for i, part in enumerate(parts) if missing & set(part.invocations.data.index)]
    parts = list(parts)
    for index, part in zip(redo, refetch(redo, missing), strict=True):
        parts[index] = part
    return analyze_merged(combine(parts), sources=sources, consume=True, **options)
