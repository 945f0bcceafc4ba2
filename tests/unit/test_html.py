"""The HTML report: figures equal the JSON report's, text is escaped, the page is self-contained,
and large inputs are aggregated (and the page says so)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from lifecycle_trace.report.html import build_html, render_html
from lifecycle_trace.report.html_cost import phase_split
from lifecycle_trace.report.html_sections import MAX_FINDINGS
from lifecycle_trace.report.html_timeline import BUCKETS, MAX_DETAILED, MAX_LANES

EVIL = '<script>console.error("xss")</script><img src=x onerror="console.error(1)">"\'&'
BASE_MS = 1_790_000_000_000.0


def make_invocations(count: int, environments: int, seed: int = 7) -> pd.DataFrame:
    """A plausible invocations table: cold first invocation per environment, mixed statuses,
    some post-response work, idle gaps between invocations."""
    rng = np.random.default_rng(seed)
    rows = []
    per_env = max(count // environments, 1)
    for env_index in range(environments):
        clock = BASE_MS + env_index * 7_000.0
        stream = f"2026/09/21/[$LATEST]{env_index:032x}"
        for index in range(per_env):
            cold = index == 0
            init_ms = float(rng.uniform(120, 900)) if cold else math.nan
            clock += (init_ms if cold else 0.0) + float(rng.exponential(2_000))
            duration = float(rng.lognormal(4, 1))
            post = float(rng.uniform(0, duration)) if index % 4 == 1 else math.nan
            status = ("success",) * 17 + ("error", "timeout", "crash")
            rows.append(
                {
                    "request_id": f"req-{env_index}-{index}",
                    "function": "orders" if env_index % 2 else "payments",
                    "version": "$LATEST",
                    "environment": stream,
                    "start": clock,
                    "end": clock + duration,
                    "duration_ms": duration,
                    "billed_ms": float(math.ceil(duration + (init_ms if cold else 0.0))),
                    "memory_mb": 512,
                    "init_ms": init_ms,
                    "cold": cold,
                    "cold_cause": ("deploy" if env_index < 2 else "scale_out") if cold else None,
                    "status": status[int(rng.integers(0, len(status)))],
                    "error_type": None,
                    "post_response_ms": post,
                }
            )
            clock += duration
    return pd.DataFrame(rows)


def _stats(values: pd.Series) -> dict[str, float | None]:
    if values.empty:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    return {
        "p50": float(values.quantile(0.5)),
        "p90": float(values.quantile(0.9)),
        "p99": float(values.quantile(0.99)),
        "max": float(values.max()),
    }


def summarize(frame: pd.DataFrame) -> dict:
    billed = float(frame["billed_ms"].sum())
    gb_seconds = billed / 1000 * 512 / 1024
    return {
        "invocations": len(frame),
        "cold_starts": int(frame["cold"].sum()),
        "cold_start_rate": float(frame["cold"].mean()),
        "environments": int(frame["environment"].nunique()),
        "timeouts": int((frame["status"] == "timeout").sum()),
        "errors": int((frame["status"] == "error").sum()),
        "crashes": int((frame["status"] == "crash").sum()),
        "duration_ms": _stats(frame["duration_ms"]),
        "init_ms": _stats(frame["init_ms"].dropna()),
        "billed_ms": billed,
        "gb_seconds": gb_seconds,
        "cost_usd": gb_seconds * 0.0000166667 + len(frame) * 0.2e-6,
    }


def make_report(frame: pd.DataFrame, evil: str = "") -> dict:
    """A `lctrace.report/v1` dict consistent with `frame` (+ `evil` text in every string)."""
    functions = []
    for (function, version), part in frame.groupby(["function", "version"]):
        functions.append({"function": function + evil, "version": version, **summarize(part)})
    timeouts = frame[frame["status"] == "timeout"]
    timeout = timeouts.iloc[0] if len(timeouts) else frame.iloc[-1]
    return {
        "schema": "lctrace.report/v1",
        "sources": [
            {
                "path": "logs/" + evil + "a.json",
                "format": "filter-log-events",
                "records": 4 * len(frame),
                "skipped": 2,
                "errors": [f"logs/a.json:17: expected a JSON object {evil}"],
            }
        ],
        "pricing": {
            "architecture": "arm64",
            "region": "eu-west-1",
            "region_source": "--region",
            "price_per_gb_second": None,
            "blended_price_per_gb_second": 1.33334e-05,
            "request_price_per_million": 0.2,
            "free_tier_applied": False,
            "source": "AWS list prices" + evil,
        },
        "summary": summarize(frame),
        "functions": functions,
        "findings": [
            {
                "kind": "timeout",
                "severity": "high",
                "function": timeout["function"] + evil,
                "environment": timeout["environment"],
                "request_id": timeout["request_id"],
                "billed_ms": timeout["billed_ms"],
                "evidence": [f"REPORT RequestId: {timeout['request_id']} Status: timeout {evil}"],
            },
            {
                "kind": "never_polled",
                "severity": "critical",
                "function": "payments",
                "environment": frame["environment"].iloc[0],
                "request_id": None,
                "billed_ms": None,
                "evidence": [{"lctrace": "stuck", "kind": "never_polled", "note": evil}],
            },
            {
                "kind": "post_response_overhead" + evil,
                "severity": "low" + evil,
                "function": "orders",
                "environment": evil,
                "request_id": evil,
                "billed_ms": 12.5,
                "evidence": evil,
            },
        ],
    }


class Figures(HTMLParser):
    """Collects `data-metric`/`data-derived` elements (value attribute and visible text)."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, tuple[str, str]] = {}
        self.derived: dict[str, tuple[str, str]] = {}
        self._open: tuple[dict, str, str] | None = None
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self.attrs: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.attrs["body"] = attributes
        if tag == "script":
            self._script = attributes
        for kind, store in (("data-metric", self.metrics), ("data-derived", self.derived)):
            if kind in attributes:
                self._open = (store, attributes[kind], attributes["data-value"])

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))
        if self._open is not None:
            store, name, value = self._open
            store[name] = (value, data)
            self._open = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def parse(page: str) -> Figures:
    figures = Figures()
    figures.feed(page)
    return figures


