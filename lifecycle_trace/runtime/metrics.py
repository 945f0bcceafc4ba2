"""Lifecycle metrics through the OpenTelemetry SDK: OTLP push and/or a Prometheus scrape endpoint.

`build_metrics(environ)` returns a `MetricsSink` (or None when no metric exporter is configured).
The telemetry layer calls `on_init` / `on_invocation` / `on_stuck` as phases complete and
`flush(timeout_ms)` before it forwards the runtime's `GET /next`. A sink never raises into its
caller: failures are logged once and counted in `dropped`.

Module import is stdlib only (the instrument table below is what the dashboards read); the
OpenTelemetry SDK, exporters and prometheus_client are imported inside `build_metrics`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lifecycle_trace import schema
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

_log = logging.getLogger(__name__)

HISTOGRAM, COUNTER, GAUGE = "histogram", "counter", "gauge"
# Buckets in ms: sub-ms proxy work up to the 15-minute Lambda timeout.
DURATION_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                       300000, 900000)  # fmt: skip
# Poll wait includes the frozen time between invokes: minutes to hours.
POLL_WAIT_BUCKETS_MS = (1, 10, 100, 1000, 10000, 60000, 300000, 900000, 3600000, 14400000)


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument the wrapper records: its OTel name, kind, UCUM unit and the attributes
    (metric labels) it carries."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] = ()


_FN = (schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION)
_INVOKE_ATTRS = (*_FN, schema.ATTR_TRIGGER, schema.ATTR_COLDSTART, schema.ATTR_OUTCOME)
INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    InstrumentSpec(
        schema.METRIC_INVOKE_DURATION,
        HISTOGRAM,
        "ms",
        "Handler time: event delivered to the runtime until its response/error POST arrived.",
        _INVOKE_ATTRS,
        DURATION_BUCKETS_MS,
    ),
    InstrumentSpec(
        schema.METRIC_INIT_DURATION,
        HISTOGRAM,
        "ms",
        "Init: wrapper start until the runtime's first GET /next.",
        (*_FN, schema.ATTR_OUTCOME),
        DURATION_BUCKETS_MS,
    ),
    InstrumentSpec(
        schema.METRIC_COLDSTARTS,
        COUNTER,
        "{coldstart}",
        "Invocations that ran in a freshly initialised execution environment (the trigger that "
        "caused one is on faas.invoke_duration{faas.coldstart=true}).",
        _FN,
    ),
    InstrumentSpec(
        schema.METRIC_TIMEOUTS,
        COUNTER,
        "{timeout}",
        "Invocations that timed out: the watchdog's no_response verdict (Lambda kills the "
        "wrapper with the sandbox at the deadline), or a record with outcome timeout.",
        _FN,
    ),
    InstrumentSpec(
        schema.METRIC_ERRORS,
        COUNTER,
        "{error}",
        "Failed invocations (error, crash, stuck) and failed inits (init_error, crash), by "
        "lctrace.outcome; a runtime that never polls is a stuck event (never_polled).",
        (*_FN, schema.ATTR_OUTCOME),
    ),
    InstrumentSpec(
        schema.METRIC_POLL_WAIT,
        HISTOGRAM,
        "ms",
        "GET /next arrived until an event was returned (frozen, not billed).",
        (*_FN, schema.ATTR_COLDSTART),
        POLL_WAIT_BUCKETS_MS,
    ),
    InstrumentSpec(
        schema.METRIC_POST_RESPONSE,
        HISTOGRAM,
        "ms",
        "Response accepted until the runtime's next GET /next (billed work after the reply).",
        _INVOKE_ATTRS,
        DURATION_BUCKETS_MS,
    ),
    InstrumentSpec(
        schema.METRIC_STUCK,
        COUNTER,
        "{event}",
        "Watchdog verdicts: never_polled, no_response, stopped_polling.",
        (*_FN, schema.ATTR_STUCK_KIND),
    ),
    InstrumentSpec(
        schema.METRIC_BILLED,
        HISTOGRAM,
        "ms",
        "Billed window per invocation (handler + response + post-response, rounded up to 1 ms).",
        _INVOKE_ATTRS,
        DURATION_BUCKETS_MS,
    ),
    InstrumentSpec(
        schema.METRIC_MEMORY_LIMIT,
        GAUGE,
        "MiBy",
        "Configured memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE); billed ms x this = GB-seconds.",
        _FN,
    ),
)
INSTRUMENTS_BY_NAME = {spec.name: spec for spec in INSTRUMENTS}
INVOCATION_ERROR_OUTCOMES = frozenset({"error", "crash", "stuck"})

_PROM_UNITS = {"ms": "milliseconds", "s": "seconds", "By": "bytes", "MiBy": "mebibytes", "1": ""}


def prometheus_label(attribute: str) -> str:
    """The Prometheus label an OTel attribute becomes (`faas.name` -> `faas_name`)."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", attribute)


