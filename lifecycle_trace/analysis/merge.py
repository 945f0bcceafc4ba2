"""Merge records from every source into one row per invocation.

An invocation is a request id in an environment (log stream); a further `START` of the same id
after its `REPORT` is another, billed run (async retries), see `invocation_keys`.

Step 1 (`assign_owners`): every record gets the invocation it belongs to. Records with a request
id own themselves; init/restore records without one belong to the invocation that was open when
they were written (a suppressed init, re-run inside the invoke) or else to the next `START` in
the same environment (the invocation the init ran for); output and crash lines without an id go to
the open invocation, else to the most recent one.

Step 2 (`merge_invocations`): per record type, the first non-null value per owner, joined on
the invocation. Each value group keeps the source it came from (`*_source` columns and
`sources`, the dialects that described the invocation). Trace inputs (lctrace wrapper lines,
phase spans) join here by request id too, so adding a source means adding a block, not
rewriting the analysis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import pandas as pd

from lifecycle_trace import schema
from lifecycle_trace.analysis.evidence import EVIDENCE_KINDS
from lifecycle_trace.analysis.frames import (
    REQUEST_CODE,
    STREAM_CODE,
    LeftOut,
    by_first_appearance,
    events_of,
    finished_events,
    first_row_mask,
    is_broadcast,
    parse_streams,
    records_to_frames,
    text_codes,
)
from lifecycle_trace.records import LCTRACE, RIE

INIT_KINDS = ("InitStart", "InitReport", "InitRuntimeDone", "RestoreStart", "RestoreReport")
LATE_KINDS = ("RuntimeExit", "TimedOut", "PlatformNote")
INVOCATION_KINDS = (
    "Start",
    "End",
    "Report",
    "RuntimeDone",
    "TimedOut",
    "RuntimeExit",
    "WrapperInvocation",
    "StuckMarker",
    "PhaseSpan",
)
NAMED_OWNER_KINDS = frozenset((*EVIDENCE_KINDS, *INIT_KINDS))
"""Record types that get the `owner` key as a string (evidence and orphans read it); the others
keep only `owner_code`."""
INSTANCE_RE = re.compile(r'"instance"\s*:\s*"([^"]+)"')
"""The environment a wrapper line names (its `instance` field = the log stream name)."""
COUNTED_COLUMNS = frozenset(("seq", "timestamp_ms", "dialect"))
"""What the merge keeps of a record type that is not quoted (END lines, function output) once
owners are known: its time and dialect (for the invocation blocks), besides the owner.
Function output keeps only its owner: it is counted, and says nothing of its invocation's
sources (`INVOCATION_KINDS`) or times."""
PHASE_COLUMNS = {
    schema.SPAN_POLL_WAIT: "poll_wait_ms",
    schema.SPAN_HANDLER: "handler_ms",
    schema.SPAN_RESPONSE: "response_ms",
    schema.SPAN_POST_RESPONSE: "post_response_ms",
}


@dataclass
class Merged:
    """The merge result: typed frames of the record types that are quoted as evidence (with
    `owner`), the ordered events, one row per request id and the init/restore records that no
    invocation followed (`orphans`)."""

    frames: dict[str, pd.DataFrame]
    events: pd.DataFrame
    invocations: pd.DataFrame
    orphans: pd.DataFrame
    started_in_export: pd.Series | None = None  # per environment, set by the tables step
    joined_environments: dict[str, str] = field(default_factory=dict)  # stand-in -> real
    environment_functions: pd.Series | None = None  # env -> a function name a record gives
    owner_codes: np.ndarray | None = None  # each `invocations` row's owner code (`owner_code`)


def invocation_keys(events: pd.DataFrame, request_ids: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One key per invocation: request id + environment + occurrence.

    Lambda retries an async event with the same request id (up to twice), in the same or
    another environment, and each run is billed: a `START` of an id whose previous run in that
    stream already has its `REPORT` begins a new invocation. A second source describing the same
    run (text and JSON, logs and Telemetry) does not. Records without a stream (X-Ray, a file
    with no stream name) join the first invocation with their id.

    Request ids: `request_code` into `request_ids` when those are given (as `events_of`
    makes them), else the `request_id` column.

    Returns per-event key codes (-1 = no request id), the key strings (`<id>`, then `<id>#2`,
    ...) and each key's request id.
    """
    kind, env = events["kind"], events["env_code"].to_numpy(dtype=np.int64)
    # factorize first, then drop the empty id: comparing millions of objects to "" is slow
    if request_ids is None:
        rid_codes, request_ids = request_id_codes(events["request_id"])
    else:
        rid_codes = events["request_code"].to_numpy()  # (int32 or int64)
        request_ids = np.asarray(request_ids, dtype=object)
    empty = np.flatnonzero(request_ids == "")
    if len(empty):
        blank = int(empty[0])
        rid_codes = np.where(rid_codes == blank, -1, rid_codes - (rid_codes > blank))
        request_ids = np.delete(request_ids, blank)
    has_rid = rid_codes >= 0
    real = has_rid & events["real_env"].to_numpy(dtype=bool)
    is_start = kind.eq("Start").to_numpy()
    key_codes, key_rid, retried = _keys(rid_codes, env, real, is_start, kind,
                                        len(request_ids))
    loose = has_rid & ~real
    if loose.any():  # streamless records: the first key with their id, else a key of their own
        first_key = pd.Series(np.arange(len(key_rid))).groupby(key_rid).first()
        joined = np.array(first_key.reindex(rid_codes[loose]), dtype=float)
        own = np.isnan(joined)
        extra, extra_rids = pd.factorize(rid_codes[loose][own])
        joined[own] = len(key_rid) + extra
        key_codes[loose] = joined.astype(np.int64)
        key_rid = np.concatenate([key_rid, np.asarray(extra_rids, dtype=np.int64)])
    names = request_ids[key_rid]
    keys = np.array(names, dtype=object)  # a retry's later runs: `<id>#2`, `<id>#3`
    if retried or loose.any():
        nth = pd.Series(key_rid).groupby(key_rid, sort=False).cumcount().to_numpy() + 1
        again = np.flatnonzero(nth > 1)
        keys[again] = [f"{names[i]}#{nth[i]}" for i in again.tolist()]
    return key_codes, keys, names


