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

from lifecycle_trace.analysis.classify import _floats_of, _select, report_is_rie

TOLERANCE_MS = 1.0
"""ceil(D + I) and ceil(D) + ceil(I) differ by at most 1 ms; both count as `duration+init`."""


def _ceil(values: np.ndarray) -> np.ndarray:
    """Round up to the ms, ignoring float noise below a microsecond (1948.24 -> 1949)."""
    return np.ceil(np.asarray(values, dtype=float) - 1e-6)


RULES = ("duration+restore", "duration+init", "duration", "100ms", "clamped", "reported")


def _rules(billed: np.ndarray, duration: np.ndarray, init: np.ndarray,
           restore: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, which rule explains the billed figure (position in `RULES`, `len(RULES)` for
    none), and where init was shown billed (True) or shown not billed (False) (float arrays,
    NaN = absent; a comparison with NaN is False, as pandas' `eq`/`le` make it)."""
    ceil_d = _ceil(duration)
    has = ~np.isnan(billed) & ~np.isnan(duration)
    has_init = ~np.isnan(init)
    is_restore = has & ~np.isnan(restore) & (np.abs(billed - (ceil_d + restore)) <= TOLERANCE_MS)
    is_init = has & has_init & (np.abs(billed - _ceil(duration + init)) <= TOLERANCE_MS)
    is_plain = has & (billed == ceil_d)
    is_legacy = has & (billed == np.ceil(duration / 100.0 - 1e-9) * 100.0) & (billed >= 100)
    is_clamped = has & (billed < ceil_d)
    rule = np.select([is_restore, is_init & ~is_plain, is_plain, is_legacy, is_clamped, has],
                     range(len(RULES)), default=len(RULES))
    shown_not_billed = has_init & (is_plain | (is_legacy & ~is_init))
    shown_billed = is_init & ~is_plain & ~shown_not_billed
    return rule, shown_billed, shown_not_billed


def _init_billed(billed: np.ndarray, not_billed: np.ndarray, index: pd.Index) -> pd.Series:
    """The nullable `init_billed` column: True, False, or NA where neither was shown."""
    return pd.Series(pd.arrays.BooleanArray(billed.copy(), ~(billed | not_billed)),
                     index=index, copy=False)


def classify_rules(inv: pd.DataFrame) -> pd.DataFrame:
    """Add `billing_rule` and `init_billed` (bool or NA) for records with a billed figure.

    Expects duration_ms, reported_billed_ms, billable_init_ms, billed_restore_ms.
    """
    rule, billed, not_billed = _rules(
        inv["reported_billed_ms"].to_numpy(dtype=float), inv["duration_ms"].to_numpy(dtype=float),
        inv["billable_init_ms"].to_numpy(dtype=float), _floats_of(inv, "billed_restore_ms"))
    out = inv  # columns are added in place: copying a wide frame per step costs memory
    out["billing_rule"] = pd.Series(np.array([*RULES, None], dtype=object)[rule],
                                    index=inv.index, dtype=object)
    out["init_billed"] = _init_billed(billed, not_billed, inv.index)
    return out


def compute_billing(inv: pd.DataFrame) -> pd.DataFrame:
    """Add billed_ms, billed_source, billing_rule, init_billed, billed_start_ms, billed_end_ms
    and gb_seconds.

    Expects function, duration_ms, reported_billed_ms, init_ms, report_dialect,
    billed_restore_ms, start_ms, memory_mb, managed (bool: priced per instance, not billed).
    Worked on float arrays; the function's init rule is looked up only when some row's billed
    time has to be computed.
    """
    # (columns are added to `inv` in place)
    init = np.where(report_is_rie(inv), np.nan, inv["init_ms"].to_numpy(dtype=float))
    reported = inv["reported_billed_ms"].to_numpy(dtype=float)
    d = inv["duration_ms"].to_numpy(dtype=float)
    restore_or_nan = _floats_of(inv, "billed_restore_ms")
    rule, shown_billed, shown_not_billed = _rules(reported, d, init, restore_or_nan)
    has_init = ~np.isnan(init)
    computed = np.isnan(reported) & ~np.isnan(d) & ~inv["managed"].to_numpy(dtype=bool)
    include_init = np.zeros(len(inv), dtype=bool)
    if computed.any():
        include_init = _function_rule(inv, shown_billed, shown_not_billed, computed) & has_init
    restore = np.where(np.isnan(restore_or_nan), 0.0, restore_or_nan)
    with_init = _ceil(d + np.where(has_init, init, 0.0))
    computed_ms = np.where(include_init, with_init, _ceil(d)) + restore
    billed_ms = np.where(computed, computed_ms, reported)
    inv["billed_ms"] = billed_ms
    inv["billed_source"] = _select([~np.isnan(reported), computed], ["report", "computed"],
                                   default=None)
    names = np.array([*RULES, None, "computed:duration+init", "computed:duration"], dtype=object)
    rule = np.where(computed, np.where(include_init, len(RULES) + 1, len(RULES) + 2), rule)
    inv["billing_rule"] = pd.Series(names[rule], index=inv.index, dtype=object)
    with_init_known = computed & has_init
    shown_billed = np.where(with_init_known, include_init, shown_billed)
    shown_not_billed = np.where(with_init_known, ~include_init, shown_not_billed)
    inv["init_billed"] = _init_billed(shown_billed, shown_not_billed, inv.index)
    lead = np.where(shown_billed, np.where(has_init, init, 0.0), 0.0)
    lead = lead + np.where(rule == RULES.index("duration+restore"), restore, 0.0)
    billed_start = inv["start_ms"].to_numpy(dtype=float) - lead
    inv["billed_start_ms"] = billed_start
    inv["billed_end_ms"] = billed_start + billed_ms
    inv["gb_seconds"] = billed_ms / 1000.0 * inv["memory_mb"].to_numpy(dtype=float) / 1024.0
    return inv


def _function_rule(inv: pd.DataFrame, shown_billed: np.ndarray, shown_not_billed: np.ndarray,
                   computed: np.ndarray) -> np.ndarray:
    """Per row: does its function bill init? Yes when any record of the function shows init
    billed, or when none shows it either way (the rule in force since 2025-08-01); rows
    without a function, yes. Only the rows that show something or are computed are read."""
    known = shown_billed | shown_not_billed
    rows = np.flatnonzero(known | computed)
    code, names = pd.factorize(inv["function"].to_numpy(dtype=object)[rows])
    groups = len(names) + 1  # (shifted by one: code -1, no function, is group 0)
    shown = np.bincount(code[known[rows]] + 1, minlength=groups) > 0
    billed = np.bincount(code[shown_billed[rows]] + 1, minlength=groups) > 0
    rule = ~shown | billed
    rule[0] = True  # no function, no evidence
    out = np.zeros(len(inv), dtype=bool)
    out[rows] = rule[code + 1]
    return out
