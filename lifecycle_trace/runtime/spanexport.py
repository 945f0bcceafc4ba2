"""Span exporting: records -> SDK spans -> exporters, never blocking the `/next` path for long.

Imported by the exporter loader thread only (it pulls in the OpenTelemetry SDK). Local exporters
(`jsonl`, `xray`) are flushed inline from a bounded list (`_LocalBatch`); network ones (OTLP) go
through the SDK's `BatchSpanProcessor` (bounded queue, overflow dropped and counted), flushed
by `_Flusher` in its own thread so a caller waits at most its timeout. The SDK's and
aws-xray-sdk's own log warnings are counted, not printed into the function's logs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from lifecycle_trace import config
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent
from lifecycle_trace.runtime.sinks import warn

LOCAL_SPAN_EXPORTERS = ("jsonl", "xray")  # flushed inline: no network round trip to wait for
NESTING_EXPORTERS = ("xray",)  # need an invocation's spans in one export
EARLY_LIMIT = 1024  # invocations with early-exported spans awaiting their closing spans


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
        self.skipped = 0
        threading.Thread(target=self._run, name="lctrace-flush", daemon=True).start()

    def flush(self, timeout_ms: int) -> bool:
        """Ask for an export of everything queued and wait for it at most `timeout_ms`. While
        an earlier export is still running (endpoint down or stalled), do not wait at all:
        a failing exporter costs one timeout per outage, not one per invocation."""
        deadline = time.monotonic() + timeout_ms / 1000
        with self.cond:
            busy = self.done < self.requested
            self.requested += 1
            target = self.requested
            self.cond.notify_all()
            if busy:
                self.skipped += 1
                return False
            while self.done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timeout_ms > 0:
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

    def prepare(self, spans: list[Any]) -> None:
        """Let the exporter encode spans it will export at the next flush."""
        prepare = getattr(self.exporter, "prepare", None)
        if prepare is not None:
            with contextlib.suppress(Exception):  # a failure: encoded again at export
                prepare(spans)

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
        self._early: set[str] = set()  # invocations whose posted spans went out already
        # part of each invocation is exported early (`on_posted`) - not with X-Ray, whose
        # documents nest a span's children only when they are exported together with it
        self.wants_posted = all(name not in NESTING_EXPORTERS for name, _ in exporters)

    def _emit(self, spans: list[Any]) -> None:
        for processor in self.processors:
            for span in spans:
                processor.on_end(span)

    def on_init(self, phase: InitPhase) -> None:
        self._emit(self._spans.init_spans(phase, self.resource))

    def on_posted(self, rec: InvocationPhases) -> None:
        """The response was posted and answered: its poll_wait, handler and response spans are
        complete, so they are built (and encoded, for exporters that can) now. They go out
        with invocation and post_response in the flush before `/next` - one export per
        invocation, as before, with less left to do on that path."""
        if not self.wants_posted or len(self._early) >= EARLY_LIMIT:
            return  # invocations posted but never closed: stop splitting rather than grow
        spans = self._spans.posted_spans(rec, self.resource)
        self._emit(spans)
        self._early.add(rec.request_id)
        for processor in self.local:
            processor.prepare(spans)

    def on_invocation(self, rec: InvocationPhases) -> None:
        if rec.request_id in self._early:
            self._early.discard(rec.request_id)
            self._emit(self._spans.closing_spans(rec, self.resource))
        else:
            self._emit(self._spans.invocation_spans(rec, self.resource))

    def on_stuck(self, event: StuckEvent) -> None:
        self._emit(self._spans.stuck_spans(event, self.resource))

    def flush(self, timeout_ms: int) -> None:
        """Local exporters write now. Network ones export now and are waited for up to
        `timeout_ms`; with 0 (LCTRACE_FLUSH_TIMEOUT_MS=0) they are left to the batch
        processor's own schedule, which batches many invocations into one export."""
        for processor in self.local:
            processor.force_flush()
        if self.flusher is not None and timeout_ms > 0:
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
