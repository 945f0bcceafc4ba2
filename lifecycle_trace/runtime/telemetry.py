"""Phase records -> exporters, chosen from the environment; never blocking, never raising.

`build_telemetry(environ)` returns a `Telemetry` fan-out over sinks, each with the same five
calls (`on_init`, `on_invocation`, `on_stuck`, `flush(timeout_ms)`, `shutdown`), the interface
the metrics/EMF sinks share:

- `log` (`LogSink`): one compact JSON line per invocation on stderr (schema.LOG_FIELDS), plus
  an init line - needs no OpenTelemetry import at all, so it costs nothing at cold start;
- `otlp`, `jsonl`, `xray` (`spanexport.SpanSink`): records -> SDK spans (`spans.py`) ->
  exporters (bounded queues, overflow dropped and counted);
- `emf` and metrics: H7's `EmfSink` / `build_metrics`, imported lazily.

Sinks that need heavy imports are wrapped in `DeferredSink`: the import runs in a background
thread after the runtime was spawned, records wait in a bounded queue meanwhile, and a flush
before it is ready returns at once instead of delaying the cold start.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from lifecycle_trace import config
from lifecycle_trace.errors import ConfigError
from lifecycle_trace.runtime.sinks import DeferredSink, LogSink, Telemetry, warn

__all__ = ["DeferredSink", "LogSink", "Telemetry", "build_telemetry", "select_exporters"]

EXPORTERS = ("otlp", "jsonl", "xray", "emf", "log", "none")
SPAN_EXPORTERS = ("otlp", "jsonl", "xray")


def select_exporters(environ: Mapping[str, str]) -> list[str]:
    """Exporter names from LCTRACE_EXPORTER; unset: otlp when OTEL_* asks for it, else log."""
    raw = config.get_str(config.EXPORTER, environ)
    if raw:
        names = []
        for name in (part.strip().lower() for part in raw.split(",")):
            if not name:
                continue
            if name not in EXPORTERS:
                warn(
                    f"LCTRACE_EXPORTER: unknown exporter {name!r} ignored "
                    f"(expected one of {', '.join(EXPORTERS)})"
                )
                continue
            if name not in names:
                names.append(name)
        return names or ["log"]
    otel = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if (
        otel == "otlp"
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return ["otlp"]
    return ["log"]


def _span_factory(names: list[str], environ: Mapping[str, str], queue_size: int):  # type: ignore[no-untyped-def]
    def factory() -> Any:
        from lifecycle_trace.runtime.spanexport import SpanSink, make_span_exporter

        exporters = []
        for name in names:
            try:
                exporters.append((name, make_span_exporter(name, environ)))
            except Exception as exc:  # noqa: BLE001
                warn(f"exporter {name!r} unavailable ({type(exc).__name__}: {exc})")
        return SpanSink(exporters, environ, queue_size)

    return factory


def _emf_factory() -> Any:
    from lifecycle_trace.runtime.emf import EmfSink  # H7's module

    return EmfSink(sys.stdout)


def _metrics_factory(environ: Mapping[str, str]):  # type: ignore[no-untyped-def]
    def factory() -> Any:
        try:
            from lifecycle_trace.runtime.metrics import build_metrics  # H7's module
        except ImportError:
            return None
        return build_metrics(environ)

    return factory


def build_telemetry(
    environ: Mapping[str, str] | None = None,
    load_gate: threading.Event | None = None,
    load_gate_timeout_s: float = 4.0,
) -> Telemetry:
    """The sinks LCTRACE_EXPORTER / OTEL_* ask for. Heavy ones load in background threads,
    which first wait for `load_gate` (set when the runtime's init is over), at most
    `load_gate_timeout_s`, so their imports do not compete with the runtime's init."""
    env = os.environ if environ is None else environ
    gate = {"gate": load_gate, "gate_timeout_s": load_gate_timeout_s}
    names = select_exporters(env)
    try:
        queue_size = config.get_int(config.QUEUE_SIZE, env)
    except ConfigError as exc:
        warn(f"{exc}; using the default {config.QUEUE_SIZE.default}")
        queue_size = int(str(config.QUEUE_SIZE.default))
    sinks: list[Any] = []
    if "log" in names:
        sinks.append(LogSink())
    span_names = [n for n in names if n in SPAN_EXPORTERS]
    if span_names:
        factory = _span_factory(span_names, env, queue_size)
        sinks.append(DeferredSink("+".join(span_names), factory, queue_size, **gate))
    if "emf" in names:
        sinks.append(DeferredSink("emf", _emf_factory, queue_size, **gate))
    if names != ["none"]:  # H7's metrics sink decides itself whether anything is configured
        sinks.append(DeferredSink("metrics", _metrics_factory(env), queue_size, **gate))
    return Telemetry(sinks)
