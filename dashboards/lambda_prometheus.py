""""Lambda lifecycle - Prometheus + Tempo": the OTLP path (wrapper -> collector -> Prometheus
remote-write and Tempo), or a Prometheus server scraping the wrapper's endpoint directly.

Metric names come from the wrapper's own instrument table (`runtime.metrics.INSTRUMENTS`), so a
renamed metric cannot leave a dashboard querying nothing. Two PromQL habits matter for Lambda:
every execution environment is a new set of series, so counters are created at 0 by the wrapper
and read with increase(); one-shot values of an environment (its init, the trigger of its cold
start) never increase after their first sample and are read with last_over_time() instead -
"the environments seen in the window".
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, table, tempo
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

from dashboards.common import TEMPO, PanelIds, stat_panel, timeseries_panel, trace_link
from lifecycle_trace import schema
from lifecycle_trace.runtime.metrics import INSTRUMENTS_BY_NAME, prometheus_label, prometheus_name

UID = "lctrace-lambda-prometheus"
PROM = DataSourceRef(type_val="prometheus", uid="${datasource}")
SELECTOR = 'faas_name=~"$function", faas_version=~"$version"'
# TraceQL: faas.name is a resource attribute of the wrapper's spans
TRACE_FILTER = 'resource.faas.name =~ "${function:regex}"'
PRICE_X86, PRICE_ARM = "0.0000166667", "0.0000133334"  # us-east-1 $/GB-s, first tier
PRICE_PER_REQUEST = "0.0000002"
# histograms recorded with the invocation's span in context (runtime.metrics.trace_context)
EXEMPLAR_METRICS = (
    schema.METRIC_INVOKE_DURATION,
    schema.METRIC_POST_RESPONSE,
    schema.METRIC_BILLED,
)


def metric(name: str, suffix: str = "", extra: str = "") -> str:
    """A selector for one of the wrapper's metrics, filtered by the dashboard's variables."""
    family = prometheus_name(INSTRUMENTS_BY_NAME[name])
    return f"{family}{suffix}{{{SELECTOR}{extra}}}"


def label(attribute: str) -> str:
    return prometheus_label(attribute)


NAME_VERSION = f"{label(schema.ATTR_FAAS_NAME)}, {label(schema.ATTR_FAAS_VERSION)}"
MEMORY = f"max by ({NAME_VERSION}) ({metric(schema.METRIC_MEMORY_LIMIT)})"


def gb_seconds(sum_selector: str, window: str, per_second: bool = False) -> str:
    """GB-s of a `*_sum` millisecond counter: ms / 1000 x memory MiB / 1024, joined on function."""
    fn = "rate" if per_second else "increase"
    return (
        f"sum({fn}({sum_selector}[{window}]) * on ({NAME_VERSION}) group_left {MEMORY})"
        " / 1000 / 1024"
    )


def quantile(q: float, name: str, window: str, one_shot: bool = False, by: str = "") -> str:
    fn = "last_over_time" if one_shot else "increase"
    group = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({group}) ({fn}({metric(name, '_bucket')}[{window}])))"
    )


def query(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, exemplar: bool = False
) -> prometheus.Dataquery:
    """A PromQL target. `exemplar`: show the trace exemplars the wrapper attaches to its
    handler, post-response and billed histograms (OTLP path; a click opens the trace)."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROM)
    if legend:
        target = target.legend_format(legend)
    if exemplar:
        target = target.exemplar(True)
    return target.instant() if instant else target.range()


def traces(span_name: str, extra: str = "") -> str:
    return f'{{ {TRACE_FILTER} && name = "{span_name}"{extra} }}'


