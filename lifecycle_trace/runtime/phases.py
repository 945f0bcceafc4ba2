"""What the lifecycle state machine hands to exporters and metrics: one record per phase group.

Stdlib only. Times are wall-clock epoch nanoseconds (converted from the proxy's monotonic clock
at the moment of measurement); durations are milliseconds as floats. `None` means "not reached"
(e.g. `post_response_ms` of an invocation whose runtime never polled again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class InitPhase:
    """From wrapper start to the runtime's first `GET /next` (or to the verdict that it never
    came). `outcome`: success | init_error | never_polled | crash."""

    instance: str
    function: str | None
    version: str | None
    start_ns: int
    init_ms: float | None
    outcome: str = "success"
    error_type: str | None = None
    initialization_type: str | None = None  # AWS_LAMBDA_INITIALIZATION_TYPE


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationPhases:
    """One invocation as the proxy saw it (ARCHITECTURE.md span table).

    `start_ns` is when the event was returned to the runtime. `outcome`: success | error |
    crash | timeout | stuck.
    """

    request_id: str
    instance: str
    function: str | None
    version: str | None
    cold: bool
    start_ns: int
    poll_wait_ms: float | None
    handler_ms: float | None
    response_ms: float | None
    post_response_ms: float | None
    outcome: str = "success"
    error_type: str | None = None
    trigger: str = "other"
    event_source: str | None = None
    record_count: int | None = None
    event_bytes: int | None = None
    response_bytes: int | None = None
    trace_id: str | None = None
    deadline_ms: int | None = None
    memory_mb: int | None = None
    # added by the proxy (trace context it handed the runtime, its own cost, opt-in payloads)
    function_arn: str | None = None
    parent_span_id: str | None = None  # `Parent` of Lambda-Runtime-Trace-Id, 16 hex
    invocation_span_id: str | None = None
    handler_span_id: str | None = None  # the `Parent` the runtime received
    sampled: bool | None = None
    proxy_overhead_ms: float | None = None
    upstream_status: int | None = None  # the Runtime API's answer to /response or /error
    event_payload: str | None = None  # only with LCTRACE_CAPTURE_PAYLOADS, capped
    response_payload: str | None = None

    @property
    def billed_window_ms(self) -> float | None:
        """Event delivery to next poll (handler + response + post-response): what Lambda bills
        for this invoke, before rounding; None while the runtime has not polled again."""
        parts = (self.handler_ms, self.response_ms, self.post_response_ms)
        if any(part is None for part in parts):
            return None
        return float(sum(parts))  # type: ignore[arg-type]

    @property
    def billed_ms(self) -> int | None:
        """The billed window rounded up to the millisecond, as Lambda rounds it."""
        window = self.billed_window_ms
        return None if window is None else math.ceil(window - 1e-9)


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckEvent:
    """The watchdog's verdict while the runtime is still stuck (`kind` in schema.STUCK_KINDS)."""

    kind: str
    instance: str
    request_id: str | None
    start_ns: int
    elapsed_ms: float
    deadline_ms: int | None = None
    function: str | None = None
    version: str | None = None
    trace_id: str | None = None  # X-Ray root of the stuck invocation
    parent_span_id: str | None = None  # its lambda.invocation span
