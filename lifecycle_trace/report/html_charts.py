"""Inline SVG charts for the HTML report: histogram, horizontal bars, stacked time bars.

Pure string building (no plotting library, no network): every chart is one `<svg>` element
whose marks carry a `<title>` tooltip. All text passes through `esc`; callers hand in raw
strings. The execution-environment timeline lives in `html_timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

import numpy as np

PALETTE = (
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
    "#0ea5e9", "#f97316", "#84cc16", "#ec4899", "#64748b",
)  # fmt: skip
FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def esc(text: object) -> str:
    """Text or attribute value, HTML-escaped (quotes included)."""
    return escape(str(text), quote=True)


def fmt_ms(value: float) -> str:
    """A duration for axis labels and tooltips: ms below 10 s, then s, then min/h."""
    if value < 10_000:
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if value < 600_000:
        return f"{value / 1000:,.1f} s"
    if value < 7_200_000:
        return f"{value / 60_000:,.1f} min"
    return f"{value / 3_600_000:,.1f} h"


def fmt_time(epoch_ms: float, with_date: bool = True) -> str:
    """Epoch ms as UTC wall time."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    if with_date:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%H:%M:%S.%f")[:12]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def empty_chart(message: str) -> str:
    """A placeholder where a chart has no data (stated, not silently missing)."""
    return f'<p class="empty">{esc(message)}</p>'


