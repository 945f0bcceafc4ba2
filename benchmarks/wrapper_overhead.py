"""What `lctrace wrap` costs a function, measured against bare RIE in the same run.

    .venv/bin/python benchmarks/wrapper_overhead.py [--invokes 2000] [--colds 15]

Variants: `bare` (the example runtime straight under RIE), `jsonl` (wrapped, OTLP/JSON lines
to a file), `otlp` (wrapped, OTLP http/protobuf into a receiver on 127.0.0.1), `otlp-grpc`
(OTLP/gRPC into a grpcio receiver), `otlp-nowait` (`LCTRACE_FLUSH_TIMEOUT_MS=0`), `log` (the
default exporter), `none` (the proxy alone) and `floor` / `floor-poll` (relay_floor.py: the
cheapest byte relay Python can do, no lctrace at all - the floor `none` can approach).
Wrapped variants start like the layer does (`python -S .../runtime/wrapper.py`; `--style venv`:
`python -m lifecycle_trace wrap`). Each runs in
its own warm RIE; invokes alternate between the variants in blocks, so machine noise hits all
alike. Reported per variant: invoke latency p50/p99 (sequential, keep-alive), RIE's own
`INIT REPORT(durationMs)` - exec of the bootstrap to the runtime's first `/next` - over fresh
RIE starts, and the wrapper process's RSS (current and peak) after the run.
Targets (issue 4): p50 +0.15 ms, p99 +0.5 ms, cold start +40 ms, RSS 40 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.rie_harness import (  # noqa: E402
    RieHarness,
    _children,
    example_runtime_command,
    layer_style_bootstrap,
    wrapped_bootstrap,
    write_script,
)

RIE = Path(os.environ.get("LCTRACE_RIE") or REPO / ".cache" / "rie" / "aws-lambda-rie-x86_64")
FLOOR = REPO / "benchmarks" / "relay_floor.py"


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and discards (the exporter's real network path)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


STYLE = {"style": "layer"}


def make_bootstrap(directory: Path, variant: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if variant == "bare":
        return write_script(directory / "bootstrap", example_runtime_command())
    if variant.startswith("floor"):  # floor, floor-poll: relay_floor.py, no lctrace at all
        mode = variant.partition("-")[2] or "pump"
        command = [sys.executable, "-S", str(FLOOR), "--mode", mode, "--"]
        return write_script(directory / "bootstrap", command + example_runtime_command())
    if STYLE["style"] == "layer":  # how the layer's exec wrapper starts it: python -S
        return layer_style_bootstrap(directory, example_runtime_command())
    return wrapped_bootstrap(directory, example_runtime_command())  # python -m, venv site


def start_grpc_sink() -> tuple[object, int]:
    """An OTLP/gRPC trace receiver that accepts and discards."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


PORTS = {"http": 0, "grpc": 0}


def variant_env(variant: str, directory: Path, otlp_port: int) -> dict[str, str]:
    if variant == "jsonl":
        return {"LCTRACE_EXPORTER": "jsonl", "LCTRACE_JSONL_PATH": str(directory / "spans.jsonl")}
    if variant in ("none", "log"):
        return {"LCTRACE_EXPORTER": variant}
    if variant == "otlp-grpc":
        return {
            "LCTRACE_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{PORTS['grpc']}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_METRICS_EXPORTER": "none",
        }
    if variant == "otlp-nowait":  # LCTRACE_FLUSH_TIMEOUT_MS=0: export without waiting for it
        return {**variant_env("otlp", directory, otlp_port), "LCTRACE_FLUSH_TIMEOUT_MS": "0"}
    if variant == "otlp":
        return {
            "LCTRACE_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRICS_EXPORTER": "none",
        }
    return {}


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, hwm


