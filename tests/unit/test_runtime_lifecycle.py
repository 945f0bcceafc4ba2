"""The lifecycle state machine on synthetic proxy exchanges (exact timestamps in, exact phase
durations out), the trace-header helpers and the watchdog's verdicts."""

from __future__ import annotations

import json

from lifecycle_trace import schema
from lifecycle_trace.runtime import api
from lifecycle_trace.runtime.lifecycle import (
    Lifecycle,
    LifecycleSettings,
    parse_trace_header,
    with_parent,
)
from lifecycle_trace.runtime.proxy import Exchange

MS = 1_000_000
T0 = 1_000_000 * MS  # the wrapper's start, monotonic ns


class Sink:
    def __init__(self) -> None:
        self.inits: list = []  # type: ignore[type-arg]
        self.invocations: list = []  # type: ignore[type-arg]
        self.stuck: list = []  # type: ignore[type-arg]
        self.flushes = 0

    def on_init(self, phase) -> None:  # type: ignore[no-untyped-def]
        self.inits.append(phase)

    def on_invocation(self, rec) -> None:  # type: ignore[no-untyped-def]
        self.invocations.append(rec)

    def on_stuck(self, event) -> None:  # type: ignore[no-untyped-def]
        self.stuck.append(event)

    def flush(self, timeout_ms: int) -> None:
        self.flushes += 1


def make(**settings) -> tuple[Lifecycle, Sink, list[str]]:  # type: ignore[no-untyped-def]
    sink = Sink()
    markers: list[str] = []
    base = {"instance": "stream-1", "function": "fn", "version": "$LATEST"}
    base.update(settings)
    life = Lifecycle(LifecycleSettings(**base), sink, start_ns=T0, marker_writer=markers.append)
    return life, sink, markers


def next_call(
    life: Lifecycle,
    t_ms: float,
    deliver_ms: float | None,
    request_id: str | None,
    conn: int = 1,
    trace: bytes | None = None,
    body: bytes = b"{}",
) -> Exchange:
    ex = Exchange(conn, api.KIND_NEXT, None, T0 + int(t_ms * MS))
    life.on_request(ex)
    if deliver_ms is None:
        return ex
    ex.t_forwarded = ex.t_arrive
    ex.t_response = T0 + int(deliver_ms * MS)
    ex.status = 200
    headers = {api.H_REQUEST_ID: request_id.encode(), api.H_DEADLINE: b"5000"}  # type: ignore[union-attr]
    if trace:
        headers[api.H_TRACE_ID] = trace
    ex.response_headers = headers
    new_trace = life.on_response_head(ex)
    ex.response_body.limit = ex.response_capture
    ex.response_body.add(body)
    ex.t_done = ex.t_response
    life.on_exchange_done(ex)
    ex.request_headers = {b"new-trace": new_trace or b""}
    return ex


def result_call(
    life: Lifecycle,
    kind: str,
    request_id: str,
    t_ms: float,
    answered_ms: float,
    status: int = 202,
    body: bytes = b"ok",
    error_type: bytes | None = None,
) -> None:
    ex = Exchange(1, kind, request_id, T0 + int(t_ms * MS))
    if error_type:
        ex.request_headers = {api.H_ERROR_TYPE: error_type}
    life.on_request(ex)
    ex.request_body.limit = ex.request_capture
    ex.request_body.add(body)
    ex.t_forwarded = ex.t_arrive
    ex.t_response = T0 + int(answered_ms * MS)
    ex.status = status
    life.on_response_head(ex)
    ex.t_done = ex.t_response
    life.on_exchange_done(ex)


