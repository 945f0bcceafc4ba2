"""What AWS billed for each invocation, and the window it billed.

The billed figure is taken from the record when it has one (`Billed Duration`,
`billedDurationMs`). Which rule produced it is decided per record, never by date (reference §6):

- `duration`          billed = ceil(Duration)                (init free, or no init)
- `duration+init`     billed = ceil(Duration + Init Duration) (init billed: custom runtimes,
                      container images, and ZIP on-demand once AWS rolled out INIT billing)
- `duration+restore`  billed = ceil(Duration) + Billed Restore Duration (SnapStart; the restore
                      share is already inside Billed Duration and is never added again)
- `100ms`             billed = Duration rounded up to 100 ms (before 2020-12-01)
- `clamped`           billed < ceil(Duration): a timeout billed at exactly the limit
- `reported`          a figure none of the above explains; AWS's number is used as is

Without a billed figure it is computed (`billed_source = "computed"`): ceil(Duration), plus init
when the same function's other records show init billed (or, with no evidence either way, per
the rule in force since 2025-08-01), plus the billed restore. RIE's `Init Duration` is
meaningless and its init runs inside Duration: never added. A suppressed init is inside
Duration already. GB-seconds = billed ms / 1000 x memory MB / 1024.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle_trace.analysis.classify import _floats_of, _select
from lifecycle_trace.records import RIE

TOLERANCE_MS = 1.0
"""ceil(D + I) and ceil(D) + ceil(I) differ by at most 1 ms; both count as `duration+init`."""


def _ceil(values: pd.Series) -> pd.Series:
    """Round up to the ms, ignoring float noise below a microsecond (1948.24 -> 1949)."""
    return np.ceil(values.astype(float) - 1e-6)


def classify_rules(inv: pd.DataFrame) -> pd.DataFrame:
    """Add `billing_rule` and `init_billed` (bool or NA) for records with a billed figure.

    Expects duration_ms, reported_billed_ms, billable_init_ms, billed_restore_ms.
    """
    billed = inv["reported_billed_ms"].astype(float)
    duration = inv["duration_ms"].astype(float)
    init = inv["billable_init_ms"].astype(float)
    restore = pd.Series(_floats_of(inv, "billed_restore_ms"), index=inv.index)
    ceil_d = _ceil(duration)
    has = billed.notna() & duration.notna()
    is_restore = has & restore.notna() & (billed - (ceil_d + restore)).abs().le(TOLERANCE_MS)
    is_init = has & init.notna() & (billed - _ceil(duration + init)).abs().le(TOLERANCE_MS)
    is_plain = has & billed.eq(ceil_d)
    is_legacy = has & billed.eq(np.ceil(duration / 100.0 - 1e-9) * 100.0) & billed.ge(100)
    is_clamped = has & billed.lt(ceil_d)
    rule = _select(
        [is_restore, is_init & ~is_plain, is_plain, is_legacy, is_clamped, has],
        ["duration+restore", "duration+init", "duration", "100ms", "clamped", "reported"],
        default=None,
    )
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["billing_rule"] = pd.Series(rule, index=inv.index, dtype=object)
    init_billed = pd.Series(pd.NA, index=inv.index, dtype="boolean")
    init_billed[is_init & ~is_plain] = True
    init_billed[init.notna() & (is_plain | (is_legacy & ~is_init))] = False
    out["init_billed"] = init_billed
    return out


def compute_billing(inv: pd.DataFrame) -> pd.DataFrame:
    """Add billed_ms, billed_source, billing_rule, init_billed, billed_start_ms, billed_end_ms
    and gb_seconds.

    Expects function, duration_ms, reported_billed_ms, init_ms, report_dialect,
    billed_restore_ms, start_ms, memory_mb, managed (bool: priced per instance, not billed).
    """
    # (columns are added to `inv` in place)
    is_rie = inv["report_dialect"].eq(RIE)
    inv["billable_init_ms"] = inv["init_ms"].where(~is_rie)
    inv = classify_rules(inv)
    # Per function: does any record show init billed? (evidence for computed rows; a function
    # with no evidence either way bills init, the rule in force since 2025-08-01)
    code, _names = pd.factorize(inv["function"].to_numpy(dtype=object))
    known = inv["init_billed"].notna().to_numpy()
    billed = inv["init_billed"].fillna(False).to_numpy(dtype=bool)
    groups = len(_names) + 1  # (shifted by one: code -1, no function, is group 0)
    shown = np.bincount(code[known] + 1, minlength=groups) > 0
    shown_billed = np.bincount(code[billed] + 1, minlength=groups) > 0
    rule = ~shown | shown_billed
    rule[0] = True  # no function, no evidence
    function_rule = pd.Series(rule[code + 1], index=inv.index)
    computed = inv["reported_billed_ms"].isna() & inv["duration_ms"].notna() & ~inv["managed"]
    include_init = function_rule & inv["billable_init_ms"].notna()
    restore = pd.Series(_floats_of(inv, "billed_restore_ms"), index=inv.index).fillna(0.0)
    d = inv["duration_ms"].astype(float)
    with_init = _ceil(d + inv["billable_init_ms"].fillna(0.0).astype(float))
    computed_ms = np.where(include_init, with_init, _ceil(d)) + restore
    inv["billed_ms"] = inv["reported_billed_ms"].astype(float).where(~computed, computed_ms)
    inv["billed_source"] = _select(
        [inv["reported_billed_ms"].notna().to_numpy(), computed.to_numpy()],
        ["report", "computed"], default=None)
    inv.loc[computed, "billing_rule"] = np.where(
        include_init[computed], "computed:duration+init", "computed:duration"
    )
    with_init_known = computed & inv["billable_init_ms"].notna()
    inv.loc[with_init_known, "init_billed"] = include_init[with_init_known]
    init_in = inv["init_billed"].fillna(False).astype(bool)
    lead = np.where(init_in, inv["billable_init_ms"].fillna(0.0).astype(float), 0.0)
    lead = lead + np.where(inv["billing_rule"].eq("duration+restore"), restore, 0.0)
    start = inv["start_ms"].astype(float)
    inv["billed_start_ms"] = start - lead
    inv["billed_end_ms"] = inv["billed_start_ms"] + inv["billed_ms"]
    inv["gb_seconds"] = inv["billed_ms"] / 1000.0 * inv["memory_mb"].astype(float) / 1024.0
    return inv.drop(columns=["billable_init_ms"])
