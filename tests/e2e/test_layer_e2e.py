"""The Lambda layer: build the zip, unpack it onto /opt (a private mount namespace, so the
machine's /opt is untouched), and run its `/opt/lctrace-wrapper` the way a managed runtime's
bootstrap does with AWS_LAMBDA_EXEC_WRAPPER, under the real Runtime Interface Emulator, with a
bare interpreter that has none of lctrace's dependencies. Spans and metrics reach a real OTLP
receiver; EMF and log lines reach the log. Budget: ~10 s."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.layer import build as layer_build
from lifecycle_trace import schema
from tests.e2e.test_prometheus_e2e import Rie, write_runtime

pytestmark = pytest.mark.e2e

BARE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
HEAVY = ("pandas", "boto3", "botocore", "typer", "rich", "numpy")


class OtlpReceiver:
    """OTLP/HTTP traces and metrics on 127.0.0.1, decoded with opentelemetry-proto."""

    def __init__(self) -> None:
        self.spans: list[str] = []
        self.metrics: list[str] = []
        self.resource: dict[str, str] = {}
        self.metric_exports = 0
        self.invocations = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        receiver.resource.update(
                            {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                        )
                        receiver.spans += [s.name for ss in rs.scope_spans for s in ss.spans]
                elif self.path == "/v1/metrics":
                    request = ExportMetricsServiceRequest.FromString(body)
                    receiver.metric_exports += 1
                    for rm in request.resource_metrics:
                        for metric in (m for sm in rm.scope_metrics for m in sm.metrics):
                            receiver.metrics.append(metric.name)
                            if metric.name == schema.METRIC_INVOKE_DURATION:  # cumulative
                                receiver.invocations = max(
                                    receiver.invocations,
                                    sum(p.count for p in metric.histogram.data_points),
                                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def spans_named(self, name: str) -> int:
        return self.spans.count(name)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def layer_zip(tmp_path_factory) -> Path:
    return layer_build.build(tmp_path_factory.mktemp("layer") / "lctrace-layer.zip", from_env=True)


def test_layer_holds_the_wrapper_and_only_the_runtime_side(layer_zip: Path) -> None:
    with zipfile.ZipFile(layer_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    wrapper = infos["lctrace-wrapper"]
    assert (wrapper.external_attr >> 16) & 0o777 == 0o755
    assert "lctrace/python/lifecycle_trace/runtime/wrapper.py" in infos
    assert "lctrace/python/lifecycle_trace/runtime/metrics.py" in infos
    assert any(n.startswith("lctrace/python/opentelemetry/sdk/") for n in infos)
    assert any(
        n.startswith("lctrace/python/opentelemetry/exporter/otlp/proto/http/") for n in infos
    )
    top = {n.split("/")[2] for n in infos if n.startswith("lctrace/python/")}
    assert not {t for t in top for heavy in HEAVY if t == heavy or t.startswith(heavy + "-")}
    assert not any("__pycache__" in n for n in infos)
    # deterministic: the same inputs give the same bytes
    again = layer_build.build(layer_zip.with_name("again.zip"), from_env=True)
    assert again.read_bytes() == layer_zip.read_bytes()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    rec = OtlpReceiver()
    yield rec
    rec.close()


def test_exec_wrapper_from_the_layer_runs_under_rie(
    layer_zip: Path, tmp_path: Path, rie_binary: Path, receiver: OtlpReceiver
) -> None:
    if not shutil.which("unshare"):
        pytest.fail("util-linux `unshare` is needed to mount the layer on /opt privately")
    opt = tmp_path / "opt"
    with zipfile.ZipFile(layer_zip) as archive:
        archive.extractall(opt)
    for info in zipfile.ZipFile(layer_zip).infolist():  # zipfile does not restore modes
        os.chmod(opt / info.filename, (info.external_attr >> 16) & 0o777)
    assert os.stat(opt / "lctrace-wrapper").st_mode & stat.S_IXUSR
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(BARE_PYTHON)  # a runtime's interpreter: no lctrace deps
    function = tmp_path / "function"
    function.mkdir()
    # what a managed runtime's bootstrap does with AWS_LAMBDA_EXEC_WRAPPER (RIE ignores it)
    bootstrap = write_runtime(function, [
        'exec "$AWS_LAMBDA_EXEC_WRAPPER" python3 "$(dirname "$0")/runtime.py"',
    ])  # fmt: skip
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(function / "deps"),  # the function's own path, must come back
        "PYTHONNOUSERSITE": "1",
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/lctrace-wrapper",
        "AWS_LAMBDA_FUNCTION_NAME": "layered",
        "LCTRACE_EXPORTER": "otlp,emf,log",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    mount = ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" /opt && exec "$@"', str(opt)]  # fmt: skip
    log = tmp_path / "rie.log"
    rie = Rie(rie_binary, bootstrap, environ, log, prefix=mount)
    try:
        responses = [rie.invoke({"n": n}) for n in range(3)]
        # the sandbox stays up (as Lambda keeps it between invokes) until the exports arrive
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            receiver.spans_named(schema.SPAN_INVOCATION) >= 3 and receiver.invocations >= 3
        ):
            time.sleep(0.05)
    finally:
        rie.stop()
    output = log.read_text(errors="replace")
    for status, body in responses:
        assert status == 200, output[-3000:]
        answer = json.loads(body)
        assert answer["ok"] is True
        assert not any("lctrace" in entry for entry in answer["path"])  # layer not leaked
        assert str(function / "deps") in answer["path"]
    assert "lctrace: warning" not in output, output[-3000:]
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    invocations = [x for x in lines if x.get(schema.MARKER_KEY) == schema.MARKER_INVOCATION]
    assert [x["cold"] for x in invocations] == [True, False, False]
    emf_lines = [x for x in lines if "_aws" in x and schema.METRIC_INVOKE_DURATION in x]
    assert len(emf_lines) == 3 and emf_lines[0][schema.ATTR_FAAS_NAME] == "layered"
    # spans and metrics went out through the layer's own OpenTelemetry SDK and exporters
    assert schema.SPAN_INVOCATION in receiver.spans and schema.SPAN_INIT in receiver.spans
    assert receiver.resource.get(schema.ATTR_FAAS_NAME) == "layered"
    assert receiver.spans_named(schema.SPAN_INVOCATION) == 3
    assert receiver.invocations == 3
    assert schema.METRIC_COLDSTARTS in receiver.metrics
    assert receiver.metric_exports >= 2  # the zero-valued counters first, then the records
