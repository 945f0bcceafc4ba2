"""Formatting shared by the table and Markdown renderers."""

from __future__ import annotations

import math

from lifecycle_trace.analysis.findings import Finding
from lifecycle_trace.analysis.model import Report

SHOWN_PER_KIND = 10
"""Findings of one kind shown in full by the table and Markdown reports (JSON has them all)."""

FUNCTION_HEADERS = ("function", "version", "calls", "cold", "to/err/crash", "p50 ms", "p99 ms",
                    "init p50", "billed ms", "cost")


def num(value: object, digits: int = 0) -> str:
    """A number for people: thousands separators, '-' when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def money(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    amount = float(value)  # type: ignore[arg-type]
    return f"${amount:,.6f}" if amount < 1 else f"${amount:,.2f}"


def rate(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else str(part)


def short_env(environment: str | None, keep: int = 8) -> str:
    """`2026/01/01/[$LATEST]0123...cdef` -> `2026/01/01/[$LATEST]0123cdef`-ish: date, qualifier
    and the first `keep` hex digits, enough to tell streams apart in a table."""
    if not environment:
        return "-"
    head, sep, tail = environment.rpartition("]")
    return f"{head}{sep}{tail[:keep]}…" if sep and len(tail) > keep else environment


def summary_lines(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary block."""
    s = report.summary
    n = int(s["invocations"])  # type: ignore[arg-type]
    by_type = ", ".join(f"{k} {v}" for k, v in s["cold_starts_by_type"].items())  # type: ignore[union-attr]
    by_cause = ", ".join(f"{k} {v}" for k, v in s["cold_starts_by_cause"].items())  # type: ignore[union-attr]
    d, i = s["duration_ms"], s["init_ms"]
    pricing = report.pricing
    price = (f"flat ${pricing['price_per_gb_second']}/GB-s" if pricing.get("price_per_gb_second")
             is not None else f"{pricing['architecture']} {pricing['region']} list prices")
    return [
        ("invocations", f"{n:,} in {s['environments']} environments"),
        ("cold starts", rate(int(s["cold_starts"]), n)  # type: ignore[arg-type]
         + (f"  [{by_type}]" if by_type else "") + (f"  causes: {by_cause}" if by_cause else "")),
        ("outcomes", f"{s['timeouts']} timeouts, {s['errors']} errors, {s['crashes']} crashes"),
        ("duration ms", f"p50 {num(d['p50'], 1)}  p90 {num(d['p90'], 1)}  "  # type: ignore[index]
                        f"p99 {num(d['p99'], 1)}  max {num(d['max'], 1)}"),  # type: ignore[index]
        ("init ms", f"p50 {num(i['p50'], 1)}  p90 {num(i['p90'], 1)}  "  # type: ignore[index]
                    f"p99 {num(i['p99'], 1)}  max {num(i['max'], 1)}"),  # type: ignore[index]
        ("billed", f"{num(s['billed_ms'])} ms = {num(s['gb_seconds'], 3)} GB-s"),
        ("cost", f"{money(s['cost_usd'])} ({price}, requests "
                 f"${pricing['request_price_per_million']}/1M, free tier "
                 f"{'applied' if pricing['free_tier_applied'] else 'not applied'})"),
        ("findings", ", ".join(f"{k} {v}" for k, v in s["findings_by_kind"].items() if v)  # type: ignore[union-attr]
         or "none"),
    ]


def function_rows(report: Report) -> list[tuple[str, ...]]:
    rows = []
    for f in report.functions:
        n = int(f["invocations"])  # type: ignore[arg-type]
        rows.append((
            str(f["function"]), str(f["version"] or "-"), f"{n:,}",
            rate(int(f["cold_starts"]), n),  # type: ignore[arg-type]
            f"{f['timeouts']}/{f['errors']}/{f['crashes']}",
            num(f["duration_ms"]["p50"], 1),  # type: ignore[index]
            num(f["duration_ms"]["p99"], 1), num(f["init_ms"]["p50"], 1),  # type: ignore[index]
            num(f["billed_ms"]), money(f["cost_usd"]),
        ))
    return rows


def shown_findings(report: Report) -> tuple[list[Finding], dict[str, int]]:
    """The findings to print in full (the first `SHOWN_PER_KIND` of each kind, in report
    order), and how many of each kind were left out."""
    shown: list[Finding] = []
    seen: dict[str, int] = {}
    for finding in report.findings:
        seen[finding.kind] = seen.get(finding.kind, 0) + 1
        if seen[finding.kind] <= SHOWN_PER_KIND:
            shown.append(finding)
    hidden = {kind: n - SHOWN_PER_KIND for kind, n in seen.items() if n > SHOWN_PER_KIND}
    return shown, hidden


def hidden_note(hidden: dict[str, int]) -> str:
    return ("Not shown: " + ", ".join(f"{n} more {kind}" for kind, n in hidden.items())
            + " (`--format json` lists every finding).")
