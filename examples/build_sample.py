"""Build `examples/lambda-logs.json`: the sample the README's first command analyses.

    .venv/bin/python examples/build_sample.py        # rewrites examples/lambda-logs.json

The output is an `aws logs filter-log-events` response (`{"events": [...]}`) over one custom log
group shared by four functions (stream names `YYYY/MM/DD/<function>[<version>]<32 hex>`), 50
minutes around midnight UTC on 2026-03-10. Every platform line follows a real line, kept verbatim
below with its origin (see ../shared/reference/lambda-log-formats.md and ../shared/samples), with
only ids, times and numbers changed. What it shows:

* orders-api (python3.12, 256 MB, version 14): a cold start with an extension, warm invokes,
  a scale-out cold start while the first environment is busy, a timeout (new-style `REPORT ...
  Status: timeout`), the same stream re-running init after it (replacement), an idle cold start
  after 30 quiet minutes, and a stream already running when the export began (not cold).
  Billed = ceil(Duration + Init Duration) (INIT billed, 2026).
* report-worker (provided.al2023, 1024 MB, 30 s timeout): a bootstrap that never calls
  `GET /next` — `INIT_REPORT ... Phase: init Status: timeout`, then every invoke re-runs init
  (suppressed, no `Init Duration`) and times out: the never-polled doom loop.
* image-resizer (nodejs20.x, 512 MB): a cold start billed ceil(Duration) (older rule, still seen
  after 2025-08-01), an out-of-memory kill (`signal: killed`, Max Memory Used = Memory Size), the
  replacement environment, and a runtime exit (`exit status 1`).
* ledger-java (java11 SnapStart, version 56, 3009 MB): RESTORE_START / RESTORE_REPORT and the real
  SnapStart REPORT (Billed 610 = ceil(306.34) + 303 Billed Restore Duration), then warm invokes.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "lambda-logs.json"
T0 = datetime(2026, 3, 10, 23, 40, tzinfo=UTC).timestamp() * 1000
GROUP_NS = uuid.UUID("6f1c1c3e-9b0e-4c59-9a53-3f7c2b1d0e42")

# Verbatim originals the lines below follow (tabs as in CloudWatch):
#  INIT_START Runtime Version: python:3.12.mainlinev2.v7\tRuntime Version ARN: arn:aws:lambda:...
#  EXTENSION\tName: AWSParametersAndSecretsLambdaExtension\tState: Ready\tEvents: [SHUTDOWN, INVOKE]
#  REPORT ...\tInit Duration: 190.62 ms\t\nXRAY TraceId: 1-636d1462-...\tSegmentId: ...
#     \tSampled: true\t (powertools kinesisStreamCloudWatchLogsEvent.json, 2022)
#  INIT_REPORT Init Duration: 1236.04 ms Phase: init Status: timeout     (AWS docs)
#  REPORT ... Status: timeout / Status: error\tError Type: Runtime.ExitError   (AWS docs, console)
#  RequestId: dcd6569e-... Error: Runtime exited with error: exit status 126\nRuntime.ExitError
#  RESTORE_START / RESTORE_REPORT / REPORT ... Restore Duration: 511.25 ms\tBilled Restore
#     Duration: 303 ms (docwho2 sam logs, 2023)
ARN = "arn:aws:lambda:us-east-1::runtime:"


class Export:
    """Collects events; `stream()` names a stream, helpers append its lines."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, int, str]] = []

    def add(self, stream: str, at_s: float, message: str) -> None:
        self.events.append((T0 + at_s * 1000, stream, len(self.events), message))

    def write(self) -> dict:
        ordered = sorted(self.events)
        events = []
        for index, (ts, stream, _, message) in enumerate(ordered):
            digest = int(hashlib.sha256(f"{stream}{index}".encode()).hexdigest(), 16)
            events.append({
                "logStreamName": stream,
                "timestamp": int(ts),
                "message": message,
                "ingestionTime": int(ts) + 700 + digest % 900,
                "eventId": f"{int(ts):013d}{digest % 10**43:043d}",
            })
        return {"events": events, "searchedLogStreams": []}


