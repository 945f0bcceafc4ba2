"""The OTel metrics sink: what each lifecycle record becomes, read back through the SDK's
InMemoryMetricReader and through the real Prometheus exporter scraped over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from lifecycle_trace import schema
from lifecycle_trace.runtime.metrics import (
    INSTRUMENTS,
    INSTRUMENTS_BY_NAME,
    MetricsSink,
    build_metrics,
    prometheus_label,
    prometheus_name,
)
from lifecycle_trace.runtime.metrics_setup import wants_otlp
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[7]0123456789abcdef0123456789abcdef",
}


def invocation(**overrides: object) -> InvocationPhases:
    fields: dict[str, object] = dict(
        request_id="r-1",
        instance="i-1",
        function=None,
        version=None,
        cold=False,
        start_ns=1_700_000_000_000_000_000,
        poll_wait_ms=3.0,
        handler_ms=20.25,
        response_ms=0.5,
        post_response_ms=4.0,
    )
    fields.update(overrides)
    return InvocationPhases(**fields)  # type: ignore[arg-type]


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    """metric name -> its data points, from one collection."""
    data = reader.get_metrics_data()
    found: dict[str, list] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


@pytest.fixture
def recorded() -> tuple[MetricsSink, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    sink = MetricsSink(
        MeterProvider(metric_readers=[reader]),
        function="orders",
        version="7",
        memory_mb=512,
        push=False,
    )
    return sink, reader


def test_invocations_become_phase_histograms_and_counters(recorded) -> None:
    sink, reader = recorded
    sink.on_init(InitPhase(instance="i-1", function=None, version=None, start_ns=1, init_ms=250.0))
    sink.on_invocation(invocation(cold=True, trigger="http"))
    sink.on_invocation(invocation(request_id="r-2", handler_ms=30.0, post_response_ms=0.25))
    sink.on_invocation(
        invocation(
            request_id="r-3", outcome="timeout", handler_ms=None, response_ms=None,
            post_response_ms=None,
        )
    )  # fmt: skip
    sink.on_invocation(invocation(request_id="r-4", outcome="crash", post_response_ms=None))
    sink.on_stuck(StuckEvent(kind="no_response", instance="i-1", request_id="r-3", start_ns=1,
                             elapsed_ms=2500.0))  # fmt: skip
    got = points(reader)

    (init,) = got[schema.METRIC_INIT_DURATION]
    assert (init.count, init.sum) == (1, 250.0)
    assert init.attributes[schema.ATTR_OUTCOME] == "success"

    handler = {p.attributes[schema.ATTR_OUTCOME]: p for p in got[schema.METRIC_INVOKE_DURATION]}
    # cold http and warm other are separate series of the success outcome
    success = [p for p in got[schema.METRIC_INVOKE_DURATION]
               if p.attributes[schema.ATTR_OUTCOME] == "success"]  # fmt: skip
    assert sorted(p.sum for p in success) == [20.25, 30.0]
    assert {p.attributes[schema.ATTR_COLDSTART] for p in success} == {True, False}
    assert "timeout" not in handler  # no handler time known for it: not recorded
    assert handler["crash"].sum == 20.25

    billed = sorted(p.sum for p in got[schema.METRIC_BILLED])
    # ceil(20.25 + 0.5 + 4.0) = 25, ceil(30 + 0.5 + 0.25) = 31; crash/timeout never re-polled
    assert billed == [25, 31]
    assert sum(p.sum for p in got[schema.METRIC_POST_RESPONSE]) == 4.25
    assert sum(p.count for p in got[schema.METRIC_POLL_WAIT]) == 4

    (cold,) = got[schema.METRIC_COLDSTARTS]
    assert cold.value == 1
    cold_trigger = [p.attributes[schema.ATTR_TRIGGER] for p in got[schema.METRIC_INVOKE_DURATION]
                    if p.attributes[schema.ATTR_COLDSTART]]  # fmt: skip
    assert cold_trigger == ["http"]
    (timeouts,) = got[schema.METRIC_TIMEOUTS]
    assert timeouts.value == 1  # the timeout record and the no_response verdict: one timeout
    errors = {p.attributes[schema.ATTR_OUTCOME]: p.value for p in got[schema.METRIC_ERRORS]}
    assert errors == {"crash": 1, "error": 0, "init_error": 0}  # series start at zero
    stuck = {p.attributes[schema.ATTR_STUCK_KIND]: p.value for p in got[schema.METRIC_STUCK]}
    assert stuck == {"no_response": 1, "never_polled": 0, "stopped_polling": 0}
    (memory,) = got[schema.METRIC_MEMORY_LIMIT]
    assert memory.value == 512
    for point in got[schema.METRIC_INVOKE_DURATION]:
        assert point.attributes[schema.ATTR_FAAS_NAME] == "orders"
        assert point.attributes[schema.ATTR_FAAS_VERSION] == "7"


def test_record_names_override_the_environment_and_failed_inits_count_as_errors(recorded):
    sink, reader = recorded
    sink.on_init(InitPhase(instance="i", function="billing", version="$LATEST", start_ns=1,
                           init_ms=None, outcome="never_polled"))  # fmt: skip
    sink.on_invocation(invocation(function="billing", version="$LATEST", memory_mb=1024))
    got = points(reader)
    assert schema.METRIC_INIT_DURATION not in got  # never ended: nothing to record
    (error,) = [p for p in got[schema.METRIC_ERRORS] if p.value]
    assert error.attributes == {
        schema.ATTR_FAAS_NAME: "billing",
        schema.ATTR_FAAS_VERSION: "$LATEST",
        schema.ATTR_OUTCOME: "never_polled",
    }
    memory = {p.attributes[schema.ATTR_FAAS_NAME]: p.value for p in got[schema.METRIC_MEMORY_LIMIT]}
    assert memory == {"orders": 512, "billing": 1024}


def test_a_broken_record_is_dropped_and_counted_never_raised(recorded) -> None:
    sink, reader = recorded
    sink.on_invocation(object())  # type: ignore[arg-type]
    sink.on_init(None)  # type: ignore[arg-type]
    sink.on_stuck("stuck")  # type: ignore[arg-type]
    assert sink.dropped == 3
    sink.on_invocation(invocation())  # still works afterwards
    assert points(reader)[schema.METRIC_BILLED][0].sum == 25


def test_instrument_table_covers_every_schema_metric() -> None:
    assert {spec.name for spec in INSTRUMENTS} == set(schema.METRICS)
    for spec in INSTRUMENTS:
        assert spec.kind != "histogram" or spec.unit == "ms", spec.name


def test_nothing_configured_means_no_sink() -> None:
    assert build_metrics(ENV) is None
    disabled = {**ENV, "LCTRACE_PROMETHEUS_PORT": "9464", "OTEL_SDK_DISABLED": "true"}
    assert build_metrics(disabled) is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "LCTRACE_EXPORTER": "emf"}, False),
        ({"LCTRACE_EXPORTER": "emf,otlp"}, True),
        ({"LCTRACE_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"}, False),
        ({"LCTRACE_EXPORTER": "log", "OTEL_METRICS_EXPORTER": "otlp"}, True),
    ],
)
def test_otlp_selection_follows_the_standard_variables(environ, expected) -> None:
    assert wants_otlp(environ) is expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, object]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {family.name: family for family in text_string_to_metric_families(body)}


def test_prometheus_endpoint_serves_the_names_the_dashboards_query() -> None:
    port = free_port()
    sink = build_metrics({**ENV, "LCTRACE_PROMETHEUS_PORT": str(port)})
    assert sink is not None
    try:
        sink.on_init(InitPhase(instance="i", function=None, version=None, start_ns=1, init_ms=9.5))
        sink.on_invocation(invocation(cold=True, outcome="timeout"))
        sink.on_invocation(invocation(request_id="r-2", outcome="error"))
        sink.on_stuck(StuckEvent(kind="never_polled", instance="i", request_id=None, start_ns=1,
                                 elapsed_ms=8000.0))  # fmt: skip
        families = scrape(port)
    finally:
        sink.shutdown()
    # prometheus_client's parser strips _total from counter family names
    expected = {prometheus_name(spec).removesuffix("_total") for spec in INSTRUMENTS}
    assert expected <= set(families)
    billed = families[prometheus_name(INSTRUMENTS_BY_NAME[schema.METRIC_BILLED])]
    labels = next(s.labels for s in billed.samples if s.name.endswith("_count"))
    for attribute in (schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION, schema.ATTR_COLDSTART,
                      schema.ATTR_TRIGGER, schema.ATTR_OUTCOME):  # fmt: skip
        assert prometheus_label(attribute) in labels
    assert labels["faas_name"] == "orders" and labels["faas_coldstart"] in ("true", "false")
    with pytest.raises(OSError):  # shut down: the port is closed again
        scrape(port)


def test_busy_prometheus_port_does_not_break_the_wrapper() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        # Prometheus alone: nothing left to export to -> no sink, and no exception
        assert build_metrics({**ENV, "LCTRACE_PROMETHEUS_PORT": str(port)}) is None


def test_runtime_import_stays_light() -> None:
    code = (
        "import sys, lifecycle_trace.runtime.metrics, lifecycle_trace.runtime.emf\n"
        "heavy = [m for m in ('opentelemetry.sdk', 'prometheus_client', 'pandas', 'boto3', "
        "'typer', 'requests', 'grpc') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("stuck_first", [True, False])
def test_no_response_verdict_is_the_timeout_counted_once(recorded, stuck_first: bool) -> None:
    sink, reader = recorded
    stuck = StuckEvent(kind="no_response", instance="i", request_id="r-7", start_ns=1,
                       elapsed_ms=2500.0, function="billing", version="3")  # fmt: skip
    timed_out = invocation(request_id="r-7", outcome="timeout", function="billing", version="3")
    if stuck_first:
        sink.on_stuck(stuck)
    sink.on_invocation(timed_out)
    if not stuck_first:
        sink.on_stuck(stuck)
    sink.on_stuck(StuckEvent(kind="stopped_polling", instance="i", request_id="r-8", start_ns=1,
                             elapsed_ms=2000.0))  # fmt: skip
    got = points(reader)
    timeouts = {p.attributes[schema.ATTR_FAAS_NAME]: p.value for p in got[schema.METRIC_TIMEOUTS]}
    assert timeouts == {"billing": 1, "orders": 0}
    kinds = {(p.attributes[schema.ATTR_FAAS_NAME], p.attributes[schema.ATTR_STUCK_KIND]): p.value
             for p in got[schema.METRIC_STUCK] if p.value}  # fmt: skip
    assert kinds == {("billing", "no_response"): 1, ("orders", "stopped_polling"): 1}
    sink.shutdown(timeout_ms=200)


def test_histograms_carry_exemplars_pointing_at_the_wrappers_spans(recorded) -> None:
    """A metric point links to its trace: exemplars hold the trace id the spans use (the X-Ray
    root mapped as the X-Ray propagator does) and the handler / invocation span ids."""
    sink, reader = recorded
    root = "1-6745a1b2-0123456789abcdef01234567"
    sink.on_invocation(invocation(trace_id=root, handler_span_id="00000000000000aa",
                                  invocation_span_id="00000000000000bb"))  # fmt: skip
    sink.on_invocation(invocation(request_id="r-2", trace_id="not-an-xray-root",
                                  handler_span_id="00000000000000cc"))  # fmt: skip
    got = points(reader)
    (handler,) = got[schema.METRIC_INVOKE_DURATION]
    (exemplar,) = handler.exemplars  # the second invocation has no usable trace id
    assert exemplar.trace_id == 0x6745A1B20123456789ABCDEF01234567
    assert exemplar.span_id == 0xAA
    (billed,) = got[schema.METRIC_BILLED]
    assert [e.span_id for e in billed.exemplars] == [0xBB]
