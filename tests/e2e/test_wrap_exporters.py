"""The wrapper's real exporters behind the real RIE: OTLP gRPC and HTTP/protobuf into receivers
started here, X-Ray through aws-xray-sdk's emitter into a UDP socket, and endpoints that are
down or stall (the function must not notice)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from lifecycle_trace import schema
from tests.e2e.rie_harness import (
    RieHarness,
    example_runtime_command,
    marker_lines,
    wrapped_bootstrap,
)

pytestmark = pytest.mark.e2e
STREAM = "2026/11/26/[$LATEST]e2e0000000000000000000000000001"


def start_rie(rie_binary: Path, tmp_path: Path, env: dict[str, str], timeout_s: int = 2):  # type: ignore[no-untyped-def]
    bootstrap = wrapped_bootstrap(tmp_path, example_runtime_command())
    return RieHarness(rie_binary, bootstrap, env=env, timeout_s=timeout_s).start()


def otlp_spans(requests: list) -> list[tuple[dict, object]]:  # type: ignore[type-arg]
    """(resource attributes, span) for every span in decoded ExportTraceServiceRequests."""
    out = []
    for request in requests:
        for rs in request.resource_spans:
            resource = {a.key: a.value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                out.extend((resource, span) for span in ss.spans)
    return out


def wait_until(predicate, timeout_s: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class _GrpcReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list = []  # type: ignore[type-arg]

    def Export(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def check_invocation_spans(pairs, request_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    names = [span.name for _, span in pairs]
    for name in (
        schema.SPAN_INIT,
        schema.SPAN_INVOCATION,
        schema.SPAN_HANDLER,
        schema.SPAN_RESPONSE,
        schema.SPAN_POST_RESPONSE,
        schema.SPAN_POLL_WAIT,
    ):
        assert name in names
    invocations = [s for _, s in pairs if s.name == schema.SPAN_INVOCATION]
    got_ids = [
        next(a.value.string_value for a in s.attributes if a.key == schema.ATTR_INVOCATION_ID)
        for s in invocations
    ]
    assert got_ids[: len(request_ids)] == request_ids
    resource = pairs[0][0]
    assert resource[schema.ATTR_INSTANCE].string_value == STREAM
    assert resource["service.name"].string_value == "lctrace-e2e"
    handler = next(s for _, s in pairs if s.name == schema.SPAN_HANDLER)
    parent = next(s for s in invocations if s.span_id == handler.parent_span_id)
    assert parent.trace_id == handler.trace_id


def test_otlp_grpc_default_when_endpoint_set(rie_binary: Path, tmp_path: Path) -> None:
    receiver = _GrpcReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    try:
        with start_rie(rie_binary, tmp_path, env) as rie:
            for i in range(3):
                assert rie.invoke(json.dumps({"i": i})).body == json.dumps({"i": i}).encode()
            ids = re.findall(r"START RequestId: (\S+)", rie.stdout())
            rie.invoke(b"{}")
            assert wait_until(
                lambda: (
                    sum(s.name == schema.SPAN_INVOCATION for _, s in otlp_spans(receiver.requests))
                    >= 3
                )
            )
            # OTLP configured, no LCTRACE_EXPORTER: the log lines are not written
            assert not marker_lines(rie.stdout(), schema.MARKER_INVOCATION)
    finally:
        server.stop(0)
    check_invocation_spans(otlp_spans(receiver.requests), ids)


class _HttpReceiver(BaseHTTPRequestHandler):
    requests: list = []  # type: ignore[type-arg]
    paths: list = []  # type: ignore[type-arg]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).paths.append(self.path)
        if self.path == "/v1/traces":  # metrics (engineer H7's sink) may arrive here too
            type(self).requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_protobuf(rie_binary: Path, tmp_path: Path) -> None:
    handler = type("Receiver", (_HttpReceiver,), {"requests": [], "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "LCTRACE_EXPORTER": "otlp,log",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    try:
        with start_rie(rie_binary, tmp_path, env) as rie:
            for i in range(2):
                rie.invoke(json.dumps({"i": i}))
            ids = re.findall(r"START RequestId: (\S+)", rie.stdout())
            rie.invoke(b"{}")
            assert wait_until(
                lambda: (
                    sum(s.name == schema.SPAN_INVOCATION for _, s in otlp_spans(handler.requests))
                    >= 2
                )
            )
            assert len(marker_lines(rie.stdout(), schema.MARKER_INVOCATION)) >= 2
    finally:
        server.shutdown()
    assert "/v1/traces" in handler.paths
    check_invocation_spans(otlp_spans(handler.requests), ids)


def test_xray_segments_over_udp(rie_binary: Path, tmp_path: Path) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.2)
    env = {
        "LCTRACE_EXPORTER": "xray",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
    }
    documents: list[dict] = []
    try:
        with start_rie(rie_binary, tmp_path, env) as rie:
            rie.invoke(b'{"a":1}')
            rie.invoke(b'{"a":2}')
            ids = re.findall(r"START RequestId: (\S+)", rie.stdout())
            deadline = time.monotonic() + 15
            while (
                time.monotonic() < deadline
                and sum(
                    d.get("annotations", {}).get("lctrace_span") == schema.SPAN_INVOCATION
                    for d in documents
                )
                < 1
            ):
                try:
                    data = daemon.recv(65536)
                except TimeoutError:
                    continue
                header, _, body = data.partition(b"\n")
                assert json.loads(header) == {"format": "json", "version": 1}
                documents.append(json.loads(body))
    finally:
        daemon.close()
    invocation = next(
        d for d in documents if d.get("annotations", {}).get("lctrace_span") == "lambda.invocation"
    )
    assert invocation["name"] == "lctrace-e2e"
    assert invocation["origin"] == "AWS::Lambda::Function"
    assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", invocation["trace_id"])
    assert invocation["annotations"]["faas_invocation_id"] == ids[0]
    assert invocation["annotations"]["faas_coldstart"] is True
    assert invocation["start_time"] < invocation["end_time"]
    children = {s["name"] for s in invocation["subsegments"]}
    assert {schema.SPAN_HANDLER, schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE} <= children
    assert any(d.get("annotations", {}).get("lctrace_span") == schema.SPAN_INIT for d in documents)


def _stalling_server() -> tuple[socket.socket, list[socket.socket]]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, held


@pytest.mark.parametrize("failure", ["down", "stalls"])
def test_exporter_down_or_stalled_changes_nothing(
    rie_binary: Path, tmp_path: Path, failure: str
) -> None:
    if failure == "down":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed again: connection refused
        listener = None
    else:
        listener, held = _stalling_server()
        port = listener.getsockname()[1]
    env = {
        "LCTRACE_EXPORTER": "otlp,log",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "LCTRACE_FLUSH_TIMEOUT_MS": "20",
    }
    try:
        # a 1 s function timeout: a flush that blocked on the exporter would time invokes out
        with start_rie(rie_binary, tmp_path, env, timeout_s=1) as rie:
            time.sleep(0.6)  # let the exporter load and its first export hang/fail
            for i in range(6):
                payload = json.dumps({"i": i, "pad": "p" * 3000}).encode()
                result = rie.invoke(payload)
                assert result.status == 200 and result.body == payload
            assert wait_until(
                lambda: len(marker_lines(rie.stdout(), schema.MARKER_INVOCATION)) >= 5
            )
            stdout = rie.stdout()
    finally:
        if listener is not None:
            listener.close()
    assert "Task timed out" not in stdout
    assert len(marker_lines(stdout, schema.MARKER_INVOCATION)) >= 5
    # the SDK's own complaints are counted, not printed into the function's logs
    assert "Traceback" not in stdout and "Failed to export" not in stdout
