"""End to end: the real wrapper (`lctrace wrap`) under the real Runtime Interface Emulator serves
its metrics through OpenTelemetry's Prometheus exporter; a real Prometheus server (Debian's
`prometheus`, started here on 127.0.0.1, 1 s scrape interval) scrapes it; every PromQL
expression of the Prometheus dashboard then returns data.

The run covers what the panels show: a slow init (never_polled), cold and warm invokes, an error,
post-response work (stopped_polling), a hung handler (no_response -> timeout, sandbox killed), an
init error, and a fresh environment after it. Budget: ~25 s (the hang alone takes 7 s).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle_trace import schema
from lifecycle_trace.runtime.metrics import INSTRUMENTS_BY_NAME, prometheus_name

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
FUNCTION = "lctrace-e2e"

# A provided.al2023-style runtime in Python: the event says what to do; a file in its directory
# says how the next init behaves (consumed, so only one init is affected).
RUNTIME = r"""
import http.client, json, os, sys, time
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.rsplit(":", 1)
marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "init-mode")
mode = ""
if os.path.exists(marker):
    mode = open(marker).read().strip()
    os.remove(marker)
conn = http.client.HTTPConnection(host, int(port))
def call(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()
if mode == "slow":
    time.sleep(float(os.environ.get("E2E_SLOW_INIT_S", "0.6")))
if mode == "error":
    call("POST", "/2018-06-01/runtime/init/error", json.dumps({"errorMessage": "boom"}),
         {"Lambda-Runtime-Function-Error-Type": "Runtime.E2EInitError"})
    time.sleep(3.0)  # alive long enough to be scraped, then exit like a failed init
    sys.exit(1)
while True:
    response, body = call("GET", "/2018-06-01/runtime/invocation/next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(body or b"{}")
    time.sleep(event.get("sleep", 0))
    if event.get("action") == "hang":
        time.sleep(60)
    if event.get("action") == "error":
        call("POST", f"/2018-06-01/runtime/invocation/{request_id}/error",
             json.dumps({"errorMessage": "nope", "errorType": "E2EError"}),
             {"Lambda-Runtime-Function-Error-Type": "Function.E2EError"})
    else:
        call("POST", f"/2018-06-01/runtime/invocation/{request_id}/response",
             json.dumps({"ok": True, "echo": event, "path": sys.path}))
    time.sleep(event.get("linger", 0))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Rie:
    """The Runtime Interface Emulator running `bootstrap`, one invoke at a time."""

    def __init__(self, rie: Path, bootstrap: Path, environ: dict[str, str], log: Path,
                 prefix: list[str] | None = None) -> None:  # fmt: skip
        self.port = free_port()
        self.log = log.open("wb")
        command = [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                   "--runtime-api-address", f"127.0.0.1:{free_port()}", str(bootstrap)]  # fmt: skip
        self.process = subprocess.Popen(
            [*(prefix or []), *command], env=environ, cwd=bootstrap.parent,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def invoke(self, event: dict, timeout_s: float = 20.0) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"
        deadline = time.monotonic() + 5
        while True:
            request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=timeout_s) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:  # RIE still binding its port
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(5)
        self.log.close()


def write_runtime(directory: Path, bootstrap_lines: list[str]) -> Path:
    """runtime.py plus an executable `bootstrap` shell script (what RIE runs)."""
    (directory / "runtime.py").write_text(RUNTIME)
    bootstrap = directory / "bootstrap"
    bootstrap.write_text("#!/bin/sh\n" + "\n".join(bootstrap_lines) + "\n")
    bootstrap.chmod(0o755)
    return bootstrap


class Prometheus:
    """Debian's Prometheus server scraping one target every second, on 127.0.0.1."""

    def __init__(self, workdir: Path, target_port: int) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: lctrace\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.port}/-/ready")

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # a bad expression: say which and why
            raise AssertionError(f"{params}: {error.code} {error.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[float]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return [float(sample["value"][1]) for sample in data["result"]]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def substitute(expr: str) -> str:
    """Grafana's template variables as a user would set them: this function, all versions."""
    values = {
        "function": FUNCTION,  # no regex metacharacters in it
        "version": ".*",
        "__range": "3m",
        "__rate_interval": "1m",
        "price_per_gb_s": "0.0000166667",
        "price_per_request": "0.0000002",
    }
    expr = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], expr)
    expr = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], expr)
    assert "$" not in expr, expr
    return expr


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((ROOT / "dashboards" / "lambda-lifecycle-prometheus.json").read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "prometheus":
                found.append((f"{panel['title']} [{target['refId']}]", target["expr"]))
    return found


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory, rie_binary) -> Iterator[Prometheus]:
    if not os.path.exists(PROMETHEUS):
        pytest.fail("Debian's prometheus is not installed (it is in .ci/apt-packages)")
    workdir = tmp_path_factory.mktemp("prom-e2e")
    metrics_port = free_port()
    bootstrap = write_runtime(workdir, [
        f'exec "{sys.executable}" -m lifecycle_trace wrap -- "{sys.executable}" '
        f'"{workdir / "runtime.py"}"'
    ])  # fmt: skip
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "7",
        "LCTRACE_EXPORTER": "log",
        "LCTRACE_PROMETHEUS_PORT": str(metrics_port),
        "LCTRACE_NEVER_POLLED_MS": "300",
        "LCTRACE_STOPPED_POLLING_MS": "300",
        "LCTRACE_DEADLINE_MARGIN_MS": "3000",
    }
    prometheus = Prometheus(workdir, metrics_port)
    rie = Rie(rie_binary, bootstrap, environ, workdir / "rie.log")
    try:
        # environment 1: slow init (never_polled), a cold invoke slow enough to be scraped at 0
        (workdir / "init-mode").write_text("slow")
        assert rie.invoke({"sleep": 2.0})[0] == 200
        for event in ({}, {"sleep": 0.05}, {"linger": 0.5}, {"action": "error"}, {}):
            assert rie.invoke(event)[0] == 200
        time.sleep(2.2)  # scraped before the hang
        status, body = rie.invoke({"action": "hang"})  # no_response at 4 s, killed at 7 s
        assert b"Task timed out" in body, (status, body)
        # environment 2: init error; environment 3: a fresh, healthy one
        (workdir / "init-mode").write_text("error")
        assert rie.invoke({})[0] == 502
        assert rie.invoke({"sleep": 2.0})[0] == 200
        for event in ({}, {"sleep": 0.02}, {}):
            assert rie.invoke(event)[0] == 200
        time.sleep(2.5)  # the last samples are scraped
        yield prometheus
    finally:
        rie.stop()
        prometheus.stop()