def prometheus_name(spec: InstrumentSpec) -> str:
    """The metric family name OpenTelemetry's Prometheus exporter (and the Collector's
    Prometheus exporters) give this instrument: sanitized name + unit suffix (+ `_total`)."""
    bare_unit = re.sub(r"\{.*\}", "", spec.unit)
    unit = _PROM_UNITS.get(bare_unit, re.sub(r"[^a-zA-Z0-9:]+", "_", bare_unit).strip("_"))
    name = re.sub(r"[^a-zA-Z0-9:]+", "_", spec.name)
    if unit and not name.endswith("_" + unit):
        name = f"{name}_{unit}"
    return f"{name}_total" if spec.kind == COUNTER else name


def trace_context(xray_root: str | None, span_hex: str | None) -> Any:
    """An OTel context holding the wrapper's span for this invocation, so a histogram
    measurement carries an exemplar linking to it (Grafana: metric point -> Tempo trace).
    Same trace id mapping as the spans (X-Ray propagator's); None when either id is unknown."""
    if not xray_root or not span_hex:
        return None
    parts = xray_root.split("-")
    if len(parts) != 3 or len(parts[1]) != 8 or len(parts[2]) != 24 or len(span_hex) != 16:
        return None
    try:
        trace_id, span_id = int(parts[1] + parts[2], 16), int(span_hex, 16)
    except ValueError:
        return None
    from opentelemetry import trace

    span_context = trace.SpanContext(
        trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


class _Flusher:
    """Exports on a daemon thread. A record `kick`s an export at once (it runs while the
    wrapper forwards the response); `flush(timeout_ms)` waits for it at most that long, so a
    slow collector never holds the invocation, and a flush starved of budget loses nothing."""

    def __init__(self, force_flush: Callable[[], Any]) -> None:
        self._force_flush = force_flush
        self._cond = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lctrace-metrics", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Ask for an export of everything recorded so far; returns at once."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def flush(self, timeout_ms: int) -> bool:
        """Wait (bounded) until the exports asked for so far are done."""
        with self._cond:
            if self._requested == self._completed:
                self._requested += 1
                self._cond.notify_all()
            target = self._requested
            return self._cond.wait_for(
                lambda: self._completed >= target or self._stopping, timeout_ms / 1000
            )

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._requested > self._completed or self._stopping)
                if self._stopping:
                    return
                target = self._requested
            try:
                self._force_flush()
            except Exception as exc:  # telemetry never crashes its host
                _log.warning("lctrace: metric export failed (%s: %s)", type(exc).__name__, exc)
            with self._cond:
                self._completed = target
                self._cond.notify_all()