def resolve(report: dict, path: str) -> object:
    value: object = report
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown_number(text: str) -> tuple[float, float]:
    """The number a figure shows and half a unit of its last digit (display precision)."""
    body = text.replace(",", "").replace("$", "").replace(" ms", "").strip()
    scale = 0.01 if body.endswith("%") else 1.0
    body = body.rstrip("%")
    decimals = len(body.split(".")[1]) if "." in body else 0
    return float(body) * scale, 0.5 * 10**-decimals * scale


def assert_figures_match(report: dict, figures: dict[str, tuple[str, str]]) -> None:
    for path, (value_text, visible) in figures.items():
        expected = resolve(report, path)
        assert json.loads(value_text) == expected, path
        if expected is None:
            assert visible == "—", path
        else:
            number, precision = shown_number(visible)
            assert abs(number - float(expected)) <= precision * 1.0001, (path, visible, expected)


@pytest.fixture(scope="module")
def small() -> tuple[dict, pd.DataFrame, str]:
    frame = make_invocations(240, 12)
    report = make_report(frame, EVIL)
    return report, frame, build_html(report, frame, None)


def test_every_report_figure_on_the_page_equals_the_json(small) -> None:
    report, _, page = small
    figures = parse(page).metrics
    expected = {
        f"summary.{k}" for k in report["summary"] if not isinstance(report["summary"][k], dict)
    }
    expected |= {
        f"summary.{k}.{p}" for k in ("duration_ms", "init_ms") for p in ("p50", "p90", "p99", "max")
    }
    expected |= {f"functions.{i}.{k}" for i in range(len(report["functions"]))
                 for k in ("invocations", "billed_ms", "cost_usd", "cold_start_rate")}  # fmt: skip
    expected |= {f"findings.{i}.billed_ms" for i in range(3)} | {"sources.0.records"}
    expected |= {"pricing.blended_price_per_gb_second", "pricing.request_price_per_million"}
    assert expected <= set(figures)
    assert_figures_match(report, figures)


