"""The sink machinery every exporter plugs into (stdlib only, on the cold-start path).

A sink has five calls - `on_init`, `on_invocation`, `on_stuck`, `flush(timeout_ms)`,
`shutdown(timeout_ms)` - the interface the span, metrics and EMF sinks share. `Telemetry` fans
records out to sinks and never lets one fail the others; `DeferredSink` builds a sink that needs
heavy imports in a background thread, queueing records (bounded) until it is ready; `LogSink`
is the default exporter: one compact JSON line per invocation on stderr.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from lifecycle_trace import schema
from lifecycle_trace.runtime.lifecycle import stderr_writer
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

LOADED_FLUSH_MS = 2000  # flush of the records queued while an exporter loaded (loader thread)


def warn(message: str, writer: Callable[[str], None] = stderr_writer) -> None:
    """One plain warning line on stderr (lands in CloudWatch next to the function's logs)."""
    writer(f"lctrace: warning: {message}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


_compact = json.JSONEncoder(separators=(",", ":")).encode  # dumps() builds one per call


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
        self.writer(_compact(line))

    def on_invocation(self, rec: InvocationPhases) -> None:
        self.writer(_compact(self.invocation_line(rec)))

    def invocation_line(self, rec: InvocationPhases) -> dict[str, Any]:
        """The invocation line as a dict (what `on_invocation` writes, compact JSON)."""
        return {
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

    def on_stuck(self, event: StuckEvent) -> None:
        """The lifecycle already wrote the stuck marker line."""

    def flush(self, timeout_ms: int) -> None:
        """Lines are written synchronously."""

    def shutdown(self, timeout_ms: int = 0) -> None:
        """Nothing buffered."""


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
            gc.freeze()  # the imported modules never die: keep them out of every later GC pass
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

    @property
    def wants_posted(self) -> bool:
        """True once the loaded sink takes `on_posted` (records still queued get none)."""
        return getattr(self._sink, "wants_posted", False) and not self._pending

    def on_posted(self, rec: InvocationPhases) -> None:
        sink = self._sink
        if sink is not None and hasattr(sink, "on_posted"):
            sink.on_posted(rec)

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

    @property
    def wants_records(self) -> bool:
        """False when there is no sink at all (`none`): the lifecycle then skips building
        invocation records on the `/next` path."""
        return bool(self.sinks)

    @property
    def wants_posted(self) -> bool:
        """True when a sink exports part of an invocation once its response is answered."""
        return any(getattr(sink, "wants_posted", False) for sink in self.sinks)

    def on_posted(self, rec: InvocationPhases) -> None:
        """An invocation whose response was answered; `post_response_ms` is still None, the
        full record follows through `on_invocation` at the next poll."""
        for sink in self.sinks:
            if getattr(sink, "wants_posted", False):
                try:
                    sink.on_posted(rec)
                except Exception:  # noqa: BLE001
                    self.errors += 1

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
        """Flush every sink within `timeout_ms` in total. A sink whose turn comes after the
        budget is spent still gets `flush(0)`: local writes happen, network exports are
        started, nobody waits (so LCTRACE_FLUSH_TIMEOUT_MS=0 means "never wait", not "never
        export")."""
        deadline = time.monotonic() + timeout_ms / 1000
        for sink in self.sinks:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
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
