"""Contract: what the real wrapper writes (LogSink lines, the watchdog's stuck marker, EMF lines)
reads back through the message layer with every field."""

from __future__ import annotations

import io
import json

from lifecycle_trace import schema
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import parse_event
from lifecycle_trace.records import LCTRACE, AppLine, InitReport, StuckMarker, WrapperInvocation
from lifecycle_trace.runtime.emf import EmfSink
from lifecycle_trace.runtime.lifecycle import Lifecycle, LifecycleSettings
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent
from lifecycle_trace.runtime.telemetry import LogSink

INSTANCE = "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef"
RID = "8a1f1c3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
START_NS = 1_764_168_000_123_000_000


def read_back(line: str, environment: str | None = None) -> list:
    stats = SourceStats("wrapper.log", "test")
    records = parse_event(LogEvent("wrapper.log", 1, environment, None, line), stats)
    assert stats.skipped == 0, stats.errors
    return records


def invocation(**changes) -> InvocationPhases:
    values = dict(
        request_id=RID,
        instance=INSTANCE,
        function="orders",
        version="7",
        cold=True,
        start_ns=START_NS,
        poll_wait_ms=0.412,
        handler_ms=120.25,
        response_ms=1.5,
        post_response_ms=2003.75,
        outcome="crash",
        error_type="Runtime.ExitError",
        trigger="http",
        event_source="aws:apigateway",
    )
    values.update(changes)
    return InvocationPhases(**values)


def test_log_sink_lines_read_back() -> None:
    lines: list[str] = []
    sink = LogSink(writer=lines.append)
    sink.on_init(
        InitPhase(
            instance=INSTANCE,
            function="orders",
            version="7",
            start_ns=START_NS,
            init_ms=412.5,
            outcome="init_error",
            error_type="Runtime.Unknown",
            initialization_type="provisioned-concurrency",
        )
    )
    sink.on_invocation(invocation())
    (init,) = read_back(lines[0])
    assert isinstance(init, InitReport)
    assert (
        init.dialect,
        init.duration_ms,
        init.status,
        init.error_type,
        init.initialization_type,
        init.environment,
        init.function,
        init.timestamp_ms,
    ) == (
        LCTRACE,
        412.5,
        "init_error",
        "Runtime.Unknown",
        "provisioned-concurrency",
        INSTANCE,
        "orders",
        1764168000123.0,
    )
    (inv,) = read_back(lines[1])
    assert isinstance(inv, WrapperInvocation)
    assert (
        inv.request_id,
        inv.environment,
        inv.function,
        inv.cold,
        inv.init_ms,
        inv.poll_wait_ms,
        inv.handler_ms,
        inv.response_ms,
        inv.post_response_ms,
        inv.outcome,
        inv.error_type,
        inv.trigger,
        inv.event_source,
        inv.timestamp_ms,
    ) == (
        RID,
        INSTANCE,
        "orders",
        True,
        412.5,
        0.412,
        120.25,
        1.5,
        2003.75,
        "crash",
        "Runtime.ExitError",
        "http",
        "aws:apigateway",
        1764168000123.0,
    )


def test_stuck_marker_from_the_watchdog_reads_back() -> None:
    lines: list[str] = []

    class Sink:
        def on_stuck(self, event: StuckEvent) -> None: ...
        def flush(self, timeout_ms: int) -> None: ...

    lifecycle = Lifecycle(
        LifecycleSettings(instance=INSTANCE, function="orders"), Sink(), marker_writer=lines.append
    )
    lifecycle._report_stuck(
        StuckEvent(
            kind=schema.STUCK_NO_RESPONSE,
            instance=INSTANCE,
            request_id=RID,
            start_ns=START_NS,
            elapsed_ms=2500.125,
            function="orders",
            deadline_ms=1764168003123,
        )
    )
    (marker,) = read_back(lines[0], environment="stream-from-cloudwatch")
    assert isinstance(marker, StuckMarker)
    assert (
        marker.kind,
        marker.request_id,
        marker.elapsed_ms,
        marker.environment,
        marker.function,
        marker.dialect,
    ) == ("no_response", RID, 2500.125, "stream-from-cloudwatch", "orders", LCTRACE)
    assert marker.timestamp_ms is not None and json.loads(marker.text)["kind"] == "no_response"


def test_emf_lines_are_attributed_app_output() -> None:
    stream = io.StringIO()
    EmfSink(stream, environ={"AWS_LAMBDA_FUNCTION_NAME": "orders"}).on_invocation(invocation())
    (line,) = read_back(stream.getvalue().strip())
    assert isinstance(line, AppLine) and line.request_id == RID