def test_text_from_logs_is_escaped_everywhere(small) -> None:
    report, _, page = small
    assert "<script>console" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;console.error(&quot;xss&quot;)&lt;/script&gt;" in page
    assert "logs/a.json:17: expected a JSON object &lt;script&gt;" in page  # skip reasons shown
    figures = parse(page)
    executable = [
        data for attrs, data in figures.scripts if attrs.get("type") != "application/json"
    ]
    assert len(executable) == 1 and "xss" not in executable[0]
    embedded = [data for attrs, data in figures.scripts if attrs.get("id") == "lctrace-report"]
    assert json.loads(embedded[0]) == report
    assert "</" not in embedded[0]


def test_page_is_self_contained_and_only_its_own_script_may_run(small) -> None:
    _, _, page = small
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    script = [data for attrs, data in parse(page).scripts if not attrs][0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp
    assert f"script-src &#x27;sha256-{digest}&#x27;" in csp


def test_small_input_draws_every_invocation_init_post_response_idle_and_stuck(small) -> None:
    report, frame, page = small
    assert parse(page).attrs["body"]["data-timeline-mode"] == "detailed"
    assert page.count('class="inv"') == len(frame)
    assert page.count("<title>init ") == int(frame["cold"].sum())
    assert page.count("<title>post-response work") == int((frame["post_response_ms"] > 0).sum())
    assert page.count('class="idle"') > 0
    # one timeout finding with a request id, one never_polled environment without one
    assert page.count("<title>stuck: timeout</title>") == 1
    assert page.count(": never_polled</title>") == 1
    assert 'id="timeline-notice"' not in page


def test_large_input_is_aggregated_and_the_page_says_so() -> None:
    frame = make_invocations(MAX_DETAILED + 1200, 30)
    page = build_html(make_report(frame), frame, None)
    figures = parse(page)
    assert figures.attrs["body"]["data-timeline-mode"] == "aggregated"
    assert 'class="inv"' not in page
    cells = page.count('class="cell"')
    assert 30 <= cells <= 30 * BUCKETS
    notice = re.search(r'id="timeline-notice">([^<]+)<', page).group(1)
    assert f"{len(frame):,} invocations" in notice and "aggregated" in notice
    assert_figures_match(make_report(frame), figures.metrics)


def test_many_environments_are_capped_with_a_notice() -> None:
    frame = make_invocations(MAX_LANES + 50, MAX_LANES + 50)
    page = build_html(make_report(frame), frame, None)
    assert parse(page).attrs["body"]["data-timeline-lanes"] == str(MAX_LANES)
    assert f"Showing {MAX_LANES:,} of {MAX_LANES + 50:,} environments" in page


def test_findings_beyond_the_cap_are_counted_not_dropped_silently() -> None:
    frame = make_invocations(40, 2)
    report = make_report(frame)
    report["findings"] = report["findings"][:1] * (MAX_FINDINGS + 5)
    page = build_html(report, frame, None)
    assert f"Showing the first {MAX_FINDINGS:,} of {MAX_FINDINGS + 5:,} findings" in page
    assert page.count('data-kind="timeout"') == MAX_FINDINGS


def test_datetime_times_and_missing_columns_are_tolerated() -> None:
    frame = make_invocations(60, 3)
    as_datetimes = frame.assign(
        start=pd.to_datetime(frame["start"], unit="ms", utc=True),
        end=pd.to_datetime(frame["end"], unit="ms", utc=True),
    )
    assert _marks(build_html(make_report(frame), as_datetimes)) == _marks(
        build_html(make_report(frame), frame)
    )
    bare = frame[["request_id", "duration_ms"]]
    page = build_html(make_report(frame), bare, None)
    assert "No invocation has a start time" in page
    out = io.StringIO()
    render_html(make_report(frame), None, None, out)
    assert out.getvalue().startswith("<!DOCTYPE html>")


def _marks(page: str) -> list[str]:
    return re.findall(r'<rect class="inv" x="([\d.]+)"', page)


def test_environments_table_lists_known_columns() -> None:
    frame = make_invocations(20, 2)
    environments = pd.DataFrame(
        {
            "environment": ["2026/09/21/[$LATEST]" + "0" * 32, EVIL],
            "init_ms": [321.5, None],
            "cold_cause": ["deploy", None],
            "unrelated": [1, 2],
        }  # fmt: skip
    )
    page = build_html(make_report(frame), frame, environments)
    assert "Environments table (2)" in page and "<th>cold_cause</th>" in page
    assert "unrelated" not in page and "<td>321.50</td>" in page and "<img src=x" not in page


def test_phase_split_adds_up_to_billed_and_bills_init_only_when_covered() -> None:
    frame = pd.DataFrame(
        {
            "billed_ms": [1200.0, 50.0, 610.0],
            "duration_ms": [99.5, 49.2, 306.34],
            "init_ms": [1100.0, 400.0, math.nan],  # second: init not in billed (managed, 2023)
            "restore_ms": [math.nan, math.nan, 511.25],
            "cold": [True, True, True],
            "handler_ms": [80.0, math.nan, math.nan],
            "response_ms": [1.5, math.nan, math.nan],
            "post_response_ms": [18.0, math.nan, math.nan],
        }
    )
    phases = phase_split(frame)
    assert phases["init"] == 1100.0
    assert phases["restore"] == 610 - 307
    assert phases["handler"] == 80.0 and phases["post-response"] == 18.0
    assert sum(phases.values()) == pytest.approx(frame["billed_ms"].sum())


def test_page_derived_cost_by_finding_matches_the_findings(small) -> None:
    report, _, page = small
    derived = parse(page).derived
    timeout_ms = sum(f["billed_ms"] or 0 for f in report["findings"] if f["kind"] == "timeout")
    assert json.loads(derived["finding.timeout.billed_ms"][0]) == timeout_ms
    share = report["summary"]["cost_usd"] * timeout_ms / report["summary"]["billed_ms"]
    assert json.loads(derived["finding.timeout.cost_usd"][0]) == pytest.approx(share)


def test_real_report_of_the_shared_samples(samples_dir) -> None:
    import lifecycle_trace

    report = lifecycle_trace.analyze(
        sorted(str(p) for p in samples_dir.iterdir() if p.suffix != ".md")
    )
    report_json = json.loads(report.to_json())
    page = build_html(report_json, report.invocations, report.environments)
    figures = parse(page)
    assert_figures_match(report_json, figures.metrics)
    assert {f"summary.{k}" for k in ("invocations", "cold_starts", "billed_ms", "cost_usd")} <= set(
        figures.metrics
    )
    timed = report.invocations["start"].notna()
    assert page.count('class="inv"') == int(timed.sum())
    # every execution environment gets a lane, also those that served no timed invocation
    with_invocations = set(report.invocations.loc[timed, "environment"].dropna())
    envs = report.environments
    init_only = set(envs.loc[envs["first_seen"].notna(), "environment"]) - with_invocations
    assert figures.attrs["body"]["data-timeline-lanes"] == str(len(with_invocations | init_only))
    assert page.count("no invocation in this input</title>") == len(init_only)
    for finding in report_json["findings"]:
        for line in finding["evidence"]:
            assert html.escape(line, quote=True) in page


def test_timeline_shows_how_environments_ended_and_init_only_environments() -> None:
    frame = make_invocations(20, 2)
    crashed = frame["environment"].iloc[0]
    idle_env = "2026/09/21/[$LATEST]" + "f" * 32
    environments = pd.DataFrame(
        {
            "environment": [crashed, frame["environment"].iloc[-1], idle_env],
            "first_seen": pd.to_datetime(
                [BASE_MS, BASE_MS + 7_000, BASE_MS + 9_000], unit="ms", utc=True
            ),
            "init_ms": [300.0, 250.0, 812.5],
            "cold_start_cause": ["first_environment", "scale_out", "scale_out"],
            "ended": ["crash", None, None],
        }
    )
    page = build_html(make_report(frame), frame, environments)
    assert parse(page).attrs["body"]["data-timeline-lanes"] == "3"
    assert page.count("<title>environment ended: crash</title>") == 1
    assert "<title>init 812 ms; no invocation in this input</title>" in page
    assert "cold start cause: scale_out" in page


def test_invocation_tooltips_carry_the_phases_and_no_nan() -> None:
    frame = make_invocations(8, 1).assign(
        handler_ms=12.5, response_ms=0.75, poll_wait_ms=950.0, error_type=math.nan
    )
    page = build_html(make_report(frame), frame, None)
    tips = re.findall(r'<rect class="inv"[^>]*><title>([^<]*)</title>', page)
    assert len(tips) == len(frame)
    assert all("handler 12.5 ms" in tip and "response 0.8 ms" in tip for tip in tips)
    assert all("poll wait before (frozen) 950 ms" in tip for tip in tips)
    assert not any("nan" in tip.lower() for tip in tips)


def test_most_billed_invocations_are_listed_in_order(small) -> None:
    _, frame, page = small
    section = page.split("most billed invocations</summary>", 1)[1].split("</table>", 1)[0]
    listed = re.findall(r'<tr><td class="mono">([^<]*)</td>', section)
    expected = frame.nlargest(len(listed), "billed_ms")["request_id"].tolist()
    assert listed == expected and len(listed) == 25


def test_every_invocation_a_stuck_finding_names_is_hatched() -> None:
    frame = make_invocations(30, 3)
    report = make_report(frame)
    env_rows = frame[frame["environment"] == frame["environment"].iloc[0]]
    ids = env_rows["request_id"].tolist()
    report["findings"] = [
        {"kind": "never_polled", "severity": "critical", "function": "payments",
         "environment": env_rows["environment"].iloc[0], "request_id": ids[0],
         "request_ids": ids, "billed_ms": 1.0, "evidence": []}
    ]  # fmt: skip
    page = build_html(report, frame, None)
    assert page.count("<title>stuck: never_polled</title>") == len(env_rows) > 1


def test_suppressed_init_is_drawn_inside_its_invocation() -> None:
    frame = make_invocations(10, 1)
    frame["suppressed_init_ms"] = [math.nan] * 9 + [float(frame["duration_ms"].iloc[9]) / 2]
    page = build_html(make_report(frame), frame, None)
    marks = re.findall(r'<rect class="suppressed" x="([\d.]+)"[^>]*><title>([^<]*)<', page)
    assert len(marks) == 1 and "init re-ran in the invoke" in marks[0][1]
    starts = re.findall(r'<rect class="inv" x="([\d.]+)"', page)
    assert marks[0][0] == starts[-1]  # begins where the invocation begins


def test_many_functions_chart_the_most_billed_and_list_all() -> None:
    frame = make_invocations(40, 2)
    report = make_report(frame)
    template = report["functions"][0]
    report["functions"] = [
        {**template, "function": f"fn-{i:03d}", "billed_ms": float(i)} for i in range(45)
    ]
    page = build_html(report, frame, None)
    assert "The chart shows the 30 functions billed the most of 45" in page
    chart = page.split('aria-label="billed ms by function"', 1)[1].split("</svg>", 1)[0]
    assert "fn-044" in chart and "fn-014" not in chart and "fn-015" in chart
    assert page.count('data-metric="functions.44.billed_ms"') == 1


def test_lanes_are_grouped_by_function_and_labelled_with_it() -> None:
    frame = make_invocations(60, 6)  # functions alternate between environments
    page = build_html(make_report(frame), frame, None)
    lanes = re.findall(r'<g class="lane" data-environment="([^"]+)">', page)
    function_of = frame.groupby("environment")["function"].first()
    functions = [function_of[html.unescape(env)] for env in lanes]
    assert functions == sorted(functions) and len(set(functions)) == 2
    assert 'text-anchor="end" class="axis">orders [$LATEST]' in page
