"""The cost part of the HTML report: billed ms and cost by function, phase and finding.

Function figures come from the report (`data-metric`); the phase split and the per-finding
sums are computed here from the invocations table and the findings (`data-derived`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lifecycle_trace.report.html_charts import PALETTE, bars_svg, esc
from lifecycle_trace.report.html_sections import derived, figure, format_value, rank

MAX_BARS = 30

FUNCTION_FIELDS = (
    ("invocations", "Invocations", "int"),
    ("cold_starts", "Cold", "int"),
    ("cold_start_rate", "Cold rate", "pct"),
    ("errors", "Errors", "int"),
    ("timeouts", "Timeouts", "int"),
    ("crashes", "Crashes", "int"),
    ("duration_ms.p50", "p50", "ms"),
    ("duration_ms.p99", "p99", "ms"),
    ("init_ms.p50", "Init p50", "ms"),
    ("billed_ms", "Billed", "ms"),
    ("gb_seconds", "GB-s", "num"),
    ("cost_usd", "Cost", "usd"),
)


def phase_split(frame: pd.DataFrame) -> dict[str, float]:
    """Billed ms split into lifecycle phases, summed over invocations with a billed figure.

    Init counts only where the invocation's billed ms covers it (custom runtimes, images,
    on-demand since 2025-08); restore is the billed restore (billed − ceil(duration)); the
    remainder after the measured phases is rounding (or, negative, clamping at the timeout)."""
    rows = frame[frame["billed_ms"].notna()]
    billed = rows["billed_ms"]
    duration = rows["duration_ms"].fillna(0.0)
    init = rows["init_ms"].fillna(0.0)
    covered = billed >= duration + init - 1  # inferred when the table does not say
    if "init_billed" in rows:
        covered = rows["init_billed"].astype("boolean").fillna(covered).astype(bool)
    init_billed = init.where(rows["cold"] & (init > 0) & covered, 0.0)
    restore = (billed - np.ceil(duration)).clip(lower=0).where(rows["restore_ms"] > 0, 0.0)
    handler = rows["handler_ms"].fillna(0.0)
    response = rows["response_ms"].fillna(0.0)
    post = rows["post_response_ms"].fillna(0.0)
    unsplit = (duration - handler - response - post).clip(lower=0)
    phases = {
        "init": init_billed,
        "restore": restore,
        "handler": handler,
        "response": response,
        "post-response": post,
        "invocation (not split)": unsplit,
    }
    out = {name: float(values.sum()) for name, values in phases.items()}
    out["rounding / clamping"] = float(billed.sum()) - sum(out.values())
    return out


def cost_section(report_json: dict[str, Any], frame: pd.DataFrame) -> str:
    summary = report_json.get("summary") or {}
    functions = report_json.get("functions") or []
    findings = report_json.get("findings") or []
    total_billed = summary.get("billed_ms") or 0
    cost = summary.get("cost_usd")

    def share(ms: float) -> float | None:
        return None if cost is None or not total_billed else cost * ms / total_billed

    function_bars = bars_svg(
        [
            (
                f"{f.get('function') or '(unknown)'}:{f.get('version') or '-'}",
                float(f.get("billed_ms") or 0),
                format_value(f.get("billed_ms"), "ms")
                + " · "
                + format_value(f.get("cost_usd"), "usd"),
            )
            for f in sorted(functions, key=lambda f: -float(f.get("billed_ms") or 0))[:MAX_BARS]
        ],  # fmt: skip
        label="billed ms by function",
    )
    if len(functions) > MAX_BARS:
        function_bars += (
            f'<p class="notice">The chart shows the {MAX_BARS} functions billed the most of '
            f"{len(functions):,}; the table lists them all.</p>"
        )
    phases = phase_split(frame)
    phase_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{derived(f'phase.{name}.billed_ms', ms, 'ms')}</td>"
        f"<td>{derived(f'phase.{name}.cost_usd', share(ms), 'usd')}</td></tr>"
        for name, ms in phases.items()
    )
    phase_bars = bars_svg(
        [(name, max(ms, 0.0), format_value(ms, "ms")) for name, ms in phases.items()],
        label="billed ms by phase",
        color=PALETTE[2],
    )
    kinds: dict[str, list[float]] = {}
    priced = all("cost_usd" in finding for finding in findings)
    for finding in findings:
        entry = kinds.setdefault(str(finding.get("kind")), [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += float(finding.get("billed_ms") or 0)
        entry[2] += float(finding.get("cost_usd") or 0)
    ordered = sorted(kinds.items(), key=lambda item: rank(item[0]))
    kind_rows = "".join(
        f"<tr><td>{esc(kind)}</td><td>{derived(f'finding.{kind}.count', count, 'int')}</td>"
        f"<td>{derived(f'finding.{kind}.billed_ms', ms, 'ms')}</td>"
        f"<td>{derived(f'finding.{kind}.cost_usd', usd if priced else share(ms), 'usd')}</td></tr>"
        for kind, (count, ms, usd) in ordered
    )
    kind_bars = bars_svg(
        [(kind, ms, format_value(ms, "ms")) for kind, (_, ms, _) in ordered],
        label="billed ms by finding",
        color=PALETTE[3],
    )
    return (
        f'<section id="cost"><h2>Billed time and cost</h2>{_pricing(report_json.get("pricing"))}'
        f"<h3>By function</h3>{function_bars}{_functions_table(functions)}"
        '<div class="pair"><div><h3>By phase</h3>'
        f"{phase_bars}<table><thead><tr><th>Phase</th><th>Billed</th><th>Cost share</th></tr>"
        f"</thead><tbody>{phase_rows}</tbody></table></div>"
        f"<div><h3>By finding</h3>{kind_bars}"
        "<table><thead><tr><th>Finding</th><th>Count</th><th>Billed</th><th>Cost share</th>"
        f"</tr></thead><tbody>{kind_rows}</tbody></table></div></div>"
        '<p class="note">Phase costs (and finding costs when the report prices no finding) are '
        "shares of the report's total cost in proportion to billed ms (request charges "
        "included); finding costs otherwise add up the findings' own cost_usd. Phases come "
        "from the invocation "
        "table, so sources without phase spans show their time as “invocation (not split)”.</p>"
        "</section>"
    )


def _functions_table(functions: Sequence[dict[str, Any]]) -> str:
    if not functions:
        return ""
    head = "<th>Function</th><th>Version</th>" + "".join(
        f"<th>{esc(label)}</th>" for _, label, _ in FUNCTION_FIELDS
    )
    rows = []
    for index, function in enumerate(functions):
        cells = [
            f"<td>{esc(function.get('function'))}</td>",
            f"<td>{esc(function.get('version'))}</td>",
        ]
        for path, _, style in FUNCTION_FIELDS:
            found, value = _lookup(function, path)
            cells.append(
                f"<td>{figure(f'functions.{index}.{path}', value, style) if found else ''}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable functions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _lookup(mapping: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = mapping
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _pricing(pricing: Any) -> str:
    """The assumptions behind every cost on the page (architecture, region, rates)."""
    if not isinstance(pricing, dict) or not pricing:
        return ""
    region = esc(pricing.get("region") or "?")
    if pricing.get("region_source"):
        region += f" ({esc(pricing['region_source'])})"
    rate = pricing.get("price_per_gb_second") or pricing.get("blended_price_per_gb_second")
    key = (
        "price_per_gb_second"
        if pricing.get("price_per_gb_second")
        else "blended_price_per_gb_second"
    )
    parts = [
        f"Priced as {esc(pricing.get('architecture') or '?')} in {region}",
        f"{figure(f'pricing.{key}', rate, 'rate')} per GB-second" if key in pricing else "",
        _per_million(pricing),
        "free tier applied" if pricing.get("free_tier_applied") else "free tier not applied",
        esc(pricing.get("source") or ""),
    ]
    return f'<p class="note pricing">{"; ".join(p for p in parts if p)}.</p>'


def _per_million(pricing: dict[str, Any]) -> str:
    if "request_price_per_million" not in pricing:
        return ""
    value = pricing["request_price_per_million"]
    return f"{figure('pricing.request_price_per_million', value, 'rate')} per million requests"
