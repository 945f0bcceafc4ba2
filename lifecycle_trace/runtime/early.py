"""The proxy's observer while the lifecycle is still being imported and built.

The wrapper starts forwarding as soon as the runtime is spawned, so a fast runtime (Go, Rust,
a small script) does not wait for lctrace's own imports on its first `GET /next`. Until the
lifecycle is attached this observer keeps every proxy event (in order) and replays it into the
lifecycle; it already hands the runtime a rewritten `Lambda-Runtime-Trace-Id` whose `Parent`
is the handler span id the lifecycle will use. Stdlib only, nothing heavy.
"""

from __future__ import annotations

import contextlib
import threading

from lifecycle_trace.runtime import api
from lifecycle_trace.runtime.proxy import Exchange

EVENT_CAPTURE = 8 * 1024 * 1024  # = lifecycle.EVENT_SNIFF_LIMIT: the event bytes kept for shape


class BufferingObserver:
    """Records proxy events until `attach(observer)`, then replays them and delegates."""

    def __init__(self, init_over: threading.Event | None = None) -> None:
        self.init_over = init_over or threading.Event()  # first event delivered / init error
        self._lock = threading.Lock()
        self._events: list[tuple[str, Exchange]] = []
        self._target: object = None
        self.dropped = 0

    def _record(self, method: str, exchange: Exchange) -> object:
        with self._lock:
            target = self._target
            if target is None:
                if len(self._events) < 10_000:
                    self._events.append((method, exchange))
                else:
                    self.dropped += 1
                return None
        return getattr(target, method)(exchange)

    def on_request(self, exchange: Exchange) -> None:
        if exchange.kind == api.KIND_INIT_ERROR:
            self.init_over.set()
        self._record("on_request", exchange)

    def on_response_head(self, exchange: Exchange) -> bytes | None:
        with self._lock:
            target = self._target
        if target is not None:
            return target.on_response_head(exchange)  # type: ignore[attr-defined, no-any-return]
        value = None
        if exchange.kind == api.KIND_NEXT and exchange.status == 200:
            exchange.handler_span_id = api.new_span_id()
            exchange.response_capture = EVENT_CAPTURE
            trace = exchange.response_header(api.H_TRACE_ID)
            if trace:
                text = api.with_parent(trace.decode("latin-1"), exchange.handler_span_id)
                value = text.encode("latin-1")
            self.init_over.set()
        self._record("on_response_head", exchange)
        return value

    def on_exchange_done(self, exchange: Exchange) -> None:
        self._record("on_exchange_done", exchange)

    def on_connection_lost(self, exchange: Exchange) -> None:
        self._record("on_connection_lost", exchange)

    def attach(self, target: object) -> None:
        """Replay what happened so far into `target`, then pass everything through to it."""
        replaying = getattr(target, "replaying", None)
        with self._lock, replaying() if replaying else contextlib.nullcontext():
            for method, exchange in self._events:
                try:
                    getattr(target, method)(exchange)
                except Exception:  # noqa: BLE001 - a replay failure must not stop forwarding
                    self.dropped += 1
            self._events.clear()
            self._target = target
        flush = getattr(target, "flush_after_replay", None)
        if flush is not None:  # outside the lock: the proxy thread may be waiting for it
            flush()