def test_phases_of_two_invocations() -> None:
    life, sink, _ = make(memory_mb=512)
    next_call(life, 40, 100, "r1", body=b'{"Records":[{"eventSource":"aws:sqs"}]}')
    assert sink.inits[0].init_ms == 40.0 and sink.inits[0].outcome == "success"
    result_call(life, api.KIND_RESPONSE, "r1", 130, 131, body=b"12345")
    next_call(life, 135, 200, "r2")
    result_call(life, api.KIND_ERROR, "r2", 210, 212, error_type=b"Function.Boom")
    next_call(life, 250, None, None)
    first, second = sink.invocations
    assert (first.request_id, first.cold, second.cold) == ("r1", True, False)
    assert first.poll_wait_ms == 60.0  # /next at 40, event back at 100
    assert first.handler_ms == 30.0 and first.response_ms == 1.0
    assert first.post_response_ms == 4.0 and first.billed_ms == 35
    assert first.response_bytes == 5 and first.event_bytes == len(
        b'{"Records":[{"eventSource":"aws:sqs"}]}'
    )
    assert (first.trigger, first.event_source, first.record_count) == ("pubsub", "aws:sqs", 1)
    assert first.memory_mb == 512 and first.deadline_ms == 5000
    assert first.outcome == "success" and first.event_payload is None
    assert second.outcome == "error" and second.error_type == "Function.Boom"
    assert second.poll_wait_ms == 65.0 and second.post_response_ms == 38.0
    assert sink.flushes == 3  # before each /next that closed something


def test_trace_header_rewrite_and_parent() -> None:
    life, sink, _ = make()
    header = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    ex = next_call(life, 1, 2, "r1", trace=header)
    new = ex.request_headers[b"new-trace"].decode()
    result_call(life, api.KIND_RESPONSE, "r1", 3, 4)
    next_call(life, 5, None, None)
    (rec,) = sink.invocations
    assert new == f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={rec.handler_span_id};Sampled=1"
    assert rec.parent_span_id == "53995c3f42cd8ad8" and rec.sampled is True
    assert rec.trace_id == "1-5759e988-bd862e3fe1be46a994272793"
    assert rec.invocation_span_id != rec.handler_span_id


def test_trace_header_helpers() -> None:
    assert parse_trace_header("Root=1-a-b; Parent=p;Sampled=0") == {
        "Root": "1-a-b",
        "Parent": "p",
        "Sampled": "0",
    }
    assert with_parent("Root=1-a-b;Sampled=1", "ff") == "Root=1-a-b;Parent=ff;Sampled=1"
    assert (
        with_parent("Root=1-a-b;Parent=aa;Lineage=x:1", "ff") == "Root=1-a-b;Parent=ff;Lineage=x:1"
    )


def test_no_trace_header_means_no_rewrite_but_an_xray_trace_id() -> None:
    life, sink, _ = make()
    ex = next_call(life, 1, 2, "r1")
    assert ex.request_headers[b"new-trace"] == b""
    result_call(life, api.KIND_RESPONSE, "r1", 3, 4)
    next_call(life, 5, None, None)
    assert sink.invocations[0].trace_id.startswith("1-")
    assert sink.invocations[0].parent_span_id is None


def test_payloads_only_when_opted_in() -> None:
    life, sink, _ = make(capture_payload_bytes=4)
    next_call(life, 1, 2, "r1", body=b'{"secret":1}')
    result_call(life, api.KIND_RESPONSE, "r1", 3, 4, body=b"response-body")
    next_call(life, 5, None, None)
    assert sink.invocations[0].event_payload == '{"se'
    assert sink.invocations[0].response_payload == "resp"


def test_init_error_and_crash_on_child_exit() -> None:
    life, sink, _ = make()
    ex = Exchange(1, api.KIND_INIT_ERROR, None, T0 + 25 * MS)
    ex.request_headers = {api.H_ERROR_TYPE: b"Runtime.MyInitError"}
    life.on_request(ex)
    life.on_child_exit(1)
    (init,) = sink.inits
    assert (init.outcome, init.error_type, init.init_ms) == (
        "init_error",
        "Runtime.MyInitError",
        25.0,
    )
    assert not sink.invocations


def test_exit_mid_invocation_is_a_crash() -> None:
    life, sink, _ = make()
    next_call(life, 10, 20, "r1")
    life.on_child_exit(7)
    (rec,) = sink.invocations
    assert rec.outcome == "crash" and rec.error_type == "Runtime.ExitError"
    assert rec.handler_ms is not None and rec.handler_ms > 0
    assert rec.response_ms is None and rec.post_response_ms is None


def test_exit_before_first_poll_is_an_init_crash() -> None:
    life, sink, _ = make()
    life.on_child_exit(3)
    assert sink.inits[0].outcome == "crash"


