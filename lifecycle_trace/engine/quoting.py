"""Which records a partition sends for quoting as evidence, and the driver's check.

Findings quote the records of the invocations they are about (`analysis.evidence`): a finding's
own invocation(s) and, for a never-polled stream, every invocation of the stream. A partition
cannot run the global findings, so it sends the records of a cheap superset (`candidates`):
every invocation that did not simply succeed, and every invocation of a stream whose init timed
out or whose invocations all timed out. After the global run the driver checks that every
finding's invocations were sent (`missing`); any that were not are fetched in a second round,
so the evidence is always the single-process evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis import classify
from lifecycle_trace.analysis.findings import Finding
from lifecycle_trace.analysis.merge import stream_facts

STREAM_WIDE = frozenset({"never_polled"})
"""Finding kinds whose evidence quotes every invocation of their stream."""
FAILED = ("error", "failure", "timeout")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(np.nan, index=frame.index, dtype=object)


def candidates(raw: pd.DataFrame) -> set[str]:
    """Invocation keys (the merged table's index) whose records may be quoted: a superset of
    what the findings quote, computed from the partition's own merged rows."""
    if raw.empty:
        return set()
    inv = classify.classify_status(raw)
    status = inv["status"]
    problem = (status.ne("success") | inv["out_of_memory"].astype(bool)
               | inv["error_type"].notna() | _column(inv, "init_status").isin(FAILED)
               | _column(inv, "suppressed_status").notna()
               | _column(inv, "suppressed_init_ms").notna()
               | _column(inv, "init_rd_status").isin(FAILED))
    env = stream_facts(raw)["environment"].fillna("")
    timed_out = status.eq("timeout")
    all_timed_out = timed_out.groupby(env, sort=False).transform("all").astype(bool)
    init_timeout = set(env[_column(inv, "init_status").eq("timeout")])
    stream_wide = env.isin(init_timeout) | all_timed_out
    return set(inv.index[(problem | stream_wide).to_numpy()])


def needed(found: list[Finding], invocations: pd.DataFrame) -> set[str]:
    """Invocation keys the findings quote: each run of a finding's request ids and, for
    stream-wide findings, every invocation of the stream."""
    rids: set[str] = set()
    envs: set[str] = set()
    for finding in found:
        rids.update(r for r in (finding.request_id, *finding.request_ids) if r)
        if finding.environment and STREAM_WIDE & {finding.kind, *finding.related_kinds}:
            envs.add(finding.environment)
    if invocations.empty:
        return set()
    key = "invocation" if "invocation" in invocations else "request_id"
    hit = invocations["request_id"].isin(rids) | invocations["environment"].isin(envs)
    return set(invocations.loc[hit, key].dropna())
