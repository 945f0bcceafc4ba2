""""Lambda lifecycle - CloudWatch": no collector needed.

Top: the wrapper's Embedded Metric Format metrics (`LCTRACE_EXPORTER=emf`), namespace and
dimension names exactly as `runtime.emf` writes them. Below: Logs Insights over the function's
log group - the same query files as `collectors/insights/dashboard-*.query` - reading Lambda's
own REPORT lines and the wrapper's marker lines, so it is useful even without the wrapper.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import cloudwatch, table
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import cloudwatch as cw
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

from dashboards.common import PanelIds, stat_panel, timeseries_panel
from dashboards.insights import QUERIES_BY_NAME
from lifecycle_trace import config, schema
from lifecycle_trace.runtime.emf import DIMENSIONS

UID = "lctrace-lambda-cloudwatch"
CW = DataSourceRef(type_val="cloudwatch", uid="${datasource}")
DIMENSION_VALUES = {schema.ATTR_FAAS_NAME: "$function", schema.ATTR_FAAS_VERSION: "$version"}
assert set(DIMENSION_VALUES) == set(DIMENSIONS)


def emf(
    metric_name: str, statistic: str, ref: str, label: str, extra: dict[str, str] | None = None
) -> cloudwatch.CloudWatchMetricsQuery:
    """A metric-search query on one EMF metric of the selected function and version."""
    return (
        cloudwatch.CloudWatchMetricsQuery()
        .datasource(CW)
        .ref_id(ref)
        .query_mode(cw.CloudWatchQueryMode.METRICS)
        .metric_query_type(cw.MetricQueryType.SEARCH)
        .metric_editor_mode(cw.MetricEditorMode.BUILDER)
        .region("$region")
        .namespace("$namespace")
        .metric_name(metric_name)
        .dimensions({**DIMENSION_VALUES, **(extra or {})})
        .match_exact(False)  # the version variable's All is the "*" wildcard
        .statistic(statistic)
        .period("")
        .label(label)
        .id("")
        .expression("")
    )


def insights(name: str, ref: str = "A") -> cloudwatch.CloudWatchLogsQuery:
    """A Logs Insights query from `dashboards.insights` on the selected log group(s)."""
    return (
        cloudwatch.CloudWatchLogsQuery()
        .datasource(CW)
        .ref_id(ref)
        .query_mode(cw.CloudWatchQueryMode.LOGS)
        .query_language(cw.LogsQueryLanguage.CWLI)
        .region("$region")
        .log_group_names(["$log_group"])
        .expression(QUERIES_BY_NAME[name].text)
        .id("")
    )


def _variable_query(query_type: str, **fields: object) -> dict[str, object]:
    return {"queryType": query_type, "refId": "CloudWatchVariableQueryEditor-VariableQuery",
            "region": "$region", **fields}  # fmt: skip


def variables(builder: dash.Dashboard) -> dash.Dashboard:
    namespace = config.EMF_NAMESPACE.default or "lctrace"
    return (
        builder.with_variable(
            dash.DatasourceVariable("datasource").label("CloudWatch").type("cloudwatch")
        )
        .with_variable(
            dash.QueryVariable("region").label("Region").datasource(CW)
            .query({"queryType": "regions", "refId": "CloudWatchVariableQueryEditor-VariableQuery"})
            .current(VariableOption(selected=True, text="default", value="default"))
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        )  # fmt: skip
        .with_variable(
            dash.TextBoxVariable("namespace").label("EMF namespace")
            .description("LCTRACE_EMF_NAMESPACE of the wrapper.").default_value(namespace)
        )  # fmt: skip
        .with_variable(
            dash.QueryVariable("function").label("Function").datasource(CW)
            .query(_variable_query("dimensionValues", namespace="$namespace",
                                   metricName=schema.METRIC_COLDSTARTS,
                                   dimensionKey=schema.ATTR_FAAS_NAME))
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )  # fmt: skip
        .with_variable(
            dash.QueryVariable("version").label("Version").datasource(CW)
            .query(_variable_query("dimensionValues", namespace="$namespace",
                                   metricName=schema.METRIC_COLDSTARTS,
                                   dimensionKey=schema.ATTR_FAAS_VERSION,
                                   dimensionFilters={schema.ATTR_FAAS_NAME: "$function"}))
            .include_all(True).all_value("*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )  # fmt: skip
        .with_variable(
            dash.QueryVariable("log_group").label("Log group").datasource(CW)
            .query(_variable_query("logGroups", logGroupPrefix="/aws/lambda/"))
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        )  # fmt: skip
    )


def emf_panels(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    coldstarts = schema.METRIC_COLDSTARTS
    stats = [
        ("Invocations", "One EMF line per invocation.", "short",
         emf(coldstarts, "SampleCount", "A", "invocations")),
        ("Cold-start rate", f"Average of {coldstarts} (0 or 1 per invocation).", "percentunit",
         emf(coldstarts, "Average", "A", "cold-start rate")),
        ("Timeouts", "no_response verdicts: still running near the deadline.", "short",
         emf(schema.METRIC_TIMEOUTS, "Sum", "A", "timeouts")),
        ("Stuck runtimes", "All three verdicts.", "short",
         emf(schema.METRIC_STUCK, "Sum", "A", "stuck", {schema.ATTR_STUCK_KIND: "*"})),
    ]  # fmt: skip
    builder = builder.with_row(dash.Row("EMF metrics (LCTRACE_EXPORTER=emf)").id(ids()))
    for title, description, unit, target in stats:
        builder = builder.with_panel(
            stat_panel(ids(), title, description, unit).datasource(CW).span(6)
            .with_target(target)
        )  # fmt: skip
    phases = [
        (schema.METRIC_INIT_DURATION, "Init duration", "Wrapper start to first GET /next."),
        (schema.METRIC_INVOKE_DURATION, "Handler", "Event delivered to response posted."),
        (schema.METRIC_POLL_WAIT, "Poll wait (frozen, not billed)", "GET /next to event."),
        (schema.METRIC_POST_RESPONSE, "Post-response work (billed)",
         "Response accepted to the next GET /next."),
        (schema.METRIC_BILLED, "Billed ms per invocation", "Handler + response + post-response, "
         "rounded up to 1 ms."),
    ]  # fmt: skip
    for name, title, description in phases:
        builder = builder.with_panel(
            timeseries_panel(ids(), f"{title} (p50, p99)", description, "ms", width=8)
            .datasource(CW)
            .with_target(emf(name, "p50", "A", "p50"))
            .with_target(emf(name, "p99", "B", "p99"))
        )  # fmt: skip
    failures = (
        timeseries_panel(ids(), "Errors, timeouts, stuck runtimes", "Sums per period.", "short",
                         width=8)
        .datasource(CW)
        .with_target(emf(schema.METRIC_ERRORS, "Sum", "A", "errors"))
        .with_target(emf(schema.METRIC_TIMEOUTS, "Sum", "B", "timeouts"))
        .with_target(emf(schema.METRIC_STUCK, "Sum", "C", "stuck ${PROP('Dim.lctrace.stuck.kind')}",
                         {schema.ATTR_STUCK_KIND: "*"}))
    )  # fmt: skip
    return builder.with_panel(failures)


def insights_panels(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    title = "Logs Insights (REPORT lines and lctrace markers)"
    builder = builder.with_row(dash.Row(title).id(ids()))
    series = [
        ("cold-start-rate", "short"),
        ("init-duration", "ms"),
        ("billed-duration", "short"),
        ("timeouts", "short"),
        ("stuck-events", "short"),
        ("phases", "ms"),
    ]
    for name, unit in series:
        query = QUERIES_BY_NAME[name]
        builder = builder.with_panel(
            timeseries_panel(ids(), query.title, query.description, unit, width=12)
            .datasource(CW).with_target(insights(name))
        )  # fmt: skip
    never = QUERIES_BY_NAME["never-polled"]
    return builder.with_panel(
        table.Panel().id(ids()).title(never.title).description(never.description)
        .datasource(CW).span(24).height(8).with_target(insights("never-polled"))
    )  # fmt: skip


def build() -> dash.Dashboard:
    """The whole dashboard."""
    ids = PanelIds()
    builder = (
        dash.Dashboard("Lambda lifecycle — CloudWatch")
        .uid(UID)
        .description("lctrace without a collector: EMF metrics from the wrapper and Logs "
                     "Insights over the function's log group.")
        .tags(["lambda", "lctrace", "cloudwatch"])
        .refresh("5m")
        .time("now-6h", "now")
        .timezone("utc")
        .link(dash.DashboardLink("Prometheus + Tempo view").type("dashboards").tags(["lctrace"])
              .include_vars(False).keep_time(True))
    )  # fmt: skip
    builder = variables(builder)
    return insights_panels(emf_panels(builder, ids), ids)