def stream(day: str, function: str, version: str, salt: str = "") -> str:
    """A custom-log-group stream name with a stable 32-hex suffix."""
    return f"{day}/{function}[{version}]" + hashlib.md5(  # noqa: S324 - a name, not security
        f"{day}{function}{version}{salt}".encode()).hexdigest()


def rid(name: str) -> str:
    return str(uuid.uuid5(GROUP_NS, name))


def iso(at_s: float) -> str:
    return datetime.fromtimestamp((T0 + at_s * 1000) / 1000, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def invoke(x: Export, s: str, name: str, at: float, duration: float, memory: int, used: int,
           version: str, *, init: float | None = None, billed: int | None = None,
           status: str = "", lines: tuple[str, ...] = (), fault: str = "",
           xray: bool = False, style: str = "python") -> float:
    """START, output, [fault], END, REPORT. Returns when the invocation ended (seconds)."""
    request = rid(name)
    x.add(s, at, f"START RequestId: {request} Version: {version}\n")
    for i, text in enumerate(lines):
        when = at + (i + 1) * duration / 1000 / (len(lines) + 1)
        if style == "python":
            x.add(s, when, f"[INFO]\t{iso(when)}\t{request}\t{text}\n")
        else:
            x.add(s, when, f"{iso(when)}\t{request}\tINFO\t{text}\n")
    end = at + duration / 1000
    if fault:
        x.add(s, end, f"RequestId: {request} Error: {fault}\nRuntime.ExitError\n")
    x.add(s, end, f"END RequestId: {request}\n")
    if billed is None:
        billed = math.ceil(duration + (init or 0.0))
    report = (f"REPORT RequestId: {request}\tDuration: {duration:.2f} ms\tBilled Duration: "
              f"{billed} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB\t")
    if init is not None:
        report += f"Init Duration: {init:.2f} ms\t"
    report += status
    if xray:
        trace = hashlib.sha1(request.encode()).hexdigest()  # noqa: S324
        report += (f"\nXRAY TraceId: 1-{int((T0 / 1000) + at):08x}-{trace[:24]}\tSegmentId: "
                   f"{trace[24:40]}\tSampled: true\t")
    x.add(s, end, report + "\n")
    return end


def orders_api(x: Export) -> None:
    a = stream("2026/03/10", "orders-api", "14")
    b = stream("2026/03/10", "orders-api", "14", "b")
    f = stream("2026/03/11", "orders-api", "14")
    g = stream("2026/03/10", "orders-api", "14", "g")
    py = f"Runtime Version: python:3.12.mainlinev2.v7\tRuntime Version ARN: {ARN}2b830756"
    lines = ("GET /orders/{id} order_id=ord_7QW1", "dynamodb GetItem orders 1 item")
    x.add(a, 0.0, f"INIT_START {py}\n")
    x.add(a, 0.31, "EXTENSION\tName: AWSParametersAndSecretsLambdaExtension\tState: Ready\t"
                   "Events: [SHUTDOWN, INVOKE]\n")
    invoke(x, a, "a1", 0.42, 183.52, 256, 88, "14", init=412.37, lines=lines, xray=True)
    invoke(x, a, "a2", 5.10, 48.91, 256, 89, "14", lines=lines)
    invoke(x, g, "g1", 7.00, 61.30, 256, 97, "14", lines=lines)  # already running: not cold
    invoke(x, a, "a3", 12.00, 2210.40, 256, 91, "14",
           lines=("POST /orders checkout cart=12 items", "payments-gateway charge ok"))
    x.add(b, 12.90, f"INIT_START {py}\n")
    invoke(x, b, "b1", 13.31, 201.77, 256, 86, "14", init=398.05, lines=lines)
    invoke(x, a, "a4", 20.00, 6000.00, 256, 93, "14", billed=6000, status="Status: timeout",
           lines=("POST /orders checkout cart=3 items", "payments-gateway charge: waiting"))
    x.add(a, 26.20, f"INIT_START {py}\n")
    invoke(x, a, "a5", 26.62, 176.03, 256, 87, "14", init=405.11, lines=lines)
    for i, at in enumerate((31.0, 44.5, 58.2, 73.9)):
        invoke(x, b, f"b{i + 2}", at, 35.0 + 7.3 * i, 256, 90, "14", lines=lines)
    x.add(f, 1920.0, f"INIT_START {py}\n")
    invoke(x, f, "f1", 1920.44, 192.66, 256, 85, "14", init=421.90, lines=lines)
    invoke(x, f, "f2", 1931.00, 44.12, 256, 86, "14", lines=lines)


def report_worker(x: Export) -> None:
    c = stream("2026/03/10", "report-worker", "$LATEST")
    x.add(c, 600.0, f"INIT_START Runtime Version: provided:al2023.v85\tRuntime Version ARN: "
                    f"{ARN}d4e0a6a9\n")
    x.add(c, 610.0, "INIT_REPORT Init Duration: 10000.12 ms\tPhase: init\tStatus: timeout\n")
    at = 610.05
    for i in range(3):
        if i == 0:
            x.add(c, at + 29.99, "INIT_REPORT Init Duration: 29999.87 ms\tPhase: invoke\t"
                                 "Status: timeout\n")
        at = invoke(x, c, f"c{i + 1}", at, 30000.00, 1024, 31, "$LATEST", billed=30000,
                    status="Status: timeout") + 0.21


def image_resizer(x: Export) -> None:
    d = stream("2026/03/10", "image-resizer", "$LATEST")
    e = stream("2026/03/10", "image-resizer", "$LATEST", "e")
    node = f"Runtime Version: nodejs:20.v31\tRuntime Version ARN: {ARN}c869d752"
    lines = ("resize s3://media-in/img_8841.jpg to 1024x768", "put s3://media-out/img_8841.webp")
    x.add(d, 120.0, f"INIT_START {node}\n")
    invoke(x, d, "d1", 120.29, 812.30, 512, 388, "$LATEST", init=287.44, billed=813,
           lines=lines, style="node")
    invoke(x, d, "d2", 150.00, 1533.08, 512, 512, "$LATEST", billed=1534,
           status="Status: error\tError Type: Runtime.ExitError",
           lines=("resize s3://media-in/panorama_41.tiff to 1024x768",),
           fault="Runtime exited with error: signal: killed", style="node")
    x.add(e, 160.0, f"INIT_START {node}\n")
    invoke(x, e, "e1", 160.30, 790.11, 512, 371, "$LATEST", init=301.95, billed=791,
           lines=lines, style="node")
    invoke(x, e, "e2", 171.00, 402.56, 512, 380, "$LATEST", lines=lines, style="node")
    invoke(x, e, "e3", 190.00, 96.14, 512, 201, "$LATEST",
           status="Status: error\tError Type: Runtime.ExitError",
           lines=("worker pool: native module crashed, exiting",),
           fault="Runtime exited with error: exit status 1", style="node")


def ledger_java(x: Export) -> None:
    j = stream("2026/03/10", "ledger-java", "56")
    x.add(j, 300.013, "RESTORE_START Runtime Version: java:11.v21\tRuntime Version ARN: "
                      f"{ARN}156ab0dc268a6b4a8dedcbcf0974795cafba2ee8760fe386062fffdbb887b971\n")
    x.add(j, 300.376, "RESTORE_REPORT Restore Duration: 511.25 ms\n")
    request = rid("j1")
    x.add(j, 300.379, f"START RequestId: {request} Version: 56\n")
    x.add(j, 300.686, f"END RequestId: {request}\n")
    x.add(j, 300.686, f"REPORT RequestId: {request}\tDuration: 306.34 ms\tBilled Duration: 610 ms"
                      "\tMemory Size: 3009 MB\tMax Memory Used: 155 MB\tRestore Duration: "
                      "511.25 ms\tBilled Restore Duration: 303 ms\t\n")
    for i, (at, duration) in enumerate(((309.928, 138.27), (321.980, 50.76), (324.051, 10.09))):
        invoke(x, j, f"j{i + 2}", at, duration, 3009, 159, "56")


def build() -> dict:
    x = Export()
    orders_api(x)
    report_worker(x)
    image_resizer(x)
    ledger_java(x)
    return x.write()


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