def variables(builder: dash.Dashboard) -> dash.Dashboard:
    coldstarts = prometheus_name(INSTRUMENTS_BY_NAME[schema.METRIC_COLDSTARTS])
    return (
        builder.with_variable(
            dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(dash.DatasourceVariable("tempo").label("Tempo").type("tempo"))
        .with_variable(
            dash.QueryVariable("function").label("Function").datasource(PROM)
            .query(f"label_values({coldstarts}, {label(schema.ATTR_FAAS_NAME)})")
            .multi(True).include_all(True).all_value(".*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )  # fmt: skip
        .with_variable(
            dash.QueryVariable("version").label("Version").datasource(PROM)
            .query(f'label_values({coldstarts}{{faas_name=~"$function"}}, '
                   f"{label(schema.ATTR_FAAS_VERSION)})")
            .multi(True).include_all(True).all_value(".*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )  # fmt: skip
        .with_variable(
            dash.CustomVariable("price_per_gb_s").label("$ per GB-s")
            .description("Lambda duration price (us-east-1, first tier): x86_64 or arm64.")
            .values(f"x86_64 : {PRICE_X86},arm64 : {PRICE_ARM}")
            .current(VariableOption(selected=True, text="x86_64", value=PRICE_X86))
        )  # fmt: skip
        .with_variable(
            dash.ConstantVariable("price_per_request").value(PRICE_PER_REQUEST)
        )
    )


def overview(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    invocations = f"sum(increase({metric(schema.METRIC_INVOKE_DURATION, '_count')}[$__range]))"
    coldstarts = f"sum(increase({metric(schema.METRIC_COLDSTARTS)}[$__range]))"
    billed_sum = metric(schema.METRIC_BILLED, "_sum")
    billed_count = f"sum(increase({metric(schema.METRIC_BILLED, '_count')}[$__range]))"
    stats = [
        ("Invocations", "Invocations whose handler finished or was cut off.", "short",
         invocations),
        ("Cold-start rate", "Cold starts / invocations.", "percentunit",
         f"{coldstarts} / {invocations}"),
        ("Init p99", "p99 init (wrapper start to first GET /next) of the environments seen.",
         "ms", quantile(0.99, schema.METRIC_INIT_DURATION, "$__range", one_shot=True)),
        ("Handler p99", "p99 handler time: event delivered to response posted.", "ms",
         quantile(0.99, schema.METRIC_INVOKE_DURATION, "$__range")),
        ("Billed GB-s", "Billed ms x configured memory, the unit Lambda charges.", "short",
         gb_seconds(billed_sum, "$__range")),
        ("Estimated cost", "Billed GB-s x $price_per_gb_s + requests x $price_per_request "
         "(list price, before free tier and tiers).", "currencyUSD",
         f"({gb_seconds(billed_sum, '$__range')}) * $price_per_gb_s"
         f" + {billed_count} * $price_per_request"),
        ("Timeouts", "Handlers still running LCTRACE_DEADLINE_MARGIN_MS before the deadline.",
         "short", f"sum(increase({metric(schema.METRIC_TIMEOUTS)}[$__range]))"),
        ("Stuck runtimes", "never_polled, no_response and stopped_polling verdicts.", "short",
         f"sum(increase({metric(schema.METRIC_STUCK)}[$__range]))"),
    ]  # fmt: skip
    builder = builder.with_row(dash.Row("Overview").id(ids()))
    for title, description, unit, expr in stats:
        builder = builder.with_panel(
            stat_panel(ids(), title, description, unit).datasource(PROM)
            .with_target(query(expr, instant=True))
        )  # fmt: skip
    return builder


def cold_starts(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    window = "$__rate_interval"
    coldstarts = metric(schema.METRIC_COLDSTARTS)
    invocations = metric(schema.METRIC_INVOKE_DURATION, "_count")
    by_fn = label(schema.ATTR_FAAS_NAME)
    rate = timeseries_panel(
        ids(), "Cold-start rate", "Cold starts / invocations per function.", "percentunit"
    ).datasource(PROM).with_target(query(
        f"sum by ({by_fn}) (increase({coldstarts}[{window}]))"
        f" / sum by ({by_fn}) (increase({invocations}[{window}]))", "{{faas_name}}",
    )).data_links([trace_link("Cold-start traces", traces(schema.SPAN_INIT))])  # fmt: skip
    resets = f', {label(schema.ATTR_OUTCOME)}=~"crash|init_error"'
    errors = metric(schema.METRIC_ERRORS, extra=resets)
    never = metric(schema.METRIC_STUCK, extra=f', {label(schema.ATTR_STUCK_KIND)}="never_polled"')
    causes = timeseries_panel(
        ids(), "Cold starts and what forced them",
        "Lambda resets the sandbox after a timeout, a crash or a failed init, so the next invoke "
        "cold-starts. Cold starts above these lines come from scale-out, idle reclaim or a "
        "deployment.", "short",
    ).datasource(PROM).with_target(
        query(f"sum(increase({coldstarts}[{window}]))", "cold starts", "A")
    ).with_target(
        query(f"sum(increase({metric(schema.METRIC_TIMEOUTS)}[{window}]))", "after timeout", "B")
    ).with_target(
        query(f"sum(increase({errors}[{window}]))", "after crash / failed init", "C")
    ).with_target(
        query(f"sum(increase({never}[{window}]))", "never polled", "D")
    ).data_links([trace_link("Stuck-runtime traces", traces(schema.SPAN_STUCK))])  # fmt: skip
    cold_by_trigger = metric(
        schema.METRIC_INVOKE_DURATION, "_count", f', {label(schema.ATTR_COLDSTART)}="true"'
    )
    trigger = label(schema.ATTR_TRIGGER)
    triggers = timeseries_panel(
        ids(), "Environments by the trigger of their cold start",
        "Execution environments seen in the window, by the event source of their first "
        "invocation (http, pubsub, datasource, timer, other).", "short", stacked=True,
    ).datasource(PROM).with_target(query(
        f"sum by ({trigger}) (last_over_time({cold_by_trigger}[{window}]))", f"{{{{{trigger}}}}}",
    ))  # fmt: skip
    init = timeseries_panel(
        ids(), "Init duration of the environments seen (p50, p99)",
        "Wrapper start to the runtime's first GET /next: the cold-start cost inside the sandbox.",
        "ms",
    ).datasource(PROM).with_target(
        query(quantile(0.5, schema.METRIC_INIT_DURATION, window, one_shot=True), "p50", "A")
    ).with_target(
        query(quantile(0.99, schema.METRIC_INIT_DURATION, window, one_shot=True), "p99", "B")
    ).data_links([trace_link("Slow inits", traces(schema.SPAN_INIT, " && duration > 1s"))])
    return (
        builder.with_row(dash.Row("Cold starts").id(ids()))
        .with_panel(rate).with_panel(causes).with_panel(triggers).with_panel(init)
    )  # fmt: skip


def phases(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    window = "$__rate_interval"
    rows = [
        (schema.METRIC_POLL_WAIT, "Poll wait (frozen, not billed)",
         "GET /next arrived until the event was handed over; includes the idle time between "
         "invokes.", schema.SPAN_POLL_WAIT),
        (schema.METRIC_INVOKE_DURATION, "Handler",
         "Event delivered until the response or error was posted.", schema.SPAN_HANDLER),
        (schema.METRIC_POST_RESPONSE, "Post-response work (billed)",
         "Response accepted until the runtime polled again: background work, flushes and "
         "extensions the caller no longer waits for, but you pay for.", schema.SPAN_POST_RESPONSE),
    ]  # fmt: skip
    builder = builder.with_row(dash.Row("Invocation phases").id(ids()))
    for name, title, description, span in rows:
        builder = builder.with_panel(
            timeseries_panel(ids(), f"{title} p50 / p99", description, "ms", width=8)
            .datasource(PROM)
            .with_target(query(quantile(0.5, name, window), "p50", "A"))
            .with_target(query(quantile(0.99, name, window), "p99", "B",
                               exemplar=name in EXEMPLAR_METRICS))
            .data_links([trace_link("Slowest spans", traces(span, " && duration > 100ms"))])
        )  # fmt: skip
    post = metric(schema.METRIC_POST_RESPONSE, "_sum")
    billed = metric(schema.METRIC_BILLED, "_sum")
    share = timeseries_panel(
        ids(), "Post-response share of billed time",
        "How much of what you pay for happens after the caller got its answer.", "percentunit",
        width=24, height=6,
    ).datasource(PROM).with_target(query(
        f"sum(increase({post}[{window}])) / sum(increase({billed}[{window}]))", "post-response",
    ))  # fmt: skip
    return builder.with_panel(share)


def billing(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    window = "$__rate_interval"
    usd_per_hour = "* $price_per_gb_s * 3600"
    parts = [
        ("handler", metric(schema.METRIC_INVOKE_DURATION, "_sum"), "A"),
        ("post-response", metric(schema.METRIC_POST_RESPONSE, "_sum"), "B"),
        ("billed total", metric(schema.METRIC_BILLED, "_sum"), "C"),
    ]
    cost = timeseries_panel(
        ids(), "Cost by phase ($/hour)",
        "GB-s per second x $price_per_gb_s x 3600. Billed total = handler + response + "
        "post-response, rounded up per invoke; init is billed too (custom runtimes, images, "
        "and managed runtimes since 2025-08) - see 'Init cost'.", "currencyUSD",
    ).datasource(PROM)  # fmt: skip
    for legend, selector, ref in parts:
        cost = cost.with_target(
            query(f"({gb_seconds(selector, window, per_second=True)}) {usd_per_hour}", legend, ref)
        )
    init_sum = metric(schema.METRIC_INIT_DURATION, "_sum")
    init_cost = stat_panel(
        ids(), "Init cost", "Init GB-s x $price_per_gb_s of the environments seen in the range.",
        "currencyUSD",
    ).datasource(PROM).with_target(query(
        f"sum(last_over_time({init_sum}[$__range]) * on ({NAME_VERSION}) group_left {MEMORY})"
        " / 1000 / 1024 * $price_per_gb_s", instant=True,
    )).span(6).height(8)  # fmt: skip
    billed_ms = timeseries_panel(
        ids(), "Billed ms per invocation (p50, p99)", "The billed window, rounded up to 1 ms.",
        "ms", width=6,
    ).datasource(PROM).with_target(
        query(quantile(0.5, schema.METRIC_BILLED, window), "p50", "A")
    ).with_target(query(quantile(0.99, schema.METRIC_BILLED, window), "p99", "B", exemplar=True))
    return (
        builder.with_row(dash.Row("Billing and cost").id(ids()))
        .with_panel(cost).with_panel(init_cost).with_panel(billed_ms)
    )  # fmt: skip


def failures(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    window = "$__rate_interval"
    outcome, kind = label(schema.ATTR_OUTCOME), label(schema.ATTR_STUCK_KIND)
    errors = timeseries_panel(
        ids(), "Errors by outcome", "error (POST /error), crash (runtime exited mid-invoke), "
        "init_error.", "short", width=8, stacked=True,
    ).datasource(PROM).with_target(query(
        f"sum by ({outcome}) (increase({metric(schema.METRIC_ERRORS)}[{window}]))",
        f"{{{{{outcome}}}}}",
    )).data_links([trace_link("Failed invocations", traces(
        schema.SPAN_INVOCATION, ' && span.lctrace.outcome != "success"'))])  # fmt: skip
    timeouts = timeseries_panel(
        ids(), "Timeouts", "The watchdog's no_response verdicts: the sandbox is killed at the "
        "deadline right after.", "short", width=8,
    ).datasource(PROM).with_target(query(
        f"sum by ({label(schema.ATTR_FAAS_NAME)}) "
        f"(increase({metric(schema.METRIC_TIMEOUTS)}[{window}]))", "{{faas_name}}",
    ))  # fmt: skip
    stuck = timeseries_panel(
        ids(), "Stuck runtimes by kind", "Reported before Lambda kills the sandbox.", "short",
        width=8, stacked=True,
    ).datasource(PROM).with_target(query(
        f"sum by ({kind}) (increase({metric(schema.METRIC_STUCK)}[{window}]))", f"{{{{{kind}}}}}",
    )).data_links([trace_link("Stuck spans", traces(schema.SPAN_STUCK))])  # fmt: skip
    return (
        builder.with_row(dash.Row("Failures and stuck runtimes").id(ids()))
        .with_panel(errors).with_panel(timeouts).with_panel(stuck)
    )  # fmt: skip


def trace_tables(builder: dash.Dashboard, ids: PanelIds) -> dash.Dashboard:
    searches = [
        ("Recent cold starts", traces(schema.SPAN_INIT)),
        ("Stuck runtimes", traces(schema.SPAN_STUCK)),
        ("Post-response work over 100 ms",
         traces(schema.SPAN_POST_RESPONSE, " && duration > 100ms")),
    ]
    builder = builder.with_row(dash.Row("Traces (Tempo)").id(ids()))
    for title, traceql in searches:
        builder = builder.with_panel(
            table.Panel().id(ids()).title(title).datasource(TEMPO).span(8).height(8)
            .with_target(tempo.TempoQuery().ref_id("A").query_type("traceql").query(traceql)
                         .limit(20).datasource(TEMPO))
        )  # fmt: skip
    return builder


def build() -> dash.Dashboard:
    """The whole dashboard."""
    ids = PanelIds()
    builder = (
        dash.Dashboard("Lambda lifecycle — Prometheus + Tempo")
        .uid(UID)
        .description("lctrace: cold starts, init, poll wait, handler, post-response overhead, "
                     "billed time and cost by phase, stuck runtimes - with links to the traces.")
        .tags(["lambda", "lctrace", "opentelemetry"])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .link(dash.DashboardLink("CloudWatch view").type("dashboards").tags(["lctrace"])
              .include_vars(False).keep_time(True))
    )  # fmt: skip
    builder = variables(builder)
    for section in (overview, cold_starts, phases, billing, failures, trace_tables):
        builder = section(builder, ids)
    return builder