class MetricsSink:
    """Records lifecycle phases into OTel instruments. Construct through `build_metrics`."""

    def __init__(
        self,
        meter_provider: Any,
        *,
        function: str | None = None,
        version: str | None = None,
        memory_mb: int | None = None,
        push: bool = True,
        on_shutdown: tuple[Callable[[], Any], ...] = (),
    ) -> None:
        self._provider = meter_provider
        self._function = function
        self._version = version
        self._memory_mb = memory_mb
        self._on_shutdown = on_shutdown
        self.dropped = 0
        self._sdk_log: Any = None  # metrics_setup._CountingHandler when exporting OTLP
        self._warned: set[str] = set()
        meter = meter_provider.get_meter("lifecycle_trace.runtime")
        self._instruments: dict[str, Any] = {}
        for spec in INSTRUMENTS:
            if spec.kind == HISTOGRAM:
                instrument = meter.create_histogram(
                    spec.name,
                    unit=spec.unit,
                    description=spec.description,
                    explicit_bucket_boundaries_advisory=list(spec.buckets),
                )
            elif spec.kind == COUNTER:
                instrument = meter.create_counter(spec.name, spec.unit, spec.description)
            else:
                instrument = meter.create_gauge(spec.name, spec.unit, spec.description)
            self._instruments[spec.name] = instrument
        self._flusher = _Flusher(self._provider.force_flush) if push else None
        self._memory_seen: dict[tuple[str | None, str | None], int] = {}
        self._timed_out: deque[str | None] = deque(maxlen=64)
        if memory_mb is not None:
            self._guard("memory", self._set_memory, function, version, memory_mb)
        self._guard("zeros", self._start_counters_at_zero)

    # -- the sink interface --------------------------------------------------------------------
    def on_init(self, init: InitPhase) -> None:
        """Init duration (when it ended) and, for a failed init, one error by its outcome."""
        self._guard("init", self._record_init, init)
        self._kick()

    def on_invocation(self, invocation: InvocationPhases) -> None:
        """Phase histograms, cold start / timeout / error counters, billed ms, memory."""
        self._guard("invocation", self._record_invocation, invocation)
        self._kick()

    def on_stuck(self, event: StuckEvent) -> None:
        """One stuck event by kind (and the timeout a no_response verdict means)."""
        self._guard("stuck", self._record_stuck, event)
        self._kick()

    def flush(self, timeout_ms: int) -> None:
        """Push what was recorded (OTLP), waiting at most `timeout_ms`; no-op for pull-only."""
        if self._flusher is not None:
            self._guard("flush", self._flusher.flush, max(0, int(timeout_ms)))

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Final export (bounded by `timeout_ms`) and stop the Prometheus endpoint; idempotent."""
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None
        self._guard("shutdown", self._provider.shutdown, timeout_millis=max(1, int(timeout_ms)))
        for stop in self._on_shutdown:
            self._guard("shutdown", stop)
        self._on_shutdown = ()

    @property
    def failures(self) -> int:
        """Export failures the SDK reported (counted, not printed)."""
        return self._sdk_log.count if self._sdk_log is not None else 0

    # -- internals ----------------------------------------------------------------------------
    def _kick(self) -> None:
        flusher = self._flusher
        if flusher is not None:
            self._guard("flush", flusher.kick)

    def _start_counters_at_zero(self) -> None:
        """Create this environment's counter series at 0 (Prometheus' "initialise your label
        sets"): each environment is a new series, and rate()/increase() only see an event
        when a sample before it exists - otherwise every environment's one cold start, and
        any first error or timeout, would vanish from the dashboards."""
        base = self._base(None, None)
        ins = self._instruments
        ins[schema.METRIC_COLDSTARTS].add(0, base)
        ins[schema.METRIC_TIMEOUTS].add(0, base)
        for outcome in ("error", "crash", "init_error"):
            ins[schema.METRIC_ERRORS].add(0, {**base, schema.ATTR_OUTCOME: outcome})
        for kind in schema.STUCK_KINDS:
            ins[schema.METRIC_STUCK].add(0, {**base, schema.ATTR_STUCK_KIND: kind})

    def _guard(self, what: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except Exception as exc:  # log and drop, never raise into the wrapper
            self.dropped += 1
            if what not in self._warned:  # one line per kind: these land in the function's logs
                self._warned.add(what)
                _log.warning("lctrace: dropping %s metrics (%s: %s)", what, type(exc).__name__, exc)

    def _base(self, function: str | None, version: str | None) -> dict[str, Any]:
        return {
            schema.ATTR_FAAS_NAME: function or self._function or "unknown",
            schema.ATTR_FAAS_VERSION: version or self._version or "unknown",
        }

    def _set_memory(self, function: str | None, version: str | None, memory_mb: int) -> None:
        key = (function or self._function, version or self._version)
        if self._memory_seen.get(key) != memory_mb:
            self._memory_seen[key] = memory_mb
            self._instruments[schema.METRIC_MEMORY_LIMIT].set(
                memory_mb, self._base(function, version)
            )

    def _record_init(self, init: InitPhase) -> None:
        attrs = self._base(init.function, init.version)
        attrs[schema.ATTR_OUTCOME] = init.outcome
        if init.init_ms is not None:
            self._instruments[schema.METRIC_INIT_DURATION].record(init.init_ms, attrs)
        if init.outcome != "success":
            self._instruments[schema.METRIC_ERRORS].add(1, attrs)

    def _record_invocation(self, inv: InvocationPhases) -> None:
        ins = self._instruments
        base = self._base(inv.function, inv.version)
        attrs = {
            **base,
            schema.ATTR_TRIGGER: inv.trigger,
            schema.ATTR_COLDSTART: inv.cold,
            schema.ATTR_OUTCOME: inv.outcome,
        }
        handler_ctx = trace_context(inv.trace_id, getattr(inv, "handler_span_id", None))
        invocation_ctx = trace_context(inv.trace_id, getattr(inv, "invocation_span_id", None))
        if inv.handler_ms is not None:
            ins[schema.METRIC_INVOKE_DURATION].record(inv.handler_ms, attrs, context=handler_ctx)
        if inv.post_response_ms is not None:
            ins[schema.METRIC_POST_RESPONSE].record(
                inv.post_response_ms, attrs, context=invocation_ctx
            )
        billed_ms = inv.billed_ms
        if billed_ms is not None:
            ins[schema.METRIC_BILLED].record(billed_ms, attrs, context=invocation_ctx)
        if inv.poll_wait_ms is not None:
            ins[schema.METRIC_POLL_WAIT].record(
                inv.poll_wait_ms, {**base, schema.ATTR_COLDSTART: inv.cold}
            )
        if inv.cold:
            ins[schema.METRIC_COLDSTARTS].add(1, base)
        if inv.outcome == "timeout":
            self._count_timeout(inv.request_id, base)
        elif inv.outcome in INVOCATION_ERROR_OUTCOMES:
            ins[schema.METRIC_ERRORS].add(1, {**base, schema.ATTR_OUTCOME: inv.outcome})
        if inv.memory_mb is not None:
            self._set_memory(inv.function, inv.version, inv.memory_mb)

    def _record_stuck(self, event: StuckEvent) -> None:
        base = self._base(getattr(event, "function", None), getattr(event, "version", None))
        self._instruments[schema.METRIC_STUCK].add(1, {**base, schema.ATTR_STUCK_KIND: event.kind})
        if event.kind == schema.STUCK_NO_RESPONSE:
            # Lambda kills the sandbox - and the wrapper - at the timeout itself, so the
            # watchdog's verdict (handler still running deadline - margin) is the timeout.
            self._count_timeout(event.request_id, base)

    def _count_timeout(self, request_id: str | None, attrs: dict[str, Any]) -> None:
        """Once per request id, whichever comes first: the no_response verdict or a record."""
        if request_id is None or request_id not in self._timed_out:
            self._timed_out.append(request_id)
            self._instruments[schema.METRIC_TIMEOUTS].add(1, attrs)


# -- construction from the environment (metrics_setup.py, imported when needed) ------------------
def build_metrics(environ: Mapping[str, str]) -> MetricsSink | None:
    """A metrics sink for the exporters `environ` configures, or None when there is none (or
    when building one failed - logged, never raised: the wrapper must run regardless)."""
    try:
        from lifecycle_trace.runtime.metrics_setup import build

        return build(environ)
    except Exception as exc:  # the wrapper must run regardless
        _log.warning("lctrace: metrics disabled (%s: %s)", type(exc).__name__, exc)
        return None