def test_watchdog_verdicts_once_each() -> None:
    life, sink, markers = make(never_polled_ms=100, deadline_margin_ms=500, stopped_polling_ms=50)
    (never,) = life.check_stuck(T0 + 150 * MS)
    assert never.kind == schema.STUCK_NEVER_POLLED and never.elapsed_ms == 150.0
    assert life.check_stuck(T0 + 200 * MS) == []  # reported once
    next_call(life, 300, 310, "r1")
    # deadline 5000 ms epoch: wall(now) is far later, so the margin is passed at once
    (no_response,) = life.check_stuck(T0 + 320 * MS)
    assert no_response.kind == schema.STUCK_NO_RESPONSE and no_response.request_id == "r1"
    assert no_response.deadline_ms == 5000 and no_response.elapsed_ms == 10.0
    result_call(life, api.KIND_RESPONSE, "r1", 330, 331)
    assert life.check_stuck(T0 + 360 * MS) == []  # 29 ms after the answer
    (stopped,) = life.check_stuck(T0 + 400 * MS)
    assert stopped.kind == schema.STUCK_STOPPED_POLLING and stopped.elapsed_ms == 69.0
    assert stopped.trace_id and stopped.parent_span_id
    life._report_stuck(stopped)
    marker = json.loads(markers[0])
    assert marker["lctrace"] == "stuck" and marker["kind"] == "stopped_polling"
    assert marker["request_id"] == "r1" and marker["elapsed_ms"] == 69.0
    assert "\n" not in markers[0]
    assert sink.stuck == [stopped]


def test_events_before_the_lifecycle_exists_are_replayed_with_the_same_handler_id() -> None:
    from lifecycle_trace.runtime.early import BufferingObserver

    early = BufferingObserver()
    header = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    ex = next_call(early, 30, 31, "r1", trace=header)  # type: ignore[arg-type]
    handed = ex.request_headers[b"new-trace"].decode()
    result_call(early, api.KIND_RESPONSE, "r1", 40, 41)  # type: ignore[arg-type]
    life, sink, _ = make()
    assert not sink.inits
    early.attach(life)
    assert sink.inits[0].init_ms == 30.0
    next_call(early, 50, None, None)  # type: ignore[arg-type]  # delegated now
    (rec,) = sink.invocations
    assert (
        handed == f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={rec.handler_span_id};Sampled=1"
    )
    assert rec.handler_ms == 9.0 and rec.post_response_ms == 9.0 and rec.cold


def test_error_posted_after_a_rejected_response_keeps_the_first_post_as_handler_end() -> None:
    life, sink, _ = make()
    next_call(life, 1, 2, "r1")
    result_call(life, api.KIND_RESPONSE, "r1", 12, 13, status=413)
    result_call(life, api.KIND_ERROR, "r1", 14, 15, error_type=b"Function.ResponseSizeTooLarge")
    next_call(life, 20, None, None)
    (rec,) = sink.invocations
    assert rec.handler_ms == 10.0 and rec.response_ms == 3.0 and rec.post_response_ms == 5.0
    assert rec.outcome == "error" and rec.error_type == "Function.ResponseSizeTooLarge"


def test_a_poll_seen_before_the_posts_answer_still_closes_that_invocation() -> None:
    """A runtime that opens a connection per call (PHP's curl) can send `/next` as soon as its
    `/response` is answered, before the proxy thread of that post has told the lifecycle: the
    invocation is closed at that `/next` once the answer arrives, not reported stuck."""
    life, sink, markers = make()
    next_call(life, 10, 20, "r1")
    post = Exchange(1, api.KIND_RESPONSE, "r1", T0 + 30 * MS)
    life.on_request(post)
    post.t_forwarded = post.t_arrive
    post.t_response = post.t_done = T0 + 31 * MS
    post.status = 202
    next_call(life, 32, None, None, conn=2)  # the next poll, on another connection, first
    assert sink.invocations == []
    assert life.check_stuck(T0 + 10_000 * MS) == []  # not "stopped polling"
    life.on_response_head(post)
    life.on_exchange_done(post)
    (rec,) = sink.invocations
    assert rec.request_id == "r1" and rec.outcome == "success"
    assert rec.handler_ms == 10.0 and rec.response_ms == 1.0 and rec.post_response_ms == 1.0
    assert markers == []
