"""OTLP/HTTP metric export into a real receiver on 127.0.0.1, decoded with opentelemetry-proto;
`flush(timeout_ms)` pushes before GET /next and never waits past its budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from lifecycle_trace import schema
from lifecycle_trace.runtime.metrics import build_metrics
from lifecycle_trace.runtime.phases import InvocationPhases

ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[7]0123456789abcdef0123456789abcdef",
    "AWS_REGION": "eu-west-1",
}


class Receiver:
    """An OTLP/HTTP metrics endpoint; `gate` lets a test hold every answer back."""

    def __init__(self) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        self.answered = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.headers.append(dict(self.headers))
                receiver.requests.append(ExportMetricsServiceRequest.FromString(body))
                receiver.arrived.set()
                receiver.gate.wait(10)
                receiver.answered += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def metrics(self) -> dict[str, list]:
        found: dict[str, list] = {}
        for request in self.requests:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        found.setdefault(metric.name, []).append(metric)
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.gate.set()
    rec.server.shutdown()
    rec.server.server_close()


def invocation(request_id: str, cold: bool) -> InvocationPhases:
    return InvocationPhases(
        request_id=request_id, instance="i", function=None, version=None, cold=cold,
        start_ns=1, poll_wait_ms=1.0, handler_ms=12.0, response_ms=1.0, post_response_ms=2.5,
    )  # fmt: skip


def test_flush_exports_the_invocation_with_lambda_resource(receiver: Receiver) -> None:
    sink = build_metrics(
        {
            **ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=lambda%20core",
        }
    )
    assert sink is not None
    try:
        # built: the zero-valued counters were pushed before any record
        assert len(receiver.requests) == 1
        (zero,) = receiver.metrics()[schema.METRIC_COLDSTARTS]
        assert zero.sum.data_points[0].as_int == 0 and zero.sum.is_monotonic
        sink.on_invocation(invocation("r-1", cold=True))
        sink.flush(5000)
        assert len(receiver.requests) == 2, "flush pushes before returning (quick collector)"
        assert receiver.paths == ["/v1/metrics"] * 2
        assert receiver.headers[0].get("x-team") == "lambda core"
        resource = {
            kv.key: kv.value.string_value or kv.value.int_value
            for kv in receiver.requests[0].resource_metrics[0].resource.attributes
        }
        assert resource[schema.ATTR_INSTANCE] == ENV["AWS_LAMBDA_LOG_STREAM_NAME"]
        assert resource[schema.ATTR_CLOUD_PLATFORM] == "aws_lambda"
        assert resource[schema.ATTR_CLOUD_REGION] == "eu-west-1"
        assert resource[schema.ATTR_MAX_MEMORY] == 512 * 1024 * 1024
        assert resource["service.name"] == "orders"
        got = receiver.metrics()
        (billed,) = got[schema.METRIC_BILLED]
        assert billed.unit == "ms"
        assert billed.histogram.data_points[0].sum == 16  # ceil(12 + 1 + 2.5)
        zero, cold = got[schema.METRIC_COLDSTARTS]
        assert cold.sum.data_points[0].as_int == 1  # cumulative: 0 then 1 -> one increase
        start = zero.sum.data_points[0].start_time_unix_nano
        assert cold.sum.data_points[0].start_time_unix_nano == start
    finally:
        sink.shutdown()


def test_flush_returns_within_budget_while_the_collector_hangs(receiver: Receiver) -> None:
    sink = build_metrics({**ENV, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT":
                          f"http://127.0.0.1:{receiver.port}/v1/metrics"})  # fmt: skip
    assert sink is not None
    answered = receiver.answered  # the zero-valued counters pushed at build
    receiver.arrived.clear()
    receiver.gate.clear()  # the collector accepts but does not answer
    sink.on_invocation(invocation("r-1", cold=False))
    sink.flush(50)
    # flush came back although the receiver has not answered: the export is still pending
    assert receiver.answered == answered
    assert receiver.arrived.wait(5)
    receiver.gate.set()
    sink.on_invocation(invocation("r-2", cold=False))
    sink.flush(5000)
    counts = [m.histogram.data_points[0].count for m in receiver.metrics()[schema.METRIC_BILLED]]
    assert counts[-1] == 2  # cumulative: both invocations arrived, nothing was lost
    sink.shutdown()
    sink.shutdown()  # idempotent


def test_unreachable_collector_never_raises_and_stays_out_of_the_log(capfd) -> None:
    sink = build_metrics({**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                          "OTEL_EXPORTER_OTLP_TIMEOUT": "200"})  # fmt: skip
    assert sink is not None
    sink.on_invocation(invocation("r-1", cold=True))
    sink.flush(20)
    sink.shutdown()
    assert sink.failures >= 1  # counted (the telemetry layer reports the total once) ...
    assert "Transient error" not in capfd.readouterr().err  # ... not printed per attempt


def test_unknown_protocol_disables_metrics_instead_of_raising() -> None:
    assert (
        build_metrics({**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                       "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})  # fmt: skip
        is None
    )


def test_a_record_is_exported_even_when_flush_is_never_called(receiver: Receiver) -> None:
    """The telemetry fan-out shares one flush budget among sinks; a sink starved of it must not
    lose the invocation: recording starts the export by itself."""
    sink = build_metrics({**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}"})
    assert sink is not None
    try:
        receiver.arrived.clear()
        sink.on_invocation(invocation("r-1", cold=True))
        assert receiver.arrived.wait(5)
        deadline = time.monotonic() + 5
        while schema.METRIC_BILLED not in receiver.metrics() and time.monotonic() < deadline:
            time.sleep(0.01)
        (billed,) = receiver.metrics()[schema.METRIC_BILLED]
        assert billed.histogram.data_points[0].count == 1
    finally:
        sink.shutdown()


def test_grpc_protocol_exports_to_a_grpc_receiver() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc: the same records over OTLP/gRPC (port 4317 style)."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import (
        metrics_service_pb2,
        metrics_service_pb2_grpc,
    )

    received: list[ExportMetricsServiceRequest] = []

    class Service(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):  # noqa: N802 - the generated service's naming
            received.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        sink = build_metrics({**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                              "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})  # fmt: skip
        assert sink is not None
        sink.on_invocation(invocation("r-1", cold=True))
        sink.flush(5000)
        sink.shutdown()
        names = {m.name for r in received for rm in r.resource_metrics
                 for sm in rm.scope_metrics for m in sm.metrics}  # fmt: skip
        assert {schema.METRIC_BILLED, schema.METRIC_COLDSTARTS} <= names
    finally:
        server.stop(0)
