"""The checked-in dashboards, provisioning and Insights files are what the code generates, and
every metric, label, dimension, span and log field they query is one the wrapper (or Lambda)
really writes - checked against the code's constants and instrument table."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from dashboards import generate, insights, lambda_cloudwatch, lambda_prometheus
from lifecycle_trace import config, schema
from lifecycle_trace.runtime import emf
from lifecycle_trace.runtime.metrics import INSTRUMENTS, prometheus_label, prometheus_name

ROOT = Path(__file__).resolve().parents[2]
PROM_JSON = ROOT / "dashboards" / "lambda-lifecycle-prometheus.json"
CW_JSON = ROOT / "dashboards" / "lambda-lifecycle-cloudwatch.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def targets(dashboard: dict) -> list[dict]:
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def promql(dashboard: dict) -> list[str]:
    return [
        t["expr"] for t in targets(dashboard) if t.get("datasource", {}).get("type") == "prometheus"
    ]


def test_checked_in_files_are_what_the_generator_writes() -> None:
    assert generate.stale() == [], "run: python -m dashboards.generate"
    assert generate.main(["--check"]) == 0


def test_check_mode_names_a_hand_edited_file(tmp_path, monkeypatch, capsys) -> None:
    edited = tmp_path / "lambda-lifecycle-prometheus.json"
    edited.write_text(PROM_JSON.read_text().replace("Cold-start rate", "Coldstart rate"))
    real = generate.artefacts

    def artefacts() -> dict[Path, str]:
        files = real()
        files[edited] = files.pop(PROM_JSON)
        return files

    monkeypatch.setattr(generate, "artefacts", artefacts)
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    assert generate.main(["--check"]) == 1
    assert "lambda-lifecycle-prometheus.json: differs" in capsys.readouterr().err


# --- Prometheus: metric families and labels ---------------------------------------------------
FAMILIES = {prometheus_name(spec): spec for spec in INSTRUMENTS}
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)")
GROUPING = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")


def family_of(series: str):
    for suffix in ("_bucket", "_sum", "_count", ""):
        if series.endswith(suffix) and series.removesuffix(suffix) in FAMILIES:
            spec = FAMILIES[series.removesuffix(suffix)]
            if suffix and spec.kind != "histogram":
                continue
            return spec, suffix
    raise AssertionError(f"{series}: not a metric the wrapper exports")


def test_every_promql_selector_is_a_wrapper_metric_with_its_labels() -> None:
    expressions = promql(load(PROM_JSON))
    assert len(expressions) >= 30
    used = set()
    for expr in expressions:
        selectors = SELECTOR.findall(expr)
        assert selectors, expr
        carried = {"le"}
        for series, matchers in selectors:
            spec, suffix = family_of(series)
            used.add(spec.name)
            labels = {prometheus_label(a) for a in spec.attributes} | (
                {"le"} if suffix == "_bucket" else set()
            )
            carried |= labels
            names = MATCHER.findall(matchers)
            assert {n for n, _ in names} <= labels, (expr, series)
            # every selector honours the dashboard's function and version variables
            assert 'faas_name=~"$function"' in matchers and 'faas_version=~"$version"' in matchers
        for group in GROUPING.findall(expr):
            assert {g.strip() for g in group.split(",")} <= carried, expr
    assert used == set(schema.METRICS), "every metric the wrapper emits is on the dashboard"


def test_label_values_and_outcomes_are_ones_the_code_writes() -> None:
    text = PROM_JSON.read_text()
    for kind in re.findall(r'lctrace_stuck_kind=\\"(\w+)\\"', text):
        assert kind in schema.STUCK_KINDS
    for alternatives in re.findall(r'lctrace_outcome=~\\"([\w|]+)\\"', text):
        assert set(alternatives.split("|")) <= {
            "success",
            "error",
            "crash",
            "init_error",
            "timeout",
            "stuck",
        }
    assert 'faas_coldstart=\\"true\\"' in text  # bool attributes are exported as true/false


def test_variables_datasources_and_trace_links() -> None:
    dashboard = load(PROM_JSON)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "tempo", "function", "version", "price_per_gb_s"} <= set(variables)
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["function"]["allValue"] == ".*" and variables["function"]["multi"]
    tempo_targets = [t for t in targets(dashboard) if t["datasource"]["type"] == "tempo"]
    links = [
        link["url"]
        for p in dashboard["panels"]
        for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
    ]
    assert len(tempo_targets) == 3 and len(links) >= 6
    traceql = [t["query"] for t in tempo_targets]
    traceql += [json.loads(_unquote(u.split("panes=")[1]))["lctrace"]["queries"][0]["query"]
                for u in links]  # fmt: skip
    for query in traceql:
        (span,) = re.findall(r'name = "([\w.]+)"', query)
        assert span in schema.PHASE_SPANS
        assert 'resource.faas.name =~ "${function:regex}"' in query
        for attribute in re.findall(r"span\.([\w.]+)", query):
            assert attribute in {schema.ATTR_OUTCOME, schema.ATTR_COLDSTART}
    assert all("${__from}" in u and "${tempo}" in u for u in links)


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


# --- CloudWatch: EMF metrics and dimensions ----------------------------------------------------
def test_cloudwatch_metric_queries_match_the_emf_lines() -> None:
    dashboard = load(CW_JSON)
    metric_targets = [t for t in targets(dashboard) if t.get("queryMode") == "Metrics"]
    assert len(metric_targets) >= 14
    for target in metric_targets:
        assert target["metricName"] in emf.EMF_METRICS
        assert target["namespace"] == "$namespace"
        dimensions = set(target["dimensions"])
        if schema.ATTR_STUCK_KIND in dimensions:
            assert target["metricName"] == schema.METRIC_STUCK
            assert dimensions == set(emf.STUCK_DIMENSIONS)
        else:
            assert dimensions == set(emf.DIMENSIONS)
        if target["statistic"] in ("p50", "p99"):
            assert emf.EMF_METRICS[target["metricName"]] == emf.MILLISECONDS
    assert {t["metricName"] for t in metric_targets} == set(emf.EMF_METRICS)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["namespace"]["query"] == config.EMF_NAMESPACE.default
    assert variables["function"]["query"]["dimensionKey"] == schema.ATTR_FAAS_NAME
    assert variables["version"]["query"]["dimensionKey"] == schema.ATTR_FAAS_VERSION


def test_cloudwatch_logs_panels_run_the_query_files() -> None:
    dashboard = load(CW_JSON)
    expressions = [t["expression"] for t in targets(dashboard) if t.get("queryMode") == "Logs"]
    files = {
        p.read_text().rstrip("\n")
        for p in (ROOT / "collectors" / "insights").glob("dashboard-*.query")
    }
    assert len(expressions) == len(insights.QUERIES) == len(files)
    assert set(expressions) == files


# --- Logs Insights: every field is one Lambda or the wrapper writes ------------------------
KEYWORDS = {"filter", "fields", "stats", "sort", "limit", "by", "as", "and", "or", "not", "like",
            "desc", "asc", "count", "pct", "max", "min", "avg", "sum", "coalesce", "ispresent",
            "bin", "in"}  # fmt: skip
KNOWN_FIELDS = (set(insights.REPORT_FIELDS) | set(insights.JSON_REPORT_FIELDS)
                | set(insights.SYSTEM_FIELDS) | set(schema.LOG_FIELDS)
                | set(insights.STUCK_MARKER_FIELDS) | {schema.MARKER_KEY})  # fmt: skip


def fields_used(text: str) -> set[str]:
    text = re.sub(r'"[^"]*"', " ", text)  # string literals
    text = re.sub(r"/[^/\n]+/", " ", text)  # regex literals
    aliases = set(re.findall(r"\bas\s+(\w+)", text))
    tokens = set(re.findall(r"`([^`]+)`", text))
    text = re.sub(r"`[^`]+`", " ", text)
    tokens |= set(re.findall(r"@?[A-Za-z_][\w.]*", text))
    return {t for t in tokens if t not in KEYWORDS and t not in aliases and not t[0].isdigit()} - {
        "m"
    }


@pytest.mark.parametrize("query", insights.QUERIES, ids=lambda q: q.name)
def test_insights_queries_use_only_fields_that_exist(query) -> None:
    unknown = fields_used(query.text) - KNOWN_FIELDS
    assert not unknown, f"{query.filename}: {sorted(unknown)}"


def test_field_check_catches_a_misspelt_field() -> None:
    misspelt = 'filter lctrace = "stuck" | fields elapsed_msec, @timestamp'
    assert fields_used(misspelt) - KNOWN_FIELDS == {"elapsed_msec"}


def test_stuck_marker_keys_match_what_the_watchdog_writes() -> None:
    from lifecycle_trace.runtime.lifecycle import Lifecycle, LifecycleSettings

    class Quiet:
        def on_init(self, *_): ...
        def on_invocation(self, *_): ...
        def on_stuck(self, *_): ...
        def flush(self, *_): ...

    markers: list[str] = []
    lifecycle = Lifecycle(LifecycleSettings(instance="i", function="f", never_polled_ms=0), Quiet(),
                          marker_writer=markers.append)  # fmt: skip
    lifecycle.start_watchdog()
    deadline = time.monotonic() + 5
    while not markers and time.monotonic() < deadline:
        time.sleep(0.02)
    lifecycle.stop()
    marker = json.loads(markers[0])
    assert marker[schema.MARKER_KEY] == schema.MARKER_STUCK
    assert marker["kind"] == schema.STUCK_NEVER_POLLED
    assert set(insights.STUCK_MARKER_FIELDS) <= set(marker)


def test_provisioning_points_grafana_at_the_dashboards() -> None:
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/lctrace.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == generate.PROVIDER_PATH
    sources = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/lctrace.yaml").read_text()
    )
    types = {s["type"]: s for s in sources["datasources"]}
    assert set(types) == {"prometheus", "tempo", "cloudwatch"}
    assert (
        types["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"]
        == "tempo"
    )
    uids = {load(PROM_JSON)["uid"], load(CW_JSON)["uid"]}
    assert uids == {lambda_prometheus.UID, lambda_cloudwatch.UID}


def test_exemplars_are_asked_only_where_the_wrapper_records_them() -> None:
    """Exemplar targets query histograms recorded with the invocation's span in context."""
    exemplar_exprs = [t["expr"] for t in targets(load(PROM_JSON)) if t.get("exemplar")]
    assert len(exemplar_exprs) == 3
    carrying = {
        prometheus_name(s) for s in INSTRUMENTS if s.name in lambda_prometheus.EXEMPLAR_METRICS
    }
    for expr in exemplar_exprs:
        (series,) = {s for s, _ in SELECTOR.findall(expr)}
        assert series.removesuffix("_bucket") in carrying, expr