def _keys(rid: np.ndarray, env: np.ndarray, real: np.ndarray, is_start: np.ndarray,
          kind: pd.Series, count: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(key code per record, -1 = none; each key's id code; whether an id has several keys).

    An id in one environment with no START after one of its REPORTs (the usual id) is one
    invocation: its key is the id. Only the records of the other ids (a retry, an id in two
    streams) go through the full rule (`_runs`). Keys are numbered in order of first
    appearance, as `_runs` numbers them over every record, by scatters on integer codes."""
    at = np.flatnonzero(real)
    ids = rid[at]
    env_of = np.full(count, -1, dtype=np.int64)
    env_of[ids] = env[at]
    bad = np.zeros(count, dtype=bool)  # ids the full rule works out
    bad[ids[env_of[ids] != env[at]]] = True
    starts, reports = at[is_start[at]], at[kind.eq("Report").to_numpy()[at]]
    last_start = np.full(count, -1, dtype=np.int64)
    last_start[rid[starts]] = starts  # positions rise: the last write is the last START
    first_report = np.full(count, len(rid), dtype=np.int64)
    first_report[rid[reports][::-1]] = reports[::-1]
    bad |= last_start > first_report
    key_codes = np.full(len(rid), -1, dtype=np.int32 if count < 2**31 else np.int64)
    if not bad.any():
        key_codes[at], key_rid = by_first_appearance(ids)
        return key_codes, key_rid, False
    labels = ids.astype(np.int64)  # an usual id's label: the id; a full-rule key's: count + key
    sub = np.flatnonzero((rid >= 0) & bad[np.maximum(rid, 0)])
    sub_codes, sub_rid = _runs(rid[sub], env[sub], real[sub], is_start[sub], kind.iloc[sub],
                               count)
    place = np.full(len(rid), -1, dtype=np.int64)
    place[at] = np.arange(len(at))
    keyed = sub_codes >= 0
    labels[place[sub[keyed]]] = count + sub_codes[keyed]
    key_codes[at], firsts = by_first_appearance(labels)
    key_rid = np.where(firsts < count, firsts, sub_rid[np.maximum(firsts - count, 0)])
    return key_codes, key_rid, True


def _runs(rid: np.ndarray, env: np.ndarray, real: np.ndarray, is_start: np.ndarray,
          kind: pd.Series, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(key code per record, -1 = none; each key's id code) by the full rule: per stream and
    id, a START whose previous bound is not a START opens a new run; other records join the run
    before them, else the next one."""
    group = env * (count + 1) + rid
    bounds = real & kind.isin(("Start", "Report")).to_numpy()
    sub = pd.DataFrame({"g": group[bounds], "start": is_start[bounds]})
    previous = sub.groupby("g", sort=False)["start"].shift(1)
    opens = sub["start"] & ~previous.fillna(False).astype(bool)
    runs = opens.astype(int).groupby(sub["g"], sort=False).cumsum().to_numpy()
    occurrence = np.full(len(rid), np.nan)
    occurrence[bounds] = runs
    by_group = pd.Series(occurrence).where(real).groupby(group)
    occurrence = by_group.ffill().fillna(by_group.bfill()).fillna(0).to_numpy()
    key64 = np.where(real, group * 1_000_003 + occurrence.astype(np.int64), -1)
    key_codes = np.full(len(rid), -1, dtype=np.int64)
    key_codes[real], uniques = pd.factorize(key64[real])
    key_rid = np.empty(len(uniques), dtype=np.int64)
    key_rid[key_codes[real]] = rid[real]
    return key_codes, key_rid


def request_id_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(per-row codes, -1 = none; the distinct ids): a categorical's own codes, else factorized."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return (np.asarray(values.cat.codes, dtype=np.int64),
                np.asarray(values.cat.categories, dtype=object))
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    return codes, np.asarray(uniques, dtype=object)


def assign_owners(events: pd.DataFrame, request_ids: np.ndarray | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Add `owner_code` (index into the returned invocation keys; -1 = no owner),
    `during_invoke` and `init_output` to `events`; also return each key's request id. Works on
    integer codes: grouping strings is slow."""
    kind = events["kind"]
    codes, keys, key_request_ids = invocation_keys(events, request_ids)
    has_rid = codes >= 0
    phase = events["phase"]
    # Records with an id own themselves; the others (init, output and crash lines without one,
    # the init span) are placed by position: only those rows are worked out (few, mostly).
    init = kind.isin(INIT_KINDS).to_numpy()
    app = kind.eq("AppLine").to_numpy() & ~has_rid
    late = kind.isin(LATE_KINDS).to_numpy() & ~has_rid
    spans = kind.eq("PhaseSpan").to_numpy()
    init_span = spans & ~has_rid
    if init_span.any():
        init_span &= phase.isin((schema.SPAN_INIT, schema.SPAN_RESTORE)).to_numpy()
    rows = np.flatnonzero(init | app | late | init_span)
    owner = codes.astype(np.int32 if len(keys) < 2**31 else np.int64)
    during = np.zeros(len(events), dtype=bool)
    init_out = np.zeros(len(events), dtype=bool)
    if len(rows):
        fill = _EnvFill(events["env_code"].to_numpy(), rows)
        rid = np.where(has_rid, codes, np.nan)
        is_start = kind.eq("Start").to_numpy() & has_rid
        is_close = kind.eq("Report").to_numpy() & has_rid
        next_rid = fill.bfill(rid, is_start)
        open_rid = fill.ffill(np.where(is_start, rid, -1.0), is_start | is_close)
        is_open = open_rid >= 0
        open_rid = np.where(is_open, open_rid, np.nan)  # (closed: -1)
        last_rid = fill.ffill(rid, is_start | is_close)
        row_init, row_phase = init[rows], phase.iloc[rows]
        invoke_phase = row_phase.eq("invoke").to_numpy() | (row_phase.isna().to_numpy() & is_open)
        found = np.where(row_init, np.where(invoke_phase & is_open, open_rid, next_rid),
                         rid[rows])
        # The wrapper's init line is written once its lifecycle has loaded, after the runtime's
        # init, often behind later START lines: it belongs to the wrapper's next invocation line
        # (the cold one), not to whatever invocation is open where it landed; by position only
        # without one.
        wrapper_init = row_init & row_phase.eq(schema.WRAPPER_INIT_PHASE).to_numpy()
        if wrapper_init.any():
            wrapped = kind.eq("WrapperInvocation").to_numpy() & has_rid
            next_wrapped = fill.bfill(rid, wrapped)
            fallback = np.where(is_open, open_rid, next_rid)
            found = np.where(wrapper_init,
                             np.where(np.isnan(next_wrapped), fallback, next_wrapped), found)
            invoke_phase = invoke_phase & ~wrapper_init
        row_app = app[rows]
        found = np.where(row_app, np.where(is_open, open_rid, np.nan), found)
        found = np.where(late[rows], np.where(is_open, open_rid, last_rid), found)
        # The wrapper's `lambda.init` span (and X-Ray's, when it lacks an id) names no request:
        # like INIT_START it belongs to the next invocation of its environment, by a START or a
        # span.
        row_span = init_span[rows]
        if row_span.any():
            runs = is_start | (spans & phase.isin((
                schema.SPAN_INVOCATION, schema.SPAN_POLL_WAIT, schema.SPAN_HANDLER)).to_numpy()
                & has_rid)
            found = np.where(row_span, fill.bfill(rid, runs), found)
        owner[rows] = np.nan_to_num(found, nan=-1.0).astype(np.int64)
        # a suppressed init: `phase: invoke` said outright, or an init line inside an open invoke
        during[rows] = row_init & invoke_phase
        init_out[rows] = row_app & ~is_open
    # (columns are added to `events` in place)
    events["owner_code"] = owner
    events["during_invoke"] = during
    events["init_output"] = init_out
    return events, keys, key_request_ids


class _EnvFill:
    """Forward and backward fill within each environment, as `groupby(env).ffill()` and
    `.bfill()` do, read at some rows only (`rows`): the value at the last (first) marked row at
    or before (after) each of them in its environment, found by a binary search among the marked
    rows. The events come ordered by environment (each one a run); they are sorted first when
    they are not."""

    def __init__(self, env: np.ndarray, rows: np.ndarray) -> None:
        self.order = None
        if len(env) and (np.diff(env) < 0).any():
            self.order = np.argsort(env, kind="stable")
            place = np.empty(len(env), dtype=np.int64)
            place[self.order] = np.arange(len(env))
            env, rows = env[self.order], place[rows]
        self.env, self.rows = env, rows

    def _take(self, values: np.ndarray, mask: np.ndarray, forward: bool) -> np.ndarray:
        if self.order is not None:
            values, mask = values[self.order], mask[self.order]
        marks = np.flatnonzero(mask)
        out = np.full(len(self.rows), np.nan)
        if not len(marks):
            return out
        if forward:
            at = np.searchsorted(marks, self.rows, side="right") - 1
            ok = at >= 0
        else:
            at = np.searchsorted(marks, self.rows, side="left")
            ok = at < len(marks)
        found = marks[np.clip(at, 0, len(marks) - 1)]
        ok &= self.env[found] == self.env[self.rows]  # not past the environment's run
        out[ok] = values[found[ok]]
        return out

    def ffill(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """At each row: `values` at the last row at or before it in its environment where
        `mask` holds (NaN where none does)."""
        return self._take(values, mask, forward=True)

    def bfill(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """At each row: `values` at the first row at or after it in its environment where
        `mask` holds (NaN where none does)."""
        return self._take(values, mask, forward=False)


def _by_owner(frame: pd.DataFrame | None, columns: dict[str, str]) -> pd.DataFrame:
    """First non-null value of each column per owner, renamed; empty when the type is absent."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=list(columns.values()))
    present = {src: dst for src, dst in columns.items() if src in frame}
    owner = frame["owner_code"].to_numpy()
    owned = owner >= 0
    sub = frame.loc[owned, ["owner_code", *present]] if not owned.all() else \
        frame[["owner_code", *present]]
    if len(sub) == 0 or np.bincount(owner[owned]).max() <= 1:
        grouped = sub.set_index("owner_code")  # one record per owner: it is the first
    else:
        grouped = sub.groupby("owner_code", sort=False).first()
    return grouped.rename(columns=present).reindex(columns=list(columns.values()))


def join_stand_ins(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Rename stand-in environments to the real one they are (in place); return the renames.

    RIE stdout names no log stream, so its records sit in a stand-in environment named after the
    file. The wrapper's spans of the same runtime carry the real one (`faas.instance` =
    `AWS_LAMBDA_LOG_STREAM_NAME`). A stand-in is that environment when its request ids are found
    in exactly that one environment, or (a runtime that never polled has no request id in the
    spans) when the wrapper's own lines in it name exactly one `instance` that the input holds.
    """
    stand_ins: set[str] = set()
    for frame in frames.values():
        # (the distinct dialects first, from runs of one value: most frames hold no RIE line)
        if "dialect" in frame and RIE in text_codes([frame["dialect"].to_numpy(dtype=object)])[1]:
            stand_ins.update(frame.loc[frame["dialect"].eq(RIE), "env"].astype(str).unique())
    if not stand_ins:
        return {}
    pairs = [frame.loc[frame["request_id"].notna() & frame["environment"].notna(),
                       ["env", "request_id"]] for frame in frames.values()]
    pairs = pd.concat(pairs, ignore_index=True).drop_duplicates()
    own = pairs.loc[pairs["env"].isin(stand_ins)]
    real = pairs.loc[~pairs["env"].isin(stand_ins)]
    real_envs = set()
    for frame in frames.values():
        named = frame.loc[frame["environment"].notna(), "env"]
        real_envs.update(named.loc[~named.isin(stand_ins)].astype(str).unique())
    links = own.merge(real, on="request_id", suffixes=("", "_real"))
    renames: dict[str, str] = {}
    for env_name, group in links.groupby("env", sort=False):
        targets = group["env_real"].unique()
        if len(targets) == 1:
            renames[str(env_name)] = str(targets[0])
    markers = frames.get("StuckMarker")
    if markers is not None and "text" in markers:
        for env_name in stand_ins - set(renames):
            texts = markers.loc[markers["env"].eq(env_name), "text"].astype(str)
            named = {m.group(1) for m in map(INSTANCE_RE.search, texts) if m}
            if len(named) == 1 and (target := named.pop()) in real_envs:
                renames[env_name] = target
    for frame in frames.values():
        hit = frame["env"].isin(list(renames))
        if hit.any():
            frame.loc[hit, "env"] = frame.loc[hit, "env"].map(renames)
            frame.loc[hit, "environment"] = frame.loc[hit, "env"]
    return renames


def merge_records(records: Iterable[object], *, keep_events: bool = False) -> Merged:
    """Run both merge steps over records from any number of sources. `Merged.events` keeps
    only what the analysis reads of it (`reduced_events`) and `Merged.frames` only the records
    a finding may quote (`quotable`), unless `keep_events` (then every event, with its
    `owner`, and every quotable record type whole: the partition engine picks its own)."""
    frames = records_to_frames(records, plain=() if keep_events else COUNTED_ONLY)
    joined = join_stand_ins(frames)
    # Function output and END lines that name their request (most of a large input) own
    # themselves: they are left out of the ordered events when that changes no owner.
    leave_out = None if keep_events else _counted_with_ids(frames)
    events, request_ids, left = events_of(frames, leave_out)
    events, keys, key_request_ids = assign_owners(events, request_ids)
    left_owners = _left_out_owners(events, left, len(request_ids)) if left else {}
    if left_owners is None:  # (an id run twice, or written before its first record: in full)
        del events, keys, key_request_ids, request_ids  # (not held while the full ones are made)
        left = {}
        events, request_ids, _ = events_of(frames)
        events, keys, key_request_ids = assign_owners(events, request_ids)
    size = max((int(frame["seq"].max()) + 1 for frame in frames.values() if len(frame)),
               default=0)
    for kind in list(frames):  # function output (most rows) is counted, never quoted: only
        if kind not in NAMED_OWNER_KINDS:  # what the invocation blocks read of it is kept
            kept = ("seq",) if kind == "AppLine" else COUNTED_COLUMNS
            frames[kind] = frames[kind][[c for c in frames[kind] if c in kept]]
    owner_by_seq = np.full(size, -1, dtype=np.int32 if len(keys) < 2**31 else np.int64)
    during = np.zeros(size, dtype=bool)
    init_out = np.zeros(size, dtype=bool)
    seq = events["seq"].to_numpy()
    owner_by_seq[seq] = events["owner_code"].to_numpy()
    during[seq] = events["during_invoke"].to_numpy()
    init_out[seq] = events["init_output"].to_numpy()
    del seq
    for kind, rows in left.items():
        owner_by_seq[rows.seq] = left_owners[kind]
    lookup = np.append(keys, None)  # code -1 -> None
    if keep_events:
        events["owner"] = lookup[events["owner_code"].to_numpy()]
    else:  # (the ordered events are most of the memory of the merge: reduced first)
        events = reduced_events(events)
        if left:
            events = _with_left_out_ends(events, left)
    events = finished_events(events, request_ids)
    del left, left_owners
    for kind in list(frames):
        frame = frames[kind]
        frame_seq = frame["seq"].to_numpy()
        if kind == "AppLine":  # (its owner is all the blocks read of it)
            frame = frames[kind] = frame[[]]
        frame["owner_code"] = owner_by_seq[frame_seq]
        frame["during_invoke"] = during[frame_seq]
        frame["init_output"] = init_out[frame_seq]
        del frame, frame_seq
    del owner_by_seq, during, init_out
    invocations, codes = merge_invocations(frames, keys, key_request_ids, cut=not keep_events)
    for kind in NAMED_OWNER_KINDS.intersection(frames):  # (once cut: a string per record)
        frames[kind]["owner"] = lookup[frames[kind]["owner_code"].to_numpy()]
    orphan_parts = [frames[k].loc[frames[k]["owner_code"] < 0].assign(kind=k)
                    for k in INIT_KINDS if k in frames]
    orphans = pd.concat(orphan_parts, ignore_index=True) if orphan_parts else pd.DataFrame()
    env_functions = _env_functions(frames)
    # Only the record types a later step quotes are kept: function output and END lines (most
    # of a large input) are counted in `invocations` and let go here.
    quoted = {kind: frame for kind, frame in frames.items() if kind in NAMED_OWNER_KINDS}
    frames.clear()
    return Merged(frames=quoted, events=events, invocations=invocations, orphans=orphans,
                  joined_environments=joined, environment_functions=env_functions,
                  owner_codes=codes)


COUNTED_ONLY = ("AppLine", "End")
"""Record types the merge only counts per invocation (never quoted, no fields read)."""


def _counted_with_ids(frames: dict[str, pd.DataFrame]) -> dict[str, np.ndarray] | None:
    """Per counted-only type, the records to leave out of the ordered events: those with a
    request id and a stream the reader numbered. Only for one input file with a time on every
    record (so the events' order and the per-stream facts can be told without them); None
    otherwise."""
    counted = [frames[kind] for kind in COUNTED_ONLY if kind in frames and len(frames[kind])]
    if not counted or not all(REQUEST_CODE in frame and STREAM_CODE in frame
                              for frame in counted):
        return None
    sources = set()
    for frame in frames.values():
        if len(frame) and np.isnan(frame["timestamp_ms"].to_numpy(dtype=float)).any():
            return None
        if len(frame):
            values = frame["source"].to_numpy(dtype=object)
            if (values[1:] != values[:-1]).any():
                return None
            sources.add(values[0])
    if len(sources) != 1:
        return None
    out = {}
    for kind in COUNTED_ONLY:
        frame = frames.get(kind)
        if frame is not None and len(frame):
            out[kind] = ((frame[REQUEST_CODE].to_numpy() >= 0)
                         & (frame[STREAM_CODE].to_numpy() >= 0))  # (coded: a stream named)
    return out or None


def _left_out_owners(events: pd.DataFrame, left: dict[str, LeftOut], count: int
                     ) -> dict[str, np.ndarray] | None:
    """The owner of each left-out record: the one invocation of its request id; for an id with
    several (a retry), the run of the last START or REPORT of the id at or before the record in
    its stream (`_runs`' rule). None when that is not what the full events would give: an id
    with no record in the events, a one-run id's record in another environment, a retried id's
    record before any of its START/REPORT lines in its stream, or a record ordered before its
    id's first record in the events (then the keys' numbering could differ)."""
    rid = events["request_code"].to_numpy()
    owner = events["owner_code"].to_numpy()
    has = np.flatnonzero((rid >= 0) & (owner >= 0))
    key_of = np.full(count + 1, -1, dtype=np.int64)  # (the last slot: code -1)
    key_of[rid[has]] = owner[has]
    several = np.zeros(count + 1, dtype=bool)  # ids of more than one invocation
    several[rid[has][key_of[rid[has]] != owner[has]]] = True
    env_of = np.full(count + 1, -1, dtype=np.int64)
    env_of[rid[has]] = events["env_code"].to_numpy()[has]
    first = np.full(count + 1, -1, dtype=np.int64)  # each id's first row in the events
    first[rid[has][::-1]] = has[::-1]
    first_ts = np.append(events["ts"].to_numpy(dtype=float), np.nan)[first]
    first_seq = np.append(events["seq"].to_numpy(), -1)[first]
    runs = _RunBounds(events, several) if several.any() else None
    out = {}
    for kind, rows in left.items():
        code = rows.request_code
        keys = key_of[code]
        after = (rows.ts > first_ts[code]) | ((rows.ts == first_ts[code])
                                              & (rows.seq > first_seq[code]))
        retried = several[code]
        if (keys < 0).any() or not after.all() \
                or (env_of[code][~retried] != rows.env_code[~retried]).any():
            return None
        if retried.any():
            found = runs.owners(code[retried], rows.env_code[retried], rows.ts[retried],
                                rows.seq[retried])
            if found is None:
                return None
            keys = keys.copy()
            keys[retried] = found
        out[kind] = keys
    return out


class _RunBounds:
    """The START and REPORT lines of retried ids in the events, by stream and id, in event
    order: a record of such an id belongs to the run of the last of them at or before it."""

    def __init__(self, events: pd.DataFrame, several: np.ndarray) -> None:
        rid = events["request_code"].to_numpy()
        bound = (rid >= 0) & several[np.where(rid >= 0, rid, -1)] \
            & events["kind"].isin(("Start", "Report")).to_numpy() \
            & events["real_env"].to_numpy(dtype=bool)
        at = np.flatnonzero(bound)
        self.width = int(rid.max()) + 2 if len(rid) else 1
        group = events["env_code"].to_numpy().astype(np.int64)[at] * self.width + rid[at]
        ts, seq = events["ts"].to_numpy(dtype=float)[at], events["seq"].to_numpy()[at]
        order = np.lexsort((seq, ts, group))  # (events order within a stream already)
        self.group, self.ts, self.seq = group[order], ts[order], seq[order]
        self.owner = events["owner_code"].to_numpy()[at][order]

    def owners(self, code: np.ndarray, env: np.ndarray, ts: np.ndarray, seq: np.ndarray
               ) -> np.ndarray | None:
        """Each record's run, or None when one has no START/REPORT of its id at or before it
        in its stream."""
        group = env.astype(np.int64) * self.width + code
        # the last bound at or before each record: by group, then time, then input order
        keys = np.lexsort((np.concatenate([self.seq, seq]), np.concatenate([self.ts, ts]),
                           np.concatenate([self.group, group])))
        is_bound = keys < len(self.group)
        last = np.maximum.accumulate(np.where(is_bound, np.arange(len(keys)), -1))
        found_at = np.empty(len(group), dtype=np.int64)
        found_at[keys[~is_bound] - len(self.group)] = last[~is_bound]
        bound_of = np.where(found_at >= 0, keys[np.maximum(found_at, 0)], -1)
        if (bound_of < 0).any() or (self.group[np.maximum(bound_of, 0)] != group).any():
            return None
        return self.owner[bound_of]


def _with_left_out_ends(reduced: pd.DataFrame, left: dict[str, LeftOut]) -> pd.DataFrame:
    """`reduced_events` of the full events, from that of the events without the left-out
    records (`reduced`) and those of them that can change it: at or before the earliest time
    of their environment (they are never its first record) or at or after its latest."""
    env = reduced["env_code"].to_numpy()
    ts = reduced["ts"].to_numpy(dtype=float)
    size = int(max(env.max(initial=-1), *(rows.env_code.max(initial=-1)
                                           for rows in left.values()))) + 1
    low = np.full(size, np.inf)
    high = np.full(size, -np.inf)
    np.fmin.at(low, env, ts)
    np.fmax.at(high, env, ts)
    parts = []
    kinds = reduced["kind"].cat.categories
    source = reduced["source"].cat.codes.iloc[0]  # (one input: every record's source)
    for kind, rows in left.items():
        near = np.flatnonzero((rows.ts <= low[rows.env_code]) | (rows.ts >= high[rows.env_code]))
        if not len(near):
            continue
        parts.append(pd.DataFrame({
            "seq": rows.seq[near],
            "env": pd.Categorical.from_codes(rows.env_code[near], dtype=reduced["env"].dtype),
            "request_code": rows.request_code[near],
            "source": pd.Categorical.from_codes(np.full(len(near), source),
                                                dtype=reduced["source"].dtype),
            "real_env": np.ones(len(near), dtype=bool),
            "kind": pd.Categorical.from_codes(np.full(len(near), kinds.get_loc(kind)),
                                              dtype=reduced["kind"].dtype),
            "phase": pd.Categorical.from_codes(np.full(len(near), -1),
                                               dtype=reduced["phase"].dtype),
            "env_code": rows.env_code[near].astype(reduced["env_code"].dtype),
            "ts": rows.ts[near]}))
    if not parts:
        return reduced
    both = pd.concat([reduced, *parts], ignore_index=True)
    order = np.lexsort((both["seq"].to_numpy(), both["ts"].to_numpy(dtype=float),
                        both["env_code"].to_numpy()))
    return reduced_events(both.iloc[order])


QUOTED_PER_INVOCATION = ("Start", "Report", "RuntimeDone", "TimedOut", "RuntimeExit",
                         "WrapperInvocation", "PhaseSpan")
"""Record types kept for quoting that come (about) once per invocation: cut to the invocations
a finding may quote (`quotable`) while the invocation blocks are made."""


def quotable(inv: pd.DataFrame) -> np.ndarray:
    """Per merged invocation (raw rows): may a finding quote its records? A superset of what
    `findings.detect` quotes, read off the raw facts: every invocation with any sign of
    something other than a plain success (an outcome other than `success`, an error type, a
    timeout, an exit, a suppressed or failed init, no REPORT, memory at its limit, post-response
    work of `POST_RESPONSE_MIN_MS` or more), and every invocation of an environment whose init
    did not simply succeed (`never_polled` quotes the whole stream)."""
    from lifecycle_trace.analysis.findings import POST_RESPONSE_MIN_MS

    n = len(inv)

    def values(name: str) -> np.ndarray | None:
        if name not in inv:
            return None
        column = inv[name].to_numpy()
        if is_broadcast(column) and pd.isna(column[0]):
            return None  # one missing value broadcast: the input has no such record
        return column

    def given(name: str) -> np.ndarray:
        column = values(name)
        return np.zeros(n, dtype=bool) if column is None else pd.notna(column)

    def not_success(name: str) -> np.ndarray:
        column = values(name)
        if column is None:
            return np.zeros(n, dtype=bool)
        return pd.notna(column) & (column != "success")

    def floats(name: str) -> np.ndarray:
        column = values(name)
        return np.full(n, np.nan) if column is None else column.astype(float, copy=False)

    flag = np.isnan(floats("duration_ms"))  # no REPORT: the outcome comes from elsewhere
    for name in ("report_status", "rd_status", "wr_outcome", "span_outcome"):
        flag |= not_success(name)
    for name in ("report_error_type", "rd_error_type", "exit_error_type", "exit_reason",
                 "exit_text", "exit_signal", "exit_status", "timed_out_text", "timeout_s",
                 "stuck_kind"):
        flag |= given(name)
    with np.errstate(invalid="ignore"):
        flag |= floats("max_memory_mb") >= floats("memory_mb")
        for source in ("wr", "span", "span_alt", "rd"):
            flag |= floats(f"{source}_post_response_ms") >= POST_RESPONSE_MIN_MS
    init = not_success("init_status") | not_success("init_rd_status") | not_success(
        "restore_status")
    for name in ("init_error_type", "restore_error_type", "suppressed_start_ts",
                 "suppressed_init_ms", "suppressed_status", "suppressed_error_type"):
        init |= given(name)
    if init.any():  # every invocation of such an environment
        env = pd.Series(_coalesce(inv, ENV_COLUMNS), dtype=object)
        flag |= init | env.isin(set(env[init].dropna())).to_numpy()
    return flag


def reduced_events(events: pd.DataFrame) -> pd.DataFrame:
    """Per stream: its first event, the earliest event of each file holding it and its latest
    event -- all `started_in_export` and the environments table read from events (the rest is
    let go after the merge: on a large input it is most of the memory)."""
    if events.empty:
        return events
    env_code = pd.factorize(events["env_code"].to_numpy())[0]
    source_code = pd.factorize(events["source"], use_na_sentinel=False)[0]
    ts = events["ts"].to_numpy(dtype=float)
    keep = first_row_mask(env_code)
    if source_code.max() > 0:
        pair = pd.factorize(env_code.astype(np.int64) * (int(source_code.max()) + 1)
                            + source_code)[0]
        keep |= first_row_mask(pair)
    else:  # one input file: a stream's earliest event in it is the stream's
        pair = env_code
    pair_min = np.full(int(pair.max()) + 1, np.nan)
    np.fmin.at(pair_min, pair, ts)  # (NaN skipped, as groupby's min does)
    env_max = np.full(int(env_code.max()) + 1, np.nan)
    np.fmax.at(env_max, env_code, ts)
    keep |= (ts == pair_min[pair]) | (ts == env_max[env_code])
    return events.loc[keep]


def _env_functions(frames: dict[str, pd.DataFrame]) -> pd.Series:
    """The function name the init, wrapper and trace records of each environment give (a marker
    of a runtime that never polled names it; the invocation it hung has no record that does).
    Only these few record types are read: function output is most of a large input."""
    kinds = ("StuckMarker", "InitStart", "InitReport", "WrapperInvocation", "PhaseSpan")
    parts = [frame.loc[frame["function"].notna() & frame["environment"].notna(),
                       ["env", "function"]].drop_duplicates("env")
             for kind, frame in frames.items() if kind in kinds and "function" in frame]
    if not parts:
        return pd.Series(dtype=object)
    both = pd.concat(parts, ignore_index=True).drop_duplicates("env")
    return pd.Series(both["function"].to_numpy(), index=both["env"].to_numpy(), dtype=object)


START_COLUMNS = {"env": "start_env", "timestamp_ms": "start_ts", "version": "start_version",
                 "function": "start_function", "trace_id": "start_trace_id",
                 "source": "start_file"}
REPORT_COLUMNS = {
    "env": "report_env", "timestamp_ms": "report_ts", "duration_ms": "duration_ms",
    "billed_ms": "reported_billed_ms", "memory_mb": "memory_mb",
    "max_memory_mb": "max_memory_mb", "init_ms": "report_init_ms",
    "restore_ms": "report_restore_ms", "billed_restore_ms": "billed_restore_ms",
    "status": "report_status", "error_type": "report_error_type", "trace_id": "trace_id",
    "dialect": "report_dialect", "function": "report_function", "source": "report_file"}
REPORT_SIGNS = ("env", "duration_ms", "memory_mb", "max_memory_mb", "status", "error_type")
"""What `quotable` reads of REPORT records."""


def merge_invocations(frames: dict[str, pd.DataFrame], keys: np.ndarray,
                      key_request_ids: np.ndarray, cut: bool = False
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per invocation (index: its key) with its request id and the raw facts every
    source gave (before any inference), and the owner code of each row. With `cut`, the
    per-invocation record frames are also cut to the invocations a finding may quote
    (`quotable`, in place), and START and REPORT records become columns one column at a
    time: on a large input the full frames and the merged columns are never held together."""
    present = np.zeros(len(keys) + 1, dtype=bool)  # the last slot takes code -1 (no owner)
    for kind in INVOCATION_KINDS:
        if kind in frames:
            present[frames[kind]["owner_code"].to_numpy()] = True
    index = pd.Index(np.flatnonzero(present[:-1]), name="owner_code")
    rank = np.full(len(keys) + 1, -1, dtype=np.int64)  # owner code -> row (code -1: none)
    rank[index.to_numpy()] = np.arange(len(index))
    codes = index.to_numpy()
    g = frames.get
    # one concat of blocks aligned to the invocations, not a join per block: each join copies
    # every column joined before it (most of the time of a large merge); START and REPORT
    # (the two large blocks) are made last
    blocks: list[pd.DataFrame | None] = [
        None,  # START
        _by_owner(g("End"), {"timestamp_ms": "end_ts"}),
        None,  # REPORT
        _by_owner(g("RuntimeDone"), {
            "env": "rd_env", "timestamp_ms": "rd_ts", "status": "rd_status",
            "error_type": "rd_error_type", "duration_ms": "rd_duration_ms",
            "response_latency_ms": "rd_handler_ms", "response_duration_ms": "rd_response_ms",
            "runtime_overhead_ms": "rd_post_response_ms", "function": "rd_function"}),
        _by_owner(g("TimedOut"), {"timeout_s": "timeout_s", "text": "timed_out_text",
                                  "env": "to_env"}),
        _by_owner(g("RuntimeExit"), {"reason": "exit_reason", "exit_status": "exit_status",
                                     "signal": "exit_signal", "error_type": "exit_error_type",
                                     "text": "exit_text", "env": "exit_env"}),
        _init_block(g("InitStart"), g("InitReport")),
        _by_owner(g("InitRuntimeDone"), {"status": "init_rd_status",
                                          "error_type": "init_rd_error_type"}),
        _by_owner(g("RestoreStart"), {"timestamp_ms": "restore_start_ts",
                                      "runtime_version_arn": "restore_runtime_arn"}),
        _by_owner(g("RestoreReport"), {"duration_ms": "restore_report_ms",
                                       "status": "restore_status",
                                       "error_type": "restore_error_type"}),
        _by_owner(g("WrapperInvocation"), {
            "env": "wr_env", "timestamp_ms": "wr_ts", "cold": "wr_cold", "init_ms": "wr_init_ms",
            "poll_wait_ms": "wr_poll_wait_ms", "handler_ms": "wr_handler_ms",
            "response_ms": "wr_response_ms", "post_response_ms": "wr_post_response_ms",
            "outcome": "wr_outcome", "function": "wr_function", "trigger": "trigger"}),
        _span_block(g("PhaseSpan")),
        _by_owner(g("StuckMarker"), {"kind": "stuck_kind", "elapsed_ms": "stuck_elapsed_ms",
                                     "env": "stuck_env"}),
        _app_block(g("AppLine")),
    ]
    blocks = [None if block is None else _aligned(block, index, rank) for block in blocks]
    sources = _dialects(frames, codes, len(keys))
    quoted: dict[str, pd.DataFrame] = {}
    signs = {}  # what `quotable` reads of START and REPORT, aligned once
    if cut:
        signs = {"Report": _aligned(_by_owner(g("Report"), {
                     name: REPORT_COLUMNS[name] for name in REPORT_SIGNS}), index, rank),
                 "Start": _aligned(_by_owner(g("Start"), {"env": "start_env"}), index, rank)}
        probe = pd.concat([*(block for block in blocks if block is not None),
                           *signs.values()], axis=1)
        keep = np.zeros(len(keys) + 1, dtype=bool)  # the last slot: owner code -1 (kept)
        keep[-1] = True
        keep[codes[quotable(probe)]] = True
        del probe
        for kind in QUOTED_PER_INVOCATION:
            frame = frames.get(kind)
            if frame is not None and len(frame):
                rows = keep[frame["owner_code"].to_numpy()]
                quoted[kind] = frame if rows.all() else frame.loc[rows]
    for slot, kind, columns in ((0, "Start", START_COLUMNS), (2, "Report", REPORT_COLUMNS)):
        if cut and kind in quoted:  # the full frame lives on only in its block, which is
            frame = frames[kind]    # emptied as its columns are aligned
            frames[kind] = quoted[kind]
            block = _by_owner(frame, columns)
            del frame
            blocks[slot] = _aligned(block, index, rank, consume=True, taken=signs[kind])
            del block
        else:
            blocks[slot] = _aligned(_by_owner(g(kind), columns), index, rank)
    frames.update((kind, frame) for kind, frame in quoted.items() if kind in frames)
    inv = pd.concat(blocks, axis=1)
    inv["sources"] = sources
    if len(codes) < len(keys):  # (else every key is an invocation, in code order)
        keys, key_request_ids = keys[codes], key_request_ids[codes]
    ids = pd.Index(key_request_ids).array  # (pandas' text dtype, inferred once)
    inv.insert(0, "request_id", ids)
    same = len(keys) == len(ids) and bool((keys == key_request_ids).all())  # (no retries)
    inv.index = pd.Index(ids if same else keys, name="invocation")
    return inv, codes


def _aligned(block: pd.DataFrame, index: pd.Index, rank: np.ndarray, consume: bool = False,
             taken: pd.DataFrame | None = None) -> pd.DataFrame:
    """`block` (indexed by owner code) reindexed to the invocations (`rank`: code -> row); a
    block of an absent record type becomes all-NaN object columns (as reindexing it would
    give, without allocating them). `consume`: each column is dropped from `block` once it is
    taken (so a block that alone holds its arrays lets each go in turn). `taken`: columns of
    the block aligned already (used as they are)."""
    if len(block) == 0 and all(map(pd.api.types.is_object_dtype, block.dtypes)):
        # a read-only broadcast of one NaN: no memory per row (pandas copies it only if a
        # later step writes into it); a large merge has dozens of such columns
        nan = np.broadcast_to(np.array([np.nan], dtype=object), (len(index), len(block.columns)))
        return pd.DataFrame(nan, index=index, columns=block.columns, dtype=object, copy=False)
    if not block.index.is_unique:
        return block.reindex(index)
    # reindex by integer arithmetic on the codes instead of hashing a million-row index
    rows = rank[block.index.to_numpy(dtype=np.int64)]
    kept = rows >= 0
    indexer = np.full(len(index), -1, dtype=np.int64)
    indexer[rows[kept]] = np.flatnonzero(kept)
    columns = {}
    for name in list(block.columns):
        if taken is not None and name in taken:
            columns[name] = taken[name]
        else:
            column = block[name]
            values = column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
            out = pd.api.extensions.take(values, indexer, allow_fill=True)
            columns[name] = pd.Series(out, index=index, dtype=out.dtype, copy=False)
            del column, values
        if consume:
            del block[name]
    return pd.DataFrame(columns, index=index, copy=False)


def _phase(frame: pd.DataFrame | None, during: bool) -> pd.DataFrame | None:
    """Init records of the init phase (`during=False`) or of suppressed inits (`True`)."""
    if frame is None:
        return None
    return frame.loc[frame["during_invoke"] == during]


def _init_block(starts: pd.DataFrame | None, reports: pd.DataFrame | None) -> pd.DataFrame:
    """Init records split into the init phase (before the invoke) and suppressed inits."""
    start_cols = {"timestamp_ms": "init_start_ts", "initialization_type": "init_type",
                  "runtime_version": "runtime_version", "runtime_version_arn": "runtime_arn",
                  "function_version": "init_version", "function": "init_function"}
    report_cols = {"duration_ms": "init_report_ms", "status": "init_status",
                   "error_type": "init_error_type", "initialization_type": "init_report_type",
                   "timestamp_ms": "init_report_ts", "dialect": "init_report_dialect"}
    sup_start = {"timestamp_ms": "suppressed_start_ts"}
    sup_report = {"duration_ms": "suppressed_init_ms", "status": "suppressed_status",
                  "error_type": "suppressed_error_type"}
    parts = [
        _by_owner(_phase(starts, False), start_cols),
        _by_owner(_phase(reports, False), report_cols),
        _by_owner(_phase(starts, True), sup_start),
        _by_owner(_phase(reports, True), sup_report),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, how="outer")
    return out


SPAN_OUTCOMES = {"success": "success", "error": "error", "timeout": "timeout",
                 "crash": "crash", "init_error": "error"}


def _span_block(spans: pd.DataFrame | None) -> pd.DataFrame:
    """Phase spans (lctrace OTLP, X-Ray) -> one duration column per phase, plus what a trace
    alone says about the invocation: its function, version, environment (lctrace spans carry
    `faas.instance`; X-Ray does not), start, duration, restore and outcome."""
    columns = [*(f"span_{c}" for c in PHASE_COLUMNS.values()), "span_init_ms", "span_cold",
               *(f"span_alt_{c}" for c in (*PHASE_COLUMNS.values(), "init_ms")),
               "span_alt_dialect", "span_init_ts", "span_trace_id",
               "span_dialect", "span_env", "span_function", "span_version", "span_start_ts",
               "span_invocation_ms", "span_restore_ms", "span_outcome", "span_memory_mb"]
    if spans is None or spans.empty:
        return pd.DataFrame(columns=columns)
    sub = spans.loc[spans["owner_code"].to_numpy() >= 0]
    # the wrapper's own measurement first, then X-Ray's (the other kept to compare)
    sub = sub.assign(_rank=sub["dialect"].ne(LCTRACE).astype(int)).sort_values(
        ["_rank", "seq"], kind="stable")
    wide = sub.pivot_table(index="owner_code", columns="phase", values="duration_ms",
                           aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for phase, column in PHASE_COLUMNS.items():
        out[f"span_{column}"] = wide.get(phase, np.nan)
    others = sub.loc[sub["dialect"].ne(sub.groupby("owner_code")["dialect"].transform("first"))]
    alt = others.pivot_table(index="owner_code", columns="phase", values="duration_ms",
                             aggfunc="first") if len(others) else pd.DataFrame()
    for phase, column in {**PHASE_COLUMNS, schema.SPAN_INIT: "init_ms"}.items():
        out[f"span_alt_{column}"] = alt.get(phase, pd.Series(dtype=float)).reindex(out.index)
    out["span_alt_dialect"] = (others.groupby("owner_code")["dialect"].first()
                               .reindex(out.index) if len(others) else np.nan)
    out["span_init_ms"] = wide.get(schema.SPAN_INIT, np.nan)
    out["span_invocation_ms"] = wide.get(schema.SPAN_INVOCATION, np.nan)
    out["span_restore_ms"] = wide.get(schema.SPAN_RESTORE, np.nan)
    inits = sub.loc[sub["phase"].eq(schema.SPAN_INIT)]
    out = out.join(inits.groupby("owner_code", sort=False)["timestamp_ms"].first()
                   .rename("span_init_ts"), how="outer")
    running = sub.loc[sub["phase"].isin((schema.SPAN_INVOCATION, schema.SPAN_HANDLER))]
    out = out.join(running.groupby("owner_code", sort=False)["timestamp_ms"].min()
                   .rename("span_start_ts"), how="outer")
    firsts = sub.groupby("owner_code", sort=False).agg(
        span_cold=("cold", "max"), span_dialect=("dialect", "first"),
        span_env=("environment", "first"), span_function=("function", "first"),
        span_version=("faas_version", "first"), span_outcome=("outcome", "first"),
        span_trace_id=("trace_id", "first"),
        span_memory_bytes=("faas_max_memory", "first"))
    # faas.max_memory is in bytes (OpenTelemetry FaaS conventions)
    firsts["span_memory_mb"] = pd.to_numeric(firsts["span_memory_bytes"], errors="coerce") / 2**20
    firsts["span_outcome"] = firsts["span_outcome"].map(SPAN_OUTCOMES)
    return out.join(firsts, how="outer").reindex(columns=columns)


def _app_block(lines: pd.DataFrame | None) -> pd.DataFrame:
    """How many lines the function printed during each invocation."""
    if lines is None or lines.empty:
        return pd.DataFrame(columns=["app_lines"])
    keep = (lines["owner_code"].to_numpy() >= 0) & ~lines["init_output"].to_numpy()
    counts = np.bincount(lines["owner_code"].to_numpy()[keep])
    present = np.flatnonzero(counts)
    return pd.DataFrame({"app_lines": counts[present]}, index=present)


def _dialects(frames: dict[str, pd.DataFrame], codes: np.ndarray, size: int) -> np.ndarray:
    """`text+lctrace`-style list of the dialects whose records described each invocation."""
    seen: dict[str, np.ndarray] = {}
    for kind in INVOCATION_KINDS:
        frame = frames.get(kind)
        if frame is None or frame.empty:
            continue
        owner = frame["owner_code"].to_numpy()
        dialect_codes, dialects = text_codes([frame["dialect"].to_numpy(dtype=object)])
        if (dialect_codes < 0).any():  # a record without one (named as pandas' NaN is)
            dialect_codes = np.where(dialect_codes < 0, len(dialects), dialect_codes)
            dialects = np.append(dialects, np.nan)
        for code, name in enumerate(dialects):
            mask = seen.setdefault(str(name), np.zeros(size + 1, dtype=bool))
            rows = owner >= 0 if len(dialects) == 1 else (dialect_codes == code) & (owner >= 0)
            mask[owner[rows]] = True
    # one bit per dialect, then each distinct combination spelled once
    names = sorted(seen)
    bits = np.zeros(len(codes), dtype=np.int64)
    for bit, name in enumerate(names):
        bits |= seen[name][codes].astype(np.int64) << bit
    combos, unique_bits = pd.factorize(bits)
    labels = np.array(["+".join(name for bit, name in enumerate(names) if int(value) >> bit & 1)
                       for value in unique_bits], dtype=object)
    return labels[combos] if len(codes) else np.full(0, "", dtype=object)


ENV_COLUMNS = ["start_env", "report_env", "rd_env", "wr_env", "to_env", "exit_env", "stuck_env",
               "span_env"]
"""The raw columns that name an invocation's environment, best first."""


def stream_facts(invocations: pd.DataFrame,
                 env_functions: pd.Series | None = None) -> pd.DataFrame:
    """Function, version and environment (and its code) of each invocation, from the best
    source available:
    the record's own field, then any record of its environment (`env_functions`), then the log
    stream name, then the input file's name. Worked out per distinct environment and file
    (integer codes), not per row: a large input has a million rows and a few hundred streams."""
    inv = invocations
    env = _coalesce(inv, ENV_COLUMNS)
    # (rows come grouped by environment: factorized from the runs of one value)
    env_codes, env_names = text_codes([env])
    env_names = np.asarray(env_names, dtype=object)
    streams = parse_streams(pd.Series(np.append(env_names, ""), dtype=object))
    by_env = np.where(env_codes >= 0, env_codes, len(env_names))  # no environment: ""

    def per_env(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda rows: values[by_env[rows]]

    def first_per_env(filled: _Filled) -> Callable[[np.ndarray], np.ndarray]:
        return lambda rows: _first_per_env(filled.values, env_codes, len(env_names))[rows]

    function = _Filled(inv, ["start_function", "report_function", "rd_function",
                             "wr_function", "init_function", "span_function"])
    # A name any record of the environment gives holds for all its invocations.
    function.fill(first_per_env(function))
    if env_functions is not None and len(env_functions):
        mapped = pd.Series(env_names, dtype=object).map(env_functions).to_numpy(dtype=object)
        function.fill(per_env(np.append(mapped, np.nan)))
    function.fill(per_env(streams["stream_function"].to_numpy(dtype=object)))
    if function.missing.any():  # the input file's name
        files = _coalesce(inv, ["start_file", "report_file"])
        file_codes, file_names = text_codes([files])
        stems = np.array([PurePath(str(path)).name.split(".")[0] for path in file_names]
                         + [np.nan], dtype=object)
        function.fill(lambda rows: stems[np.where(file_codes[rows] >= 0, file_codes[rows],
                                                  len(file_names))])
    function.fill("unknown")
    version = _Filled(inv, ["start_version", "init_version", "span_version"])
    version.fill(first_per_env(version))
    version.fill(per_env(streams["stream_version"].to_numpy(dtype=object)))
    index = inv.index
    return pd.DataFrame({
        "environment": pd.Series(env, index=index, dtype=object, copy=False),
        "environment_code": pd.Series(env_codes, index=index, copy=False),  # -1: none
        "function": pd.Series(function.values, index=index, dtype=object, copy=False),
        "version": pd.Series(version.values, index=index, dtype=object, copy=False),
        "stream_date_ms": pd.Series(streams["stream_date_ms"].to_numpy(dtype=float)[by_env],
                                    index=index, copy=False)}, index=index)


def _coalesce(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per row, the first of `columns` that has a value (NaN where none has)."""
    return _Filled(frame, columns).values


class _Filled:
    """Per row, the first of `columns` that has a value (NaN where none has), and which rows
    still have none: each later `fill` reads only those (most often none are left)."""

    def __init__(self, frame: pd.DataFrame, columns: list[str]) -> None:
        self.values = np.full(len(frame), np.nan, dtype=object)
        self.missing = np.ones(len(frame), dtype=bool)
        for column in columns:
            if column not in frame or not self.missing.any():
                continue
            values = frame[column].to_numpy(dtype=object)
            if is_broadcast(values) and pd.isna(values[0]):
                continue  # one missing value broadcast: a record type the input does not hold
            take = self.missing & pd.notna(values)
            if take.all():  # (the first column has them all: taken as it is, never
                self.values = values  # written to: no row is left to fill)
            else:
                self.values[take] = values[take]
            self.missing &= ~take

    def fill(self, other: Callable[[np.ndarray], np.ndarray] | str) -> None:
        """Fill the rows still missing a value from `other` (one value, or the values at
        given rows)."""
        rows = np.flatnonzero(self.missing)
        if not len(rows):
            return
        if isinstance(other, str):  # (one object for every row, not a copy per row)
            self.values[rows] = other
            self.missing[rows] = False
            return
        found = np.asarray(other(rows), dtype=object)
        has = pd.notna(found)
        self.values[rows[has]] = found[has]
        self.missing[rows[has]] = False


def _first_per_env(values: np.ndarray, env_codes: np.ndarray, count: int) -> np.ndarray:
    """Per row, the first value of its environment's rows that has one (NaN without an
    environment or a value): `groupby(env).transform("first")`, on integer codes."""
    has = pd.notna(values) & (env_codes >= 0)
    firsts = np.full(count + 1, np.nan, dtype=object)
    rows = np.flatnonzero(has)
    codes, first = np.unique(env_codes[rows], return_index=True)
    firsts[codes] = values[rows[first]]
    return firsts[np.where(env_codes >= 0, env_codes, count)]