def test_every_dashboard_expression_returns_data(scraped_run: Prometheus) -> None:
    empty = []
    expressions = dashboard_expressions()
    assert len(expressions) >= 30
    for title, expr in expressions:
        values = scraped_run.query(substitute(expr))
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{title}: {values}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_the_run_shows_in_the_numbers(scraped_run: Prometheus) -> None:
    def peak(name: str, suffix: str = "", labels: str = "") -> float:
        """The highest value a series reached during the run (one environment's total)."""
        family = prometheus_name(INSTRUMENTS_BY_NAME[name])
        expr = f'max(max_over_time({family}{suffix}{{faas_name="{FUNCTION}"{labels}}}[3m]))'
        (value,) = scraped_run.query(expr)
        return value

    warm_ok = ', faas_coldstart="false", lctrace_outcome="success"'
    assert peak(schema.METRIC_INVOKE_DURATION, "_count", warm_ok) == 4  # environment 1
    assert peak(schema.METRIC_ERRORS, labels=', lctrace_outcome="error"') == 1
    assert peak(schema.METRIC_ERRORS, labels=', lctrace_outcome="init_error"') == 1
    assert peak(schema.METRIC_TIMEOUTS) == 1  # the hung handler's no_response verdict
    for kind in schema.STUCK_KINDS:
        assert peak(schema.METRIC_STUCK, labels=f', lctrace_stuck_kind="{kind}"') == 1, kind
    assert peak(schema.METRIC_INIT_DURATION, "_count", ', lctrace_outcome="success"') == 1
    # counters start at 0 in each environment, so the cold start is an increase Prometheus sees
    cold = f'sum(increase(faas_coldstarts_total{{faas_name="{FUNCTION}"}}[3m]))'
    assert scraped_run.query(cold)[0] >= 1
    memory = scraped_run.query(f'max(lctrace_memory_limit_mebibytes{{faas_name="{FUNCTION}"}})')
    assert memory == [1024.0]
    # the dashboard's function variable finds the function
    names = scraped_run.api("label/faas_name/values", **{"match[]": "faas_coldstarts_total"})
    assert FUNCTION in names
