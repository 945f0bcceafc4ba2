"""The lifecycle state machine: proxy events in, phase records out, plus the stuck watchdog.

It implements the proxy's observer interface. Each `GET /next` ends init (the first time) and
closes the invocation whose response was posted before it; the closed records go to the
telemetry sink and are flushed (bounded) before the `/next` is forwarded, because after that
Lambda may freeze the environment. The watchdog thread reports `never_polled`, `no_response`
and `stopped_polling` while the runtime is still stuck, as a marker line on stderr and a
`lambda.stuck` span.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from lifecycle_trace import schema
from lifecycle_trace.runtime import api
from lifecycle_trace.runtime.api import (  # noqa: F401 - re-exported trace helpers
    new_span_id,
    new_xray_root,
    parse_trace_header,
    with_parent,
)
from lifecycle_trace.runtime.events import classify_event
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent
from lifecycle_trace.runtime.proxy import Exchange

WATCHDOG_TICK_S = 0.1  # longest the watchdog sleeps; markers come at most this late
STUCK_FLUSH_MS = 400  # a stuck verdict may be the last thing this sandbox does: flush longer
EVENT_SNIFF_LIMIT = 8 * 1024 * 1024  # event bytes kept (by reference) for classify_event


class Sink(Protocol):
    """Where records go (telemetry.Telemetry, or an in-memory list in tests)."""

    def on_init(self, phase: InitPhase) -> None: ...
    def on_invocation(self, phases: InvocationPhases) -> None: ...
    def on_stuck(self, event: StuckEvent) -> None: ...
    def flush(self, timeout_ms: int) -> None: ...


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """What the state machine needs from the environment (see `from_environ`)."""

    instance: str
    function: str | None = None
    version: str | None = None
    memory_mb: int | None = None
    initialization_type: str | None = None
    never_polled_ms: int = 8000
    deadline_margin_ms: int = 500
    stopped_polling_ms: int = 2000
    flush_timeout_ms: int = 50
    capture_payload_bytes: int = 0


class _Invocation:
    """Mutable state of one in-flight invocation (monotonic ns timestamps)."""

    __slots__ = (
        "request_id",
        "cold",
        "t_poll",
        "t_delivered",
        "t_result",
        "t_answered",
        "result_kind",
        "result_conn",
        "error_type",
        "status",
        "event_bytes",
        "response_bytes",
        "deadline_ms",
        "arn",
        "trace_root",
        "parent_span_id",
        "sampled",
        "invocation_span_id",
        "handler_span_id",
        "overhead_ns",
        "trigger",
        "event_source",
        "record_count",
        "event_payload",
        "response_payload",
        "reported",
        "next_at",
    )

    def __init__(self, request_id: str, t_poll: int, cold: bool) -> None:
        self.request_id = request_id
        self.cold = cold
        self.t_poll = t_poll
        self.t_delivered = 0
        self.t_result = 0
        self.t_answered = 0
        self.result_kind: str | None = None
        self.result_conn = -1
        self.error_type: str | None = None
        self.status: int | None = None
        self.event_bytes: int | None = None
        self.response_bytes: int | None = None
        self.deadline_ms: int | None = None
        self.arn: str | None = None
        self.trace_root = ""
        self.parent_span_id: str | None = None
        self.sampled: bool | None = None
        self.invocation_span_id = new_span_id()
        self.handler_span_id = new_span_id()
        self.overhead_ns = 0
        self.trigger = "other"
        self.event_source: str | None = None
        self.record_count: int | None = None
        self.event_payload: str | None = None
        self.response_payload: str | None = None
        self.reported: set[str] = set()
        self.next_at = 0  # a /next that came before this post's answer was seen (see _on_next)


def _ms(ns: int) -> float:
    return ns / 1e6


def stderr_writer(line: str) -> None:
    """One line, one write(2) call on fd 2: atomic in the pipe CloudWatch reads."""
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


class Lifecycle:
    """The proxy observer. Thread-safe: poll loops may run on several connections at once."""

    def __init__(
        self,
        settings: LifecycleSettings,
        sink: Sink,
        start_ns: int | None = None,
        marker_writer: Callable[[str], None] = stderr_writer,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.start_mono = time.monotonic_ns() if start_ns is None else start_ns
        # wall clock = monotonic + offset, fixed once so spans never jump with NTP
        self.wall_offset = time.time_ns() - time.monotonic_ns()
        self.marker_writer = marker_writer
        self._lock = threading.Lock()
        self._init_done = False
        self._init_failed = False
        self._never_polled_reported = False
        self._count = 0
        self._inflight: dict[str, _Invocation] = {}
        self._posted: list[_Invocation] = []  # response posted, waiting for the next /next
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        # set once the runtime's init is over (first event delivered, init error or exit):
        # exporters' heavy imports wait for it, off the cold-start path
        self.init_over = threading.Event()
        self._replaying = False

    def _flush(self) -> None:
        """The bounded flush before a /next is forwarded (skipped while replaying)."""
        if not self._replaying:
            self.sink.flush(self.settings.flush_timeout_ms)

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """Events that already happened are fed in: no flush per /next (nothing is waiting
        for them); the caller flushes once afterwards (`flush_after_replay`)."""
        self._replaying = True
        try:
            yield
        finally:
            self._replaying = False

    def flush_after_replay(self) -> None:
        self.sink.flush(self.settings.flush_timeout_ms)

    # --- proxy observer -----------------------------------------------------------------------
    def on_request(self, ex: Exchange) -> None:
        kind = ex.kind
        if kind == api.KIND_NEXT:
            self._on_next(ex)
        elif kind in (api.KIND_RESPONSE, api.KIND_ERROR):
            with self._lock:
                inv = self._inflight.get(ex.request_id or "")
                if inv is None:
                    return
                if not inv.t_result:  # a second post (e.g. /error after a 413) keeps the first
                    inv.t_result = ex.t_arrive
                inv.result_kind = kind
                inv.result_conn = ex.conn_id
                if kind == api.KIND_ERROR:
                    raw = ex.request_header(api.H_ERROR_TYPE)
                    inv.error_type = raw.decode("latin-1") if raw else "Unknown"
            ex.state = inv
            ex.request_capture = self.settings.capture_payload_bytes
        elif kind == api.KIND_INIT_ERROR:
            raw = ex.request_header(api.H_ERROR_TYPE)
            with self._lock:
                if self._init_done or self._init_failed:
                    return
                self._init_failed = True
            phase = self._init_phase(
                ex.t_arrive, "init_error", raw.decode("latin-1") if raw else None
            )
            self.init_over.set()
            self.sink.on_init(phase)
            self._flush()

    def _on_next(self, ex: Exchange) -> None:
        t = ex.t_arrive
        init: InitPhase | None = None
        closed: InvocationPhases | None = None
        with self._lock:
            if not self._init_done:
                self._init_done = True
                if not self._init_failed:
                    init = self._init_phase(t, "success", None)
            if self._posted:
                inv = next(
                    (i for i in self._posted if i.result_conn == ex.conn_id), self._posted[0]
                )
                self._posted.remove(inv)
                self._inflight.pop(inv.request_id, None)
                if getattr(self.sink, "wants_records", True):  # False: LCTRACE_EXPORTER=none
                    closed = self._record(inv, t_end=t)
            else:
                # The runtime may poll on another connection as soon as its post is answered,
                # before that connection's thread has told us the answer: the invocation
                # is closed at this /next once its answer is seen (on_exchange_done).
                waiting = [i for i in self._inflight.values() if i.t_result and not i.next_at]
                if waiting:
                    inv = next((i for i in waiting if i.result_conn == ex.conn_id), waiting[0])
                    inv.next_at = t
        if init is not None:
            self.sink.on_init(init)
        if closed is not None:
            self.sink.on_invocation(closed)
        if init is not None or closed is not None:
            self._flush()

    def on_response_head(self, ex: Exchange) -> bytes | None:
        """A `/next` answer, before it is forwarded: register the invocation and hand out the
        trace header; everything else waits for `on_exchange_done` (after the forward)."""
        if ex.kind != api.KIND_NEXT or ex.status != 200:
            if ex.kind in (api.KIND_RESPONSE, api.KIND_ERROR) and isinstance(ex.state, _Invocation):
                ex.state.t_answered = ex.t_response
                ex.state.status = ex.status
            return None
        raw_id = ex.response_header(api.H_REQUEST_ID)
        if not raw_id:
            return None
        inv = _Invocation(raw_id.decode("latin-1"), ex.t_arrive, cold=False)
        if ex.handler_span_id:  # chosen (and handed to the runtime) before we were attached
            inv.handler_span_id = ex.handler_span_id
        trace = ex.response_header(api.H_TRACE_ID)
        new_value = None
        if trace:
            text = trace.decode("latin-1")
            fields = parse_trace_header(text)
            inv.trace_root = fields.get("Root") or new_xray_root()
            inv.parent_span_id = fields.get("Parent")
            inv.sampled = fields.get("Sampled") == "1" if "Sampled" in fields else None
            new_value = with_parent(text, inv.handler_span_id).encode("latin-1")
        with self._lock:
            self._count += 1
            inv.cold = self._count == 1
            self._inflight[inv.request_id] = inv
        if inv.cold:
            self.init_over.set()
        ex.state = inv
        ex.response_capture = EVENT_SNIFF_LIMIT
        return new_value

    def on_exchange_done(self, ex: Exchange) -> None:
        state = ex.state
        if ex.kind == api.KIND_NEXT and isinstance(state, _Invocation):
            inv = state
            deadline = ex.response_header(api.H_DEADLINE)
            if deadline and deadline.isdigit():
                inv.deadline_ms = int(deadline)
            arn = ex.response_header(api.H_FUNCTION_ARN)
            inv.arn = arn.decode("latin-1") if arn else None
            if not inv.trace_root:
                inv.trace_root = new_xray_root()
            inv.event_bytes = ex.response_body.size
            inv.overhead_ns += (ex.t_done - ex.t_response) + (ex.t_forwarded - ex.t_arrive)
            if getattr(self.sink, "wants_records", True):  # the event's shape is only for them
                body = ex.response_body.captured()
                inv.trigger, inv.event_source, inv.record_count = classify_event(body)
                cap = self.settings.capture_payload_bytes
                if cap:
                    inv.event_payload = body[:cap].decode("utf-8", "replace")
            inv.t_delivered = ex.t_done  # last: the watchdog reads it (with the deadline)
            return
        if isinstance(state, _Invocation) and ex.kind in (api.KIND_RESPONSE, api.KIND_ERROR):
            state.response_bytes = ex.request_body.size
            state.overhead_ns += ex.overhead_ns
            if self.settings.capture_payload_bytes:
                state.response_payload = ex.request_body.captured().decode("utf-8", "replace")
            late: InvocationPhases | None = None
            with self._lock:
                posted = state.request_id in self._inflight and state not in self._posted
                if posted and state.next_at:  # its /next came first: closed here, at that time
                    posted = False
                    self._inflight.pop(state.request_id, None)
                    if getattr(self.sink, "wants_records", True):
                        late = self._record(state, t_end=state.next_at)
                elif posted:
                    self._posted.append(state)
            if late is not None:
                self.sink.on_invocation(late)
                self._flush()
            if (
                posted
                and state.status is not None
                and state.status < 400  # a 413 may be followed by /error: wait for /next
                and getattr(self.sink, "wants_posted", False)
            ):
                # after the answer was forwarded: the complete spans go out now, not at /next
                self.sink.on_posted(self._record(state, t_end=None))  # type: ignore[attr-defined]

    def on_connection_lost(self, ex: Exchange) -> None:
        """Nothing to record: the runtime sees the broken connection; the child exit (if any)
        is reported by `on_child_exit`."""

    # --- records ------------------------------------------------------------------------------
    def wall_ns(self, mono_ns: int) -> int:
        return mono_ns + self.wall_offset

    def _init_phase(self, t_end: int, outcome: str, error_type: str | None) -> InitPhase:
        s = self.settings
        return InitPhase(
            instance=s.instance,
            function=s.function,
            version=s.version,
            start_ns=self.wall_ns(self.start_mono),
            init_ms=_ms(t_end - self.start_mono),
            outcome=outcome,
            error_type=error_type,
            initialization_type=s.initialization_type,
        )

    def _record(
        self, inv: _Invocation, t_end: int | None, outcome: str | None = None
    ) -> InvocationPhases:
        s = self.settings
        delivered = inv.t_delivered or inv.t_poll
        if outcome is None:
            outcome = "error" if inv.result_kind == api.KIND_ERROR else "success"
            if inv.status is not None and inv.status >= 400:
                outcome = "error"
                inv.error_type = inv.error_type or (
                    "Function.ResponseSizeTooLarge" if inv.status == 413 else "Runtime.ApiError"
                )
        if not inv.trace_root:  # the event's exchange never completed: still one root
            inv.trace_root = new_xray_root()
        handler = _ms(inv.t_result - delivered) if inv.t_result else None
        if handler is None and t_end is not None:
            handler = _ms(t_end - delivered)  # crashed or timed out inside the handler
        response = _ms(inv.t_answered - inv.t_result) if inv.t_answered else None
        post = _ms(t_end - inv.t_answered) if (t_end is not None and inv.t_answered) else None
        return InvocationPhases(
            request_id=inv.request_id,
            instance=s.instance,
            function=s.function,
            version=s.version,
            cold=inv.cold,
            start_ns=self.wall_ns(delivered),
            poll_wait_ms=_ms(delivered - inv.t_poll),
            handler_ms=handler,
            response_ms=response,
            post_response_ms=post,
            outcome=outcome,
            error_type=inv.error_type,
            trigger=inv.trigger,
            event_source=inv.event_source,
            record_count=inv.record_count,
            event_bytes=inv.event_bytes,
            response_bytes=inv.response_bytes,
            trace_id=inv.trace_root,
            deadline_ms=inv.deadline_ms,
            memory_mb=s.memory_mb,
            function_arn=inv.arn,
            parent_span_id=inv.parent_span_id,
            invocation_span_id=inv.invocation_span_id,
            handler_span_id=inv.handler_span_id,
            sampled=inv.sampled,
            proxy_overhead_ms=_ms(inv.overhead_ns),
            upstream_status=inv.status,
            event_payload=inv.event_payload,
            response_payload=inv.response_payload,
        )

    def on_child_exit(self, exit_code: int) -> None:
        """The runtime process ended: report what was in flight as crashed, then flush."""
        t = time.monotonic_ns()
        self.init_over.set()
        records: list[InvocationPhases] = []
        init = None
        with self._lock:
            if not self._init_done and not self._init_failed:
                self._init_done = True
                init = self._init_phase(t, "crash", "Runtime.ExitError")
            for inv in list(self._inflight.values()):
                crashed = inv.t_result == 0
                if crashed:
                    inv.error_type = "Runtime.ExitError"
                records.append(self._record(inv, t, "crash" if crashed else None))
            self._inflight.clear()
            self._posted.clear()
        if init is not None:
            self.sink.on_init(init)
        for record in records:
            self.sink.on_invocation(record)

    # --- watchdog -----------------------------------------------------------------------------
    def start_watchdog(self) -> None:
        self._watchdog = threading.Thread(target=self._watch, name="lctrace-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(WATCHDOG_TICK_S):
            try:
                for event in self.check_stuck(time.monotonic_ns()):
                    self._report_stuck(event)
            except Exception:  # noqa: BLE001 - the watchdog must never take the wrapper down
                pass

    def check_stuck(self, now: int) -> list[StuckEvent]:
        """Every stuck verdict due at monotonic time `now` and not reported before."""
        s = self.settings
        events: list[StuckEvent] = []
        now_wall_ms = self.wall_ns(now) // 1_000_000
        with self._lock:
            if not self._init_done and not self._never_polled_reported and not self._init_failed:
                elapsed = _ms(now - self.start_mono)
                if elapsed >= s.never_polled_ms:
                    self._never_polled_reported = True
                    events.append(
                        self._stuck(schema.STUCK_NEVER_POLLED, None, self.start_mono, elapsed)
                    )
            for inv in self._inflight.values():
                if inv.t_result == 0 and inv.t_delivered and inv.deadline_ms is not None:
                    kind = schema.STUCK_NO_RESPONSE
                    if (
                        kind not in inv.reported
                        and now_wall_ms >= inv.deadline_ms - s.deadline_margin_ms
                    ):
                        inv.reported.add(kind)
                        events.append(
                            self._stuck(kind, inv, inv.t_delivered, _ms(now - inv.t_delivered))
                        )
                elif inv.t_answered and not inv.next_at:
                    kind = schema.STUCK_STOPPED_POLLING
                    elapsed = _ms(now - inv.t_answered)
                    if kind not in inv.reported and elapsed >= s.stopped_polling_ms:
                        inv.reported.add(kind)
                        events.append(self._stuck(kind, inv, inv.t_answered, elapsed))
        return events

    def _stuck(self, kind: str, inv: _Invocation | None, since: int, elapsed: float) -> StuckEvent:
        s = self.settings
        return StuckEvent(
            kind=kind,
            instance=s.instance,
            request_id=inv.request_id if inv else None,
            start_ns=self.wall_ns(since),
            elapsed_ms=round(elapsed, 3),
            deadline_ms=inv.deadline_ms if inv else None,
            function=s.function,
            version=s.version,
            trace_id=inv.trace_root if inv else None,
            parent_span_id=inv.invocation_span_id if inv else None,
        )

    def _report_stuck(self, event: StuckEvent) -> None:
        """The marker line first (cheap, certain), then the span, flushed before the kill."""
        marker = {
            schema.MARKER_KEY: schema.MARKER_STUCK,
            "kind": event.kind,
            "request_id": event.request_id,
            "elapsed_ms": event.elapsed_ms,
            "instance": event.instance,
            "function": event.function,
            "deadline_ms": event.deadline_ms,
            "timestamp_ms": self.wall_ns(time.monotonic_ns()) // 1_000_000,
        }
        self.marker_writer(json.dumps(marker, separators=(",", ":")))
        self.init_over.set()  # exporters still waiting to load: load now, this is urgent
        self.sink.on_stuck(event)
        self.sink.flush(max(self.settings.flush_timeout_ms, STUCK_FLUSH_MS))
