"""Phase records -> exporters, chosen from the environment; never blocking, never raising.

`build_telemetry(environ)` returns a `Telemetry` fan-out over sinks, each with the same five
calls (`on_init`, `on_invocation`, `on_stuck`, `flush(timeout_ms)`, `shutdown`), the interface
the metrics/EMF sinks share:

- `log` (`LogSink`): one compact JSON line per invocation on stderr (schema.LOG_FIELDS), plus
  an init line - needs no OpenTelemetry import at all, so it costs nothing at cold start;
- `otlp`, `jsonl`, `xray` (`SpanSink`): records -> SDK spans (`spans.py`) -> one
  `BatchSpanProcessor` per exporter (bounded queue, overflow dropped and counted);
- `emf` and metrics: H7's `EmfSink` / `build_metrics`, imported lazily.

Sinks that need heavy imports are wrapped in `DeferredSink`: the import runs in a background
thread after the runtime was spawned, records wait in a bounded queue meanwhile, and a flush
before it is ready returns at once instead of delaying the cold start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from lifecycle_trace import config, schema
from lifecycle_trace.errors import ConfigError
from lifecycle_trace.runtime.lifecycle import stderr_writer
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

EXPORTERS = ("otlp", "jsonl", "xray", "emf", "log", "none")
SPAN_EXPORTERS = ("otlp", "jsonl", "xray")
LOADED_FLUSH_MS = 2000  # flush of the records queued while an exporter loaded (loader thread)
LOCAL_SPAN_EXPORTERS = ("jsonl", "xray")  # flushed inline: no network round trip to wait for


def warn(message: str, writer: Callable[[str], None] = stderr_writer) -> None:
    """One plain warning line on stderr (lands in CloudWatch next to the function's logs)."""
    writer(f"lctrace: warning: {message}")


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


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class LogSink:
    """The default exporter: one JSON line per invocation (schema.LOG_FIELDS) on stderr."""

    def __init__(self, writer: Callable[[str], None] = stderr_writer) -> None:
        self.writer = writer
        self.init_ms: float | None = None

    def on_init(self, phase: InitPhase) -> None:
        self.init_ms = phase.init_ms
        line = {
            schema.MARKER_KEY: schema.MARKER_INIT,
            "instance": phase.instance,
            "function": phase.function,
            "version": phase.version,
            "init_ms": _round(phase.init_ms),
            "outcome": phase.outcome,
            "error_type": phase.error_type,
            "initialization_type": phase.initialization_type,
            "start_ms": phase.start_ns // 1_000_000,
        }
        self.writer(json.dumps(line, separators=(",", ":")))

    def on_invocation(self, rec: InvocationPhases) -> None:
        line = {
            schema.MARKER_KEY: schema.MARKER_INVOCATION,
            "request_id": rec.request_id,
            "instance": rec.instance,
            "function": rec.function,
            "version": rec.version,
            "cold": rec.cold,
            "init_ms": _round(self.init_ms) if rec.cold else None,
            "poll_wait_ms": _round(rec.poll_wait_ms),
            "handler_ms": _round(rec.handler_ms),
            "response_ms": _round(rec.response_ms),
            "post_response_ms": _round(rec.post_response_ms),
            "outcome": rec.outcome,
            "trigger": rec.trigger,
            "event_source": rec.event_source,
            "start_ms": rec.start_ns // 1_000_000,
            "error_type": rec.error_type,
        }
        self.writer(json.dumps(line, separators=(",", ":")))

    def on_stuck(self, event: StuckEvent) -> None:
        """The lifecycle already wrote the stuck marker line."""

    def flush(self, timeout_ms: int) -> None:
        """Lines are written synchronously."""

    def shutdown(self, timeout_ms: int = 0) -> None:
        """Nothing buffered."""


class _CountingHandler(logging.Handler):
    """Keeps the SDK's own warnings (queue full, export failed) out of the function's logs,
    counting them instead."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.dropped = 0
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Queue full" in record.getMessage():
            self.dropped += 1
        else:
            self.failures += 1


class _Flusher:
    """Runs `force_flush` of network processors in its own thread so a caller waits at most
    its timeout, however slow the endpoint (the SDK's force_flush ignores its timeout)."""

    def __init__(self, processors: list[Any]) -> None:
        self.processors = processors
        self.cond = threading.Condition()
        self.requested = 0
        self.done = 0
        self.timeouts = 0
        threading.Thread(target=self._run, name="lctrace-flush", daemon=True).start()

    def flush(self, timeout_ms: int) -> bool:
        deadline = time.monotonic() + timeout_ms / 1000
        with self.cond:
            self.requested += 1
            target = self.requested
            self.cond.notify_all()
            while self.done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.timeouts += 1
                    return False
                self.cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self.cond:
                while self.requested == self.done:
                    self.cond.wait()
                target = self.requested
            for processor in self.processors:
                with contextlib.suppress(Exception):
                    processor.force_flush()
            with self.cond:
                self.done = target
                self.cond.notify_all()


def make_span_exporter(name: str, environ: Mapping[str, str]) -> Any:
    """The SpanExporter behind one exporter name (imports happen here, off the hot path)."""
    if name == "jsonl":
        from lifecycle_trace.runtime.exporters import JsonlSpanExporter

        return JsonlSpanExporter(config.get_str(config.JSONL_PATH, environ) or "-")
    if name == "xray":
        from lifecycle_trace.runtime.exporters import XraySpanExporter

        return XraySpanExporter(
            environ.get("AWS_XRAY_DAEMON_ADDRESS") or None,
            name=environ.get("AWS_LAMBDA_FUNCTION_NAME") or "lctrace",
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        if protocol != "http/protobuf":
            warn(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} not supported; using http/protobuf")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return OTLPSpanExporter()


class _LocalBatch:
    """For exporters that write locally (a file, stdout, a UDP datagram): spans wait in a
    bounded list and are exported in the caller's thread at flush - no worker thread to wake
    and wait for on the `/next` path. Same bound and drop-and-count rule as the SDK's queue."""

    def __init__(self, exporter: Any, max_size: int) -> None:
        self.exporter = exporter
        self.max_size = max_size
        self.spans: list[Any] = []
        self.dropped = 0
        self.failures = 0
        self._lock = threading.Lock()

    def on_end(self, span: Any) -> None:
        with self._lock:
            if len(self.spans) >= self.max_size:
                self.dropped += 1
                return
            self.spans.append(span)

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        with self._lock:
            batch, self.spans = self.spans, []
            if not batch:
                return True
            try:
                ok = self.exporter.export(batch).name == "SUCCESS"
            except Exception:  # noqa: BLE001 - an exporter bug is a failed export
                ok = False
            if not ok:
                self.failures += 1
            return ok

    def shutdown(self) -> None:
        self.force_flush()
        self.exporter.shutdown()


class SpanSink:
    """Records -> spans -> exporters: local ones through `_LocalBatch`, network ones (OTLP)
    through the SDK's BatchSpanProcessor, flushed by `_Flusher` with a bounded wait."""

    def __init__(
        self, exporters: list[tuple[str, Any]], environ: Mapping[str, str], queue_size: int
    ) -> None:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from lifecycle_trace.runtime import spans

        self._spans = spans
        self.resource = spans.build_resource(environ)
        self.log_handler = _CountingHandler()
        for library in ("opentelemetry", "aws_xray_sdk"):
            library_logger = logging.getLogger(library)
            library_logger.addHandler(self.log_handler)
            library_logger.propagate = False
        size = max(queue_size, 1)
        self.local: list[Any] = []
        self.remote: list[Any] = []
        for name, exporter in exporters:
            if name in LOCAL_SPAN_EXPORTERS:
                self.local.append(_LocalBatch(exporter, size))
                continue
            processor = BatchSpanProcessor(
                exporter,
                max_queue_size=size,
                max_export_batch_size=min(512, size),
                schedule_delay_millis=1000,
            )
            self.remote.append(processor)
        self.processors = self.local + self.remote
        self.flusher = _Flusher(self.remote) if self.remote else None

    def _emit(self, spans: list[Any]) -> None:
        for processor in self.processors:
            for span in spans:
                processor.on_end(span)

    def on_init(self, phase: InitPhase) -> None:
        self._emit(self._spans.init_spans(phase, self.resource))

    def on_invocation(self, rec: InvocationPhases) -> None:
        self._emit(self._spans.invocation_spans(rec, self.resource))

    def on_stuck(self, event: StuckEvent) -> None:
        self._emit(self._spans.stuck_spans(event, self.resource))

    def flush(self, timeout_ms: int) -> None:
        for processor in self.local:
            processor.force_flush()
        if self.flusher is not None:
            self.flusher.flush(timeout_ms)

    def shutdown(self, timeout_ms: int = 1000) -> None:
        self.flush(timeout_ms)
        for processor in self.processors:
            threading.Thread(target=processor.shutdown, daemon=True).start()

    @property
    def dropped(self) -> int:
        return self.log_handler.dropped + sum(batch.dropped for batch in self.local)

    @property
    def failures(self) -> int:
        return self.log_handler.failures + sum(batch.failures for batch in self.local)


class DeferredSink:
    """A sink built in a background thread; until then records wait in a bounded queue."""

    def __init__(
        self,
        name: str,
        factory: Callable[[], Any],
        queue_size: int,
        gate: threading.Event | None = None,
        gate_timeout_s: float = 0.0,
    ) -> None:
        self.name = name
        self._gate = gate
        self._gate_timeout_s = gate_timeout_s
        self._sink: Any = None
        self._failed = False
        self._pending: deque[tuple[str, Any]] = deque()
        self._limit = max(queue_size, 1)
        self.dropped = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._load, args=(factory,), name=f"lctrace-load-{name}", daemon=True
        )
        self._thread.start()

    def _load(self, factory: Callable[[], Any]) -> None:
        if self._gate is not None:  # off the cold-start path: wait for the runtime's init
            self._gate.wait(self._gate_timeout_s)
        try:
            sink = factory()
        except Exception as exc:  # noqa: BLE001 - a broken exporter must not break the function
            warn(
                f"exporter {self.name!r} unavailable ({type(exc).__name__}: {exc}); "
                "its data is dropped"
            )
            sink = None
        replayed = False
        with self._lock:  # short: replaying only queues spans, it does not export them
            if sink is None:
                self._failed = True
            else:
                replayed = bool(self._pending)
                while self._pending:
                    method, arg = self._pending.popleft()
                    try:
                        getattr(sink, method)(arg)
                    except Exception:  # noqa: BLE001
                        self.dropped += 1
            self._pending.clear()
            self._sink = sink
            self._ready.set()
        if replayed:  # what waited for the import goes out now, not at the next /next
            with contextlib.suppress(Exception):
                sink.flush(LOADED_FLUSH_MS)

    def _call(self, method: str, arg: Any) -> None:
        sink = self._sink
        if sink is None:
            with self._lock:
                sink = self._sink
                if sink is None:
                    if self._failed:
                        return
                    if len(self._pending) >= self._limit:
                        self.dropped += 1
                        return
                    self._pending.append((method, arg))
                    return
        getattr(sink, method)(arg)

    def on_init(self, phase: InitPhase) -> None:
        self._call("on_init", phase)

    def on_invocation(self, rec: InvocationPhases) -> None:
        self._call("on_invocation", rec)

    def on_stuck(self, event: StuckEvent) -> None:
        self._call("on_stuck", event)

    def flush(self, timeout_ms: int) -> None:
        """Flush the loaded sink. While it is still loading, wait for it (bounded) only when an
        invocation is queued - never for init alone, so the cold start is not delayed."""
        if self._sink is None:
            if not any(method != "on_init" for method, _ in list(self._pending)):
                return
            start = time.monotonic()
            if not self._ready.wait(timeout_ms / 1000) or self._sink is None:
                return
            timeout_ms = max(0, timeout_ms - int((time.monotonic() - start) * 1000))
        self._sink.flush(timeout_ms)

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Wait (bounded) for the loader so records of a short-lived runtime still go out."""
        deadline = time.monotonic() + timeout_ms / 1000
        self._ready.wait(timeout_ms / 1000)
        if self._sink is not None:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            self._sink.shutdown(remaining)


class Telemetry:
    """Fan-out to every sink; a failing sink is counted, never propagated."""

    def __init__(self, sinks: list[Any] | None = None) -> None:
        self.sinks: list[Any] = list(sinks or [])
        self.errors = 0

    def _each(self, method: str, arg: Any) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(arg)
            except Exception:  # noqa: BLE001
                self.errors += 1

    def on_init(self, phase: InitPhase) -> None:
        self._each("on_init", phase)

    def on_invocation(self, rec: InvocationPhases) -> None:
        self._each("on_invocation", rec)

    def on_stuck(self, event: StuckEvent) -> None:
        self._each("on_stuck", event)

    def flush(self, timeout_ms: int) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        for sink in self.sinks:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return
            try:
                sink.flush(remaining)
            except Exception:  # noqa: BLE001
                self.errors += 1

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Flush and stop every sink within `timeout_ms` in total; report losses once."""
        deadline = time.monotonic() + timeout_ms / 1000
        for sink in self.sinks:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                sink.shutdown(remaining)
            except Exception:  # noqa: BLE001
                self.errors += 1
        dropped = sum(getattr(s, "dropped", 0) for s in self.sinks)
        dropped += sum(getattr(getattr(s, "_sink", None), "dropped", 0) for s in self.sinks)
        failures = sum(getattr(getattr(s, "_sink", None), "failures", 0) for s in self.sinks)
        if dropped or failures or self.errors:
            stderr_writer(
                json.dumps(
                    {
                        schema.MARKER_KEY: "telemetry",
                        "dropped": dropped,
                        "export_failures": failures,
                        "errors": self.errors,
                    },
                    separators=(",", ":"),
                )
            )


def _span_factory(names: list[str], environ: Mapping[str, str], queue_size: int):  # type: ignore[no-untyped-def]
    def factory() -> SpanSink:
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
        from lifecycle_trace.runtime.metrics import build_metrics  # H7's module

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
    if names != ["none"] and _has_module("lifecycle_trace.runtime.metrics"):
        sinks.append(DeferredSink("metrics", _metrics_factory(env), queue_size, **gate))
    return Telemetry(sinks)


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
