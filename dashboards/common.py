"""Shared pieces of the dashboard builders: panel layout, Tempo explore links, JSON output."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef

TEMPO = DataSourceRef(type_val="tempo", uid="${tempo}")
_PLACEHOLDER = re.compile(r"(\$\{[^}]+\})")


class PanelIds:
    """Stable panel ids in the order panels are added (Grafana needs them unique)."""

    def __init__(self) -> None:
        self.next_id = 1

    def __call__(self) -> int:
        current = self.next_id
        self.next_id += 1
        return current


def explore_url(datasource_uid: str, query: str, query_type: str = "traceql") -> str:
    """A Grafana Explore link running `query` on the datasource, over the panel's time range.
    `${...}` placeholders stay literal so Grafana interpolates them when the link is opened."""
    pane = {
        "lctrace": {
            "datasource": datasource_uid,
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": "tempo", "uid": datasource_uid},
                    "queryType": query_type,
                    "query": query,
                }
            ],
            "range": {"from": "${__from}", "to": "${__to}"},
        }
    }
    raw = json.dumps(pane, separators=(",", ":"))
    encoded = "".join(
        part if _PLACEHOLDER.fullmatch(part) else quote(part, safe="")
        for part in _PLACEHOLDER.split(raw)
    )
    return f"/explore?schemaVersion=1&orgId=1&panes={encoded}"


def trace_link(title: str, traceql: str) -> dash.DashboardLink:
    """A data link from a panel to the matching traces in Tempo."""
    return (
        dash.DashboardLink(title)
        .url(explore_url("${tempo}", traceql))
        .target_blank(True)
        .tooltip("Open the matching lctrace spans in Tempo")
    )


def timeseries_panel(
    panel_id: int, title: str, description: str, unit: str, *, width: int = 12,
    height: int = 8, stacked: bool = False,
) -> timeseries.Panel:  # fmt: skip
    """A time series panel with a table legend (last/max) - what on-call engineers read."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(height)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def stat_panel(panel_id: int, title: str, description: str, unit: str) -> stat.Panel:
    """A single number for the overview row."""
    return (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .unit(unit)
        .span(3)
        .height(4)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    )


def to_json(built: Any) -> str:
    """Stable, diff-friendly JSON (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