def cold_starts(variants: list[str], root: Path, otlp_port: int, count: int) -> dict:
    """INIT REPORT durationMs of fresh RIE starts, alternating variants."""
    inits: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(count):
        for variant in variants:
            directory = root / f"cold-{variant}-{i}"
            env = variant_env(variant, directory, otlp_port)
            with RieHarness(RIE, make_bootstrap(directory, variant), env=env, timeout_s=10) as rie:
                rie.invoke(b"{}")
                rie.wait_for("INIT REPORT", stream="stderr")
                match = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", rie.stderr())
                if match:
                    inits[variant].append(float(match.group(1)))
    return inits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invokes", type=int, default=2000, help="per variant")
    parser.add_argument("--block", type=int, default=100, help="invokes per turn")
    parser.add_argument("--colds", type=int, default=15, help="fresh starts per variant")
    parser.add_argument("--variants", default="bare,jsonl,otlp")
    parser.add_argument(
        "--style",
        choices=("layer", "venv"),
        default="layer",
        help="start the wrapper as the layer does (python -S) or python -m",
    )
    args = parser.parse_args()
    STYLE["style"] = args.style
    variants = args.variants.split(",")

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp_port = sink.server_address[1]
    grpc_server = None
    if "otlp-grpc" in variants:
        grpc_server, PORTS["grpc"] = start_grpc_sink()
    root = Path(tempfile.mkdtemp(prefix="lctrace-bench-"))
    harnesses = {}
    for variant in variants:
        directory = root / variant
        env = variant_env(variant, directory, otlp_port)
        harnesses[variant] = RieHarness(
            RIE, make_bootstrap(directory, variant), env=env, timeout_s=10
        ).start()
    latencies: dict[str, list[float]] = {v: [] for v in variants}
    rss: dict[str, tuple[int, int]] = {}
    try:
        for rie in harnesses.values():
            for _ in range(50):  # warm-up (cold start, imports, exporter connection)
                rie.invoke(b"{}")
        wrappers = {
            v: min(_children(rie.proc.pid))  # RIE's child: the bootstrap exec'd into the wrapper
            for v, rie in harnesses.items()
            if v != "bare" and rie.proc is not None
        }
        ticks_before = {v: cpu_ticks(pid) for v, pid in wrappers.items()}
        done = 0
        while done < args.invokes:
            for variant in variants:
                rie = harnesses[variant]
                for _ in range(args.block):
                    latencies[variant].append(rie.invoke(b'{"k":"v"}').elapsed_ms)
            done += args.block
        hz = os.sysconf("SC_CLK_TCK")
        cpu_us = {
            v: (cpu_ticks(pid) - ticks_before[v]) / hz * 1e6 / done for v, pid in wrappers.items()
        }
        for variant, pid in wrappers.items():
            rss[variant] = rss_kb(pid)
    finally:
        for rie in harnesses.values():
            rie.stop()
    inits = cold_starts(variants, root, otlp_port, args.colds)
    sink.shutdown()
    if grpc_server is not None:
        grpc_server.stop(0)  # type: ignore[attr-defined]

    report: dict[str, dict] = {}
    base = latencies.get("bare")
    for variant in variants:
        lat = latencies[variant]
        row = {
            "invokes": len(lat),
            "p50_ms": round(statistics.median(lat), 3),
            "p99_ms": round(percentile(lat, 99), 3),
            "init_p50_ms": round(statistics.median(inits[variant]), 1) if inits[variant] else None,
            "init_min_ms": round(min(inits[variant]), 1) if inits[variant] else None,
        }
        if base is not None and variant != "bare":
            row["added_p50_ms"] = round(row["p50_ms"] - statistics.median(base), 3)
            row["added_p99_ms"] = round(row["p99_ms"] - percentile(base, 99), 3)
            if inits[variant] and inits["bare"]:
                row["added_cold_start_ms"] = round(
                    statistics.median(inits[variant]) - statistics.median(inits["bare"]), 1
                )
                # the best runs: what the wrapper costs when the machine is not busy
                row["added_cold_start_min_ms"] = round(min(inits[variant]) - min(inits["bare"]), 1)
        if variant in cpu_us:
            row["wrapper_cpu_us_per_invoke"] = round(cpu_us[variant], 1)
        if variant in rss:
            row["wrapper_rss_mb"] = round(rss[variant][0] / 1024, 1)
            row["wrapper_peak_rss_mb"] = round(rss[variant][1] / 1024, 1)
        report[variant] = row
    print(json.dumps({"style": args.style, "variants": report}, indent=2))


if __name__ == "__main__":
    main()
