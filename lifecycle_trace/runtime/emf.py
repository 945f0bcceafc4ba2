"""CloudWatch Embedded Metric Format: one JSON line per lifecycle event, no collector needed.

Lambda ships the wrapper's stdout/stderr to CloudWatch Logs, which extracts the metrics of every
line carrying an `_aws.CloudWatchMetrics` directive. Metric names are the schema's METRIC_*
names (the OpenTelemetry FaaS names, `lctrace.*` otherwise); the one dimension set is
`faas.name` + `faas.version` (plus `lctrace.stuck.kind` for stuck events), which keeps the
custom-metric count - and its bill - small. Counters are written as 0/1 per invocation, so
`Average` is the rate and `Sum` the count. The other attributes ride along as properties,
searchable with Logs Insights.

Stdlib only, one `write` + `flush` per line under a lock (a frozen or killed sandbox keeps
nothing in a buffer), never raises into the caller.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import IO, Any

from lifecycle_trace import config, schema
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

_log = logging.getLogger(__name__)

MILLISECONDS, COUNT = "Milliseconds", "Count"
DIMENSIONS = (schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION)
STUCK_DIMENSIONS = (*DIMENSIONS, schema.ATTR_STUCK_KIND)
# metric name -> CloudWatch unit, for every metric an EMF line can carry
EMF_METRICS: dict[str, str] = {
    schema.METRIC_INIT_DURATION: MILLISECONDS,
    schema.METRIC_INVOKE_DURATION: MILLISECONDS,
    schema.METRIC_POLL_WAIT: MILLISECONDS,
    schema.METRIC_POST_RESPONSE: MILLISECONDS,
    schema.METRIC_BILLED: MILLISECONDS,
    schema.METRIC_COLDSTARTS: COUNT,
    schema.METRIC_ERRORS: COUNT,
    schema.METRIC_TIMEOUTS: COUNT,
    schema.METRIC_STUCK: COUNT,
}
# properties (not metrics) an invocation line carries, for Logs Insights
INVOCATION_PROPERTIES = (
    schema.ATTR_INVOCATION_ID,
    schema.ATTR_INSTANCE,
    schema.ATTR_COLDSTART,
    schema.ATTR_TRIGGER,
    schema.ATTR_OUTCOME,
    schema.ATTR_ERROR_TYPE,
    schema.ATTR_EVENT_SOURCE,
    schema.ATTR_XRAY_TRACE_ID,
)
_ERROR_OUTCOMES = frozenset({"error", "crash", "stuck"})


class EmfSink:
    """Writes EMF lines to `stream` (text or binary; stdout in Lambda)."""

    def __init__(
        self,
        stream: IO[Any],
        *,
        namespace: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._stream = stream
        self._namespace = namespace or config.get_str(config.EMF_NAMESPACE, env) or "lctrace"
        self._function = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self._version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "")
        self._lock = threading.Lock()
        self._timed_out: deque[str | None] = deque(maxlen=64)  # counted at no_response
        self.dropped = 0
        self._warned = False

    # -- the sink interface --------------------------------------------------------------------
    def on_init(self, init: InitPhase) -> None:
        """`faas.init_duration` (when init ended) and, for a failed init, `faas.errors` = 1."""
        try:
            metrics: dict[str, float] = {}
            if init.init_ms is not None:
                metrics[schema.METRIC_INIT_DURATION] = round(init.init_ms, 3)
            if init.outcome != "success":
                metrics[schema.METRIC_ERRORS] = 1
            properties = {
                schema.ATTR_INSTANCE: init.instance,
                schema.ATTR_OUTCOME: init.outcome,
                schema.ATTR_ERROR_TYPE: init.error_type,
            }
            self._emit(init.start_ns, init.function, init.version, metrics, properties)
        except Exception:  # telemetry never crashes its host
            self._drop()

    def on_invocation(self, invocation: InvocationPhases) -> None:
        """One line per invocation: phase durations, billed ms and 0/1 counters."""
        try:
            inv = invocation
            metrics: dict[str, float] = {}
            for name, value in (
                (schema.METRIC_INVOKE_DURATION, inv.handler_ms),
                (schema.METRIC_POLL_WAIT, inv.poll_wait_ms),
                (schema.METRIC_POST_RESPONSE, inv.post_response_ms),
                (schema.METRIC_BILLED, inv.billed_ms),
            ):
                if value is not None:
                    metrics[name] = round(value, 3)
            metrics[schema.METRIC_COLDSTARTS] = 1 if inv.cold else 0
            timed_out = inv.outcome == "timeout" and self._first_timeout(inv.request_id)
            metrics[schema.METRIC_TIMEOUTS] = 1 if timed_out else 0
            metrics[schema.METRIC_ERRORS] = 1 if inv.outcome in _ERROR_OUTCOMES else 0
            values = (
                inv.request_id,
                inv.instance,
                inv.cold,
                inv.trigger,
                inv.outcome,
                inv.error_type,
                inv.event_source,
                inv.trace_id,
            )
            properties = dict(zip(INVOCATION_PROPERTIES, values, strict=True))
            self._emit(inv.start_ns, inv.function, inv.version, metrics, properties)
        except Exception:
            self._drop()

    def on_stuck(self, event: StuckEvent) -> None:
        """`lctrace.stuck_events` = 1 by kind; a `no_response` verdict also counts as the
        timeout (Lambda kills the wrapper with the sandbox at the deadline itself)."""
        try:
            properties = {
                schema.ATTR_STUCK_KIND: event.kind,
                schema.ATTR_INSTANCE: event.instance,
                schema.ATTR_INVOCATION_ID: event.request_id,
                schema.ATTR_ELAPSED_MS: round(event.elapsed_ms, 3),
            }
            directives = [(STUCK_DIMENSIONS, {schema.METRIC_STUCK: 1})]
            if event.kind == schema.STUCK_NO_RESPONSE and self._first_timeout(event.request_id):
                directives.append((DIMENSIONS, {schema.METRIC_TIMEOUTS: 1}))
            self._write(
                self.line(
                    event.start_ns + int(event.elapsed_ms * 1e6),
                    getattr(event, "function", None),
                    getattr(event, "version", None),
                    directives,
                    properties,
                )
            )
        except Exception:
            self._drop()

    def flush(self, timeout_ms: int) -> None:
        """Lines are written whole as they come; this only flushes the stream's buffer."""
        try:
            with self._lock:
                self._stream.flush()
        except Exception:
            self._drop()

    def shutdown(self, timeout_ms: int = 0) -> None:
        """Flush; the stream belongs to the caller and stays open."""
        self.flush(timeout_ms)

    # -- internals ----------------------------------------------------------------------------
    def line(
        self,
        timestamp_ns: int,
        function: str | None,
        version: str | None,
        directives: list[tuple[tuple[str, ...], Mapping[str, float]]],
        properties: Mapping[str, Any],
    ) -> str:
        """The EMF JSON object for one event (no newline): one directive per dimension set."""
        timestamp_ms = timestamp_ns // 1_000_000 if timestamp_ns > 0 else int(time.time() * 1000)
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": EMF_METRICS[name]} for name in metrics],
                    }
                    for dimensions, metrics in directives
                ],
            },
            # dimension values must not be empty, or CloudWatch drops the metrics
            schema.ATTR_FAAS_NAME: function or self._function or "unknown",
            schema.ATTR_FAAS_VERSION: version or self._version or "unknown",
        }
        document.update({key: value for key, value in properties.items() if value is not None})
        for _, metrics in directives:
            document.update(metrics)
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    def _emit(
        self,
        timestamp_ns: int,
        function: str | None,
        version: str | None,
        metrics: Mapping[str, float],
        properties: Mapping[str, Any],
    ) -> None:
        if metrics:
            line = self.line(timestamp_ns, function, version, [(DIMENSIONS, metrics)], properties)
            self._write(line)

    def _first_timeout(self, request_id: str | None) -> bool:
        """True once per request id: the no_response verdict and a timeout record agree."""
        if request_id is not None and request_id in self._timed_out:
            return False
        self._timed_out.append(request_id)
        return True

    def _write(self, line: str) -> None:
        text = line + "\n"
        with self._lock:
            try:
                self._stream.write(text)
            except TypeError:  # a binary stream
                self._stream.write(text.encode("utf-8"))
            # now, not at flush(): a frozen or killed sandbox must not keep lines in a buffer
            self._stream.flush()

    def _drop(self) -> None:
        self.dropped += 1
        if not self._warned:
            self._warned = True
            _log.warning("lctrace: dropping EMF metrics (%s)", sys.exc_info()[1])