def histogram_svg(
    values: np.ndarray,
    *,
    label: str,
    markers: Mapping[str, float | None] | None = None,
    bins: int = 40,
    width: int = 540,
    height: int = 220,
) -> str:
    """Histogram of positive durations (ms); log-spaced bins when they span > 2 decades.
    `markers` (e.g. p50/p90/p99 from the report) are drawn as labelled dashed lines."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return empty_chart(f"No {label} values in this input.")
    low, high = float(values.min()), float(values.max())
    use_log = low > 0 and high / low > 100
    if high <= low:
        high = low + 1.0
    edges = np.geomspace(low, high, bins + 1) if use_log else np.linspace(low, high, bins + 1)
    counts, edges = np.histogram(values, bins=edges)
    left, right, top, bottom = 48, 12, 18, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(int(counts.max()), 1)

    def x_of(value: float) -> float:
        if use_log:
            span = math.log(high) - math.log(low)
            return left + (math.log(max(value, low)) - math.log(low)) / span * plot_w
        return left + (value - low) / (high - low) * plot_w

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" {FONT} aria-label="{esc(label)} histogram">'
    ]
    for count, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        if count == 0:
            continue
        x0, x1 = x_of(lo), x_of(hi)
        bar_h = count / peak * plot_h
        parts.append(
            f'<rect class="bar" x="{x0:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{max(x1 - x0 - 1, 1):.1f}" height="{bar_h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{esc(fmt_ms(lo))} – {esc(fmt_ms(hi))}: {int(count):,}</title></rect>"
        )
    parts.append(_axis_lines(left, top, plot_w, plot_h))
    tick_values = _log_ticks(low, high) if use_log else nice_ticks(low, high)
    for tick in tick_values:
        x = x_of(tick)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="axis">'
            f"{esc(fmt_ms(tick))}</text>"
        )
    parts.append(
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="axis">{peak:,}</text>'
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle" class="axis">'
        f"{esc(label)}{' (log scale)' if use_log else ''}</text>"
    )
    shown = []
    for index, (name, value) in enumerate((markers or {}).items()):
        if value is None or not math.isfinite(value) or not low <= value <= high:
            continue
        x = x_of(value)
        shown.append(f"{name} {fmt_ms(value)}")
        right_side = x > left + plot_w * 0.8
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{PALETTE[3]}" stroke-dasharray="3,2"><title>{esc(name)} {esc(fmt_ms(value))}'
            f'</title></line><text x="{x + (-3 if right_side else 3):.1f}" '
            f'y="{top + 10 + 11 * index}" class="marker" '
            f'text-anchor="{"end" if right_side else "start"}">{esc(name)}</text>'
        )
    if shown:
        parts.append(
            f'<text x="{left + plot_w}" y="{top - 6}" text-anchor="end" class="marker">'
            f"{esc(' · '.join(shown))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _log_ticks(low: float, high: float) -> list[float]:
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return [10.0**p for p in range(first, last + 1) if low <= 10.0**p <= high] or [low, high]


def _axis_lines(left: float, top: float, plot_w: float, plot_h: float) -> str:
    return (
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'class="axisline"/><line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" '
        f'class="axisline"/>'
    )


def bars_svg(
    items: Sequence[tuple[str, float, str]],
    *,
    label: str,
    width: int = 540,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars: (name, value, value text). Names are truncated on the chart and kept
    whole in the tooltip."""
    items = [item for item in items if item[1] is not None and math.isfinite(item[1])]
    if not items:
        return empty_chart(f"No {label} in this input.")
    row_h, left, right = 20, 190, 170
    height = row_h * len(items) + 8
    peak = max((value for _, value, _ in items), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" {FONT} aria-label="{esc(label)}">'
    ]
    for index, (name, value, text) in enumerate(items):
        y = 4 + index * row_h
        bar_w = max(value / peak * (width - left - right), 1 if value > 0 else 0)
        short = name if len(name) <= 30 else name[:28] + "…"
        parts.append(
            f"<g><title>{esc(name)}: {esc(text)}</title>"
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" class="axis">{esc(short)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{bar_w:.1f}" height="{row_h - 6}" '
            f'fill="{color}"/><text x="{left + bar_w + 4:.1f}" y="{y + 13}" class="axis">'
            f"{esc(text)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_time_svg(
    bucket_starts: np.ndarray,
    bucket_ms: float,
    series: Mapping[str, np.ndarray],
    *,
    label: str,
    width: int = 1100,
    height: int = 220,
) -> str:
    """Stacked bars over time buckets (epoch ms starts), one colour per series, with a legend."""
    if bucket_starts.size == 0 or not series:
        return empty_chart(f"No {label} in this input.")
    left, right, top, bottom = 48, 12, 26, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = np.sum(np.vstack(list(series.values())), axis=0)
    peak = max(int(totals.max()), 1)
    step = plot_w / bucket_starts.size
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" {FONT} aria-label="{esc(label)}">'
    ]
    legend_x = left
    for name, color in colors.items():
        total = int(series[name].sum())
        text = f"{name} ({total:,})"
        parts.append(
            f'<rect x="{legend_x}" y="4" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="13" class="axis">{esc(text)}</text>'
        )
        legend_x += 24 + 7 * len(text)
    for index, start in enumerate(bucket_starts):
        base = top + plot_h
        for name, counts in series.items():
            count = int(counts[index])
            if count == 0:
                continue
            bar_h = count / peak * plot_h
            base -= bar_h
            parts.append(
                f'<rect x="{left + index * step:.1f}" y="{base:.1f}" '
                f'width="{max(step - 1, 1):.1f}" height="{bar_h:.1f}" fill="{colors[name]}">'
                f"<title>{esc(fmt_time(float(start)))} +{esc(fmt_ms(bucket_ms))}: "
                f"{count:,} {esc(name)}</title></rect>"
            )
    parts.append(_axis_lines(left, top, plot_w, plot_h))
    parts.append(
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="axis">{peak:,}</text>'
    )
    ticks = np.unique(
        np.linspace(0, bucket_starts.size - 1, min(bucket_starts.size, 5)).astype(int)
    )
    for index in ticks:
        anchor = "start" if index == 0 else "end" if index == ticks[-1] else "middle"
        parts.append(
            f'<text x="{left + index * step:.1f}" y="{top + plot_h + 14}" '
            f'text-anchor="{anchor}" class="axis">{esc(fmt_time(float(bucket_starts[index])))}'
            "</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


class TimeAxis:
    """Epoch ms -> x pixels, with long silent stretches collapsed into `BREAK_W`-wide breaks.

    Logs often hold bursts months apart; a linear axis would squeeze each burst below a
    pixel. Activity intervals are merged into clusters; gaps longer than a tenth of the span
    The longest gaps (over a minute and over 5 % of what is left of the span, at most
    `MAX_BREAKS`) become breaks; each cluster gets at least half an equal share of the width.
    """

    BREAK_W = 26
    MAX_BREAKS = 12

    def __init__(self, starts: np.ndarray, ends: np.ndarray, left: float, width: float) -> None:
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], np.maximum(ends[order], starts[order])
        runs: list[list[float]] = [[float(starts[0]), float(ends[0])]]
        for start, end in zip(starts[1:], ends[1:], strict=True):
            if start > runs[-1][1]:
                runs.append([float(start), float(end)])
            else:
                runs[-1][1] = max(runs[-1][1], float(end))
        gaps = sorted(
            ((runs[i + 1][0] - runs[i][1], i) for i in range(len(runs) - 1)), reverse=True
        )
        remaining, collapsed = runs[-1][1] - runs[0][0], set()
        for length, index in gaps[: self.MAX_BREAKS]:
            if length < 60_000 or length < remaining * 0.05:
                break
            collapsed.add(index)
            remaining -= length
        clusters = [list(runs[0])]
        for index, run in enumerate(runs[1:]):
            if index in collapsed:
                clusters.append(list(run))
            else:
                clusters[-1][1] = run[1]
        for cluster in clusters:
            cluster[1] = max(cluster[1], cluster[0] + 1.0)
        available = width - self.BREAK_W * (len(clusters) - 1)
        total = sum(end - start for start, end in clusters)
        knots_t, knots_x, self.breaks, self.clusters = [], [], [], []
        x = left
        for index, (start, end) in enumerate(clusters):
            share = 0.5 / len(clusters) + 0.5 * (end - start) / total
            if index:
                self.breaks.append((x - self.BREAK_W, x, clusters[index - 1][1], start))
            knots_t += [start, end]
            knots_x += [x, x + available * share]
            self.clusters.append((start, end, x, x + available * share))
            x += available * share + self.BREAK_W
        self.knots_t, self.knots_x = np.array(knots_t), np.array(knots_x)
        self.low, self.high, self.right = clusters[0][0], clusters[-1][1], left + width

    def x(self, epoch_ms: float | np.ndarray) -> np.ndarray | float:
        """Pixel position of a time (clamped to the axis)."""
        return np.interp(epoch_ms, self.knots_t, self.knots_x)

    def t(self, x: float | np.ndarray) -> np.ndarray | float:
        """Time at a pixel position (inverse of `x`; a break maps to its far edge)."""
        return np.interp(x, self.knots_x, self.knots_t)

    def svg(self, top: float, bottom: float) -> str:
        """Grid lines and tick labels per cluster, and a marked break for each collapsed gap."""
        parts = []
        with_date = self.high - self.low > 86_400_000 or len(self.clusters) > 1
        last_label = -1e9
        for start, end, x0, x1 in self.clusters:
            ticks = nice_ticks(start, end, max(int((x1 - x0) // 160), 1))
            for tick in ticks if len(ticks) > 1 or (x1 - x0) > 130 else [start]:
                x = float(self.x(tick))
                parts.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{bottom}" class="grid"/>'
                )
                if x - last_label >= 125 and x <= self.right - 110:  # labels never overlap
                    last_label = x
                    parts.append(
                        f'<text x="{x:.1f}" y="{top - 8}" text-anchor="start" class="axis">'
                        f"{esc(fmt_time(tick, with_date=with_date))}</text>"
                    )
        for x0, x1, gap_from, gap_to in self.breaks:
            parts.append(
                f'<rect class="break" x="{x0 + 4:.1f}" y="{top - 4}" width="{x1 - x0 - 8:.1f}" '
                f'height="{bottom - top + 4}"><title>{esc(fmt_ms(gap_to - gap_from))} with no '
                f"activity ({esc(fmt_time(gap_from))} – {esc(fmt_time(gap_to))} UTC), collapsed"
                "</title></rect>"
            )
        return "".join(parts)
