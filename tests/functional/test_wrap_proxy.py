"""The proxy against a scripted Runtime API on 127.0.0.1, for what RIE cannot produce:
concurrent `/next` (Lambda Managed Instances), a `Lambda-Runtime-Trace-Id` to rewrite, odd but
legal header spellings, chunked requests with trailers, `Expect: 100-continue`, and keep-alive
accounting. Clients are raw sockets, so every byte that crosses the proxy is compared."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lifecycle_trace import schema
from lifecycle_trace.runtime import api
from lifecycle_trace.runtime.lifecycle import Lifecycle, LifecycleSettings
from lifecycle_trace.runtime.proxy import RuntimeApiProxy

REPO = Path(__file__).resolve().parents[2]
NEXT = b"/2018-06-01/runtime/invocation/next"


class FakeRuntimeApi:
    """A Runtime API whose `/next` answers are raw bytes queued by the test. Records the raw
    bytes of every request it received, its connections and the peak of concurrent `/next`."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.events: queue.Queue[bytes] = queue.Queue()
        self.received: list[bytes] = []  # raw request bytes (head + body as sent)
        self.connections = 0
        self.active_next = 0
        self.peak_next = 0
        self.reply_to_post = (
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n" + b'{"status":"OK"}\n'
        )
        self._lock = threading.Lock()
        self.close_after_post = False  # hang up right after answering a POST (no `close`)
        self.both_polling = threading.Event()
        self.saw_first_chunk = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        try:
            while True:
                head = api.read_head(rfile)
                if not head:
                    return
                start, headers = api.parse_head(head)
                if b"100-continue" in headers.get(b"expect", b""):
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                sink = api.BodySink(limit=1 << 30)
                raw = [head]
                length = api.body_length(headers) or 0

                def keep(data: bytes, raw: list[bytes] = raw) -> None:
                    raw.append(data)
                    if b"first-chunk" in data:
                        self.saw_first_chunk.set()

                if length:
                    api.relay_body(rfile, keep, length, sink)
                self.received.append(b"".join(raw))
                if start[1] == NEXT:
                    with self._lock:
                        self.active_next += 1
                        self.peak_next = max(self.peak_next, self.active_next)
                        if self.active_next >= 2:
                            self.both_polling.set()
                    reply = self.events.get()
                    with self._lock:
                        self.active_next -= 1
                    conn.sendall(reply)
                else:
                    conn.sendall(self.reply_to_post)
                    if self.close_after_post:
                        return
        except (OSError, api.ProtocolError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


def event_reply(request_id: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Lambda-Runtime-Aws-Request-Id: " + request_id.encode() + b"\r\n"
        b"Lambda-Runtime-Deadline-Ms: 9999999999999\r\n"
        b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class ListSink:
    def __init__(self) -> None:
        self.inits: list = []  # type: ignore[type-arg]
        self.invocations: list = []  # type: ignore[type-arg]
        self.stuck: list = []  # type: ignore[type-arg]

    def on_init(self, phase) -> None:  # type: ignore[no-untyped-def]
        self.inits.append(phase)

    def on_invocation(self, rec) -> None:  # type: ignore[no-untyped-def]
        self.invocations.append(rec)

    def on_stuck(self, event) -> None:  # type: ignore[no-untyped-def]
        self.stuck.append(event)

    def flush(self, timeout_ms: int) -> None:
        pass


@pytest.fixture()
def stack():  # type: ignore[no-untyped-def]
    upstream = FakeRuntimeApi()
    sink = ListSink()
    lifecycle = Lifecycle(LifecycleSettings(instance="stream-1", function="f"), sink)
    host, port = api.split_address(upstream.address)
    proxy = RuntimeApiProxy((host, port), lifecycle)
    proxy.start()
    yield upstream, proxy, sink
    proxy.close()
    upstream.close()


class Client:
    """A raw keep-alive client of the proxy."""

    def __init__(self, address: str) -> None:
        host, port = api.split_address(address)
        self.sock = socket.create_connection((host, port), timeout=10)
        self.rfile = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_response(self) -> bytes:
        head = api.read_head(self.rfile)
        _, headers = api.parse_head(head)
        length = api.body_length(headers) or 0
        raw = [head]
        if length:
            api.relay_body(self.rfile, raw.append, length, api.BodySink())
        return b"".join(raw)

    def close(self) -> None:
        self.sock.close()


def get_next() -> bytes:
    return b"GET " + NEXT + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /2018-06-01/runtime/invocation/"
        + path.encode()
        + b" HTTP/1.1\r\nHost: x\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_event_and_odd_headers_relayed_byte_exact(stack) -> None:  # type: ignore[no-untyped-def]
    upstream, proxy, sink = stack
    body = bytes(range(256)) * 3
    reply = event_reply(
        "req-1",
        body,
        b'lambda-runtime-client-context: {"a":1}\r\nX-Dup: 1\r\nX-Dup: 2\r\n'
        b"Lambda-Runtime-Cognito-Identity:   spaced  \r\n",
    )
    upstream.events.put(reply)
    client = Client(proxy.address)
    client.send(get_next())
    assert client.read_response() == reply
    response = post("req-1/response", b"\x00\xffbinary\r\n")
    client.send(response)
    assert client.read_response() == upstream.reply_to_post
    assert upstream.received[-1] == response
    client.close()


def test_chunked_request_with_trailers_and_expect_continue(stack) -> None:  # type: ignore[no-untyped-def]
    upstream, proxy, sink = stack
    upstream.events.put(event_reply("req-2", b"{}"))
    client = Client(proxy.address)
    client.send(get_next())
    client.read_response()
    chunked = (
        b"POST /2018-06-01/runtime/invocation/req-2/response HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
        b"5;ext=1\r\nhello\r\n0000A\r\n0123456789\r\n0\r\nX-T: done\r\n\r\n"
    )
    client.send(chunked)
    assert client.read_response() == upstream.reply_to_post
    assert upstream.received[-1] == chunked
    # Expect: 100-continue - the 100 comes back through the proxy before the body is sent
    head = (
        b"POST /2018-06-01/runtime/invocation/req-2/error HTTP/1.1\r\nHost: x\r\n"
        b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    )
    client.send(head)
    assert api.read_head(client.rfile) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.send(b"oops")
    assert client.read_response() == upstream.reply_to_post
    assert upstream.received[-1] == head + b"oops"
    client.close()


def test_streaming_response_is_relayed_as_it_is_written(stack) -> None:  # type: ignore[no-untyped-def]
    """Response streaming: the first chunk reaches the API while the runtime still writes."""
    upstream, proxy, sink = stack
    upstream.events.put(event_reply("s1", b"{}"))
    client = Client(proxy.address)
    client.send(get_next())
    client.read_response()
    head = (
        b"POST /2018-06-01/runtime/invocation/s1/response HTTP/1.1\r\nHost: x\r\n"
        b"Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        b"Transfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type\r\n\r\n"
    )
    first = b"b\r\nfirst-chunk\r\n"
    client.send(head + first)
    assert upstream.saw_first_chunk.wait(10)  # not held back until the body is complete
    rest = b"4\r\nlast\r\n0\r\nLambda-Runtime-Function-Error-Type: Function.X\r\n\r\n"
    client.send(rest)
    assert client.read_response() == upstream.reply_to_post
    assert upstream.received[-1] == head + first + rest
    client.close()


def test_chunked_event_relayed_byte_exact(stack) -> None:  # type: ignore[no-untyped-def]
    """Events over about 2 KB come chunked from the Runtime API (RIE's Go server)."""
    upstream, proxy, sink = stack
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Lambda-Runtime-Aws-Request-Id: big\r\nLambda-Runtime-Deadline-Ms: 9999999999999\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"800\r\n" + b"a" * 0x800 + b"\r\n1\r\nb\r\n0\r\n\r\n"
    )
    upstream.events.put(reply)
    client = Client(proxy.address)
    client.send(get_next())
    head = api.read_head(client.rfile)
    raw = [head]
    api.relay_body(client.rfile, raw.append, -1, api.BodySink())
    assert b"".join(raw) == reply
    client.send(post("big/response", b"ok"))
    assert client.read_response() == upstream.reply_to_post
    upstream.events.put(event_reply("after", b"{}"))
    client.send(get_next())
    client.read_response()
    (record,) = sink.invocations
    assert record.request_id == "big" and record.event_bytes == 0x801
    client.close()


def test_keep_alive_and_upstream_status_pass_through(stack) -> None:  # type: ignore[no-untyped-def]
    upstream, proxy, sink = stack
    too_large = (
        b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\n"
        b"Content-Length: 26\r\n\r\n"
        b'{"errorType":"TooLarge"}\r\n'
    )
    upstream.reply_to_post = too_large
    client = Client(proxy.address)
    for i in range(5):
        upstream.events.put(event_reply(f"r{i}", b"{}"))
        client.send(get_next())
        client.read_response()
        client.send(post(f"r{i}/response", b"x" * i))
        assert client.read_response() == too_large
    upstream.events.put(event_reply("last", b"{}"))
    client.send(get_next())
    client.read_response()
    assert upstream.connections == 1  # one keep-alive upstream connection for one runtime one
    assert [r.request_id for r in sink.invocations] == [f"r{i}" for i in range(5)]
    assert all(r.outcome == "error" and r.upstream_status == 413 for r in sink.invocations)
    assert sink.invocations[0].error_type == "Function.ResponseSizeTooLarge"
    assert [r.response_bytes for r in sink.invocations] == list(range(5))
    client.close()


def test_a_kept_alive_connection_the_api_closed_is_replaced(stack) -> None:  # type: ignore[no-untyped-def]
    """The API hangs up right after answering (no `Connection: close`) and the runtime polls
    again at once, on its own kept-alive connection: the proxy sends that `/next` again on a
    new upstream connection instead of failing it."""
    upstream, proxy, sink = stack
    upstream.close_after_post = True
    client = Client(proxy.address)
    for i in range(3):
        upstream.events.put(event_reply(f"r{i}", b"{}"))
        client.send(get_next())
        assert b"r%d" % i in client.read_response()
        client.send(post(f"r{i}/response", b"ok"))
        assert client.read_response() == upstream.reply_to_post
    upstream.events.put(event_reply("last", b"{}"))
    client.send(get_next())
    assert b"last" in client.read_response()
    assert upstream.connections == 4  # a new one after each hang-up
    assert [r.request_id for r in sink.invocations] == ["r0", "r1", "r2"]
    client.close()


def test_concurrent_next_calls_are_forwarded_concurrently(stack) -> None:  # type: ignore[no-untyped-def]
    upstream, proxy, sink = stack
    clients = [Client(proxy.address), Client(proxy.address)]
    replies: dict[int, bytes] = {}

    def poll(index: int) -> None:
        clients[index].send(get_next())
        replies[index] = clients[index].read_response()

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    # both /next calls must be waiting upstream at the same time
    assert upstream.both_polling.wait(10)
    upstream.events.put(event_reply("A", b'{"n":"A"}'))
    upstream.events.put(event_reply("B", b'{"n":"B"}'))
    for thread in threads:
        thread.join(10)
    got = {
        index: api.parse_head(reply)[1][api.H_REQUEST_ID].decode()
        for index, reply in replies.items()
    }
    assert sorted(got.values()) == ["A", "B"]
    # each loop answers its own event, then polls again on its own connection
    for index in (1, 0):
        clients[index].send(post(f"{got[index]}/response", got[index].encode() * 3))
        clients[index].read_response()
    for index in (0, 1):
        clients[index].send(get_next())
    upstream.events.put(event_reply("C", b"{}"))
    upstream.events.put(event_reply("D", b"{}"))
    for client in clients:
        client.read_response()
    assert upstream.peak_next == 2
    records = {r.request_id: r for r in sink.invocations}
    assert set(records) == {"A", "B"}
    assert records["A"].response_bytes == 3 and records["B"].response_bytes == 3
    assert records["A"].handler_span_id != records["B"].handler_span_id
    assert sum(r.cold for r in records.values()) == 1
    for client in clients:
        client.close()


def test_observer_failures_never_change_forwarding(stack) -> None:  # type: ignore[no-untyped-def]
    upstream, proxy, sink = stack

    class Broken:
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            def fail(*args: object) -> None:
                raise RuntimeError("tracing bug")

            return fail

    proxy.observer = Broken()
    reply = event_reply("x", b"payload")
    upstream.events.put(reply)
    client = Client(proxy.address)
    client.send(get_next())
    assert client.read_response() == reply
    client.send(post("x/response", b"ok"))
    assert client.read_response() == upstream.reply_to_post
    assert proxy.observer_errors >= 3
    client.close()


def test_trace_header_rewritten_for_the_runtime(tmp_path: Path) -> None:
    """The real wrapper process and the example runtime: the runtime receives
    Lambda-Runtime-Trace-Id with Parent = the lambda.handler span, everything else kept."""
    upstream = FakeRuntimeApi()
    root = "1-5759e988-bd862e3fe1be46a994272793"
    header = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"
    for i, action in enumerate(["trace", "env"]):
        upstream.events.put(
            event_reply(
                f"t{i}",
                json.dumps({"action": action}).encode(),
                b"Lambda-Runtime-Trace-Id: " + header.encode() + b"\r\n",
            )
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LCTRACE_", "OTEL_"))}
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": upstream.address,
            "LCTRACE_EXPORTER": "jsonl",
            "LCTRACE_JSONL_PATH": str(tmp_path / "spans.jsonl"),
            "AWS_LAMBDA_LOG_STREAM_NAME": "stream-x",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "lifecycle_trace",
        "wrap",
        "--",
        sys.executable,
        str(REPO / "examples" / "bootstraps" / "runtime.py"),
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        deadline_posts = []
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            deadline_posts = [r for r in upstream.received if b"/response" in r.split(b"\r\n")[0]]
            if len(deadline_posts) >= 2:
                break
            time.sleep(0.02)
        upstream.events.put(event_reply("t2", b"{}"))  # the /next after t1 closes it
        from tests.e2e.rie_harness import read_jsonl_spans

        spans = []
        while time.monotonic() < deadline:
            spans = read_jsonl_spans(tmp_path / "spans.jsonl")
            if sum(s["name"] == schema.SPAN_INVOCATION for s in spans) >= 2:
                break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
        upstream.close()
    seen_header = deadline_posts[0].split(b"\r\n\r\n", 1)[1].decode()
    seen_env = json.loads(deadline_posts[1].split(b"\r\n\r\n", 1)[1])
    fields = dict(part.split("=", 1) for part in seen_header.split(";"))
    handler = next(
        s
        for s in spans
        if s["name"] == schema.SPAN_HANDLER and s["attrs"][schema.ATTR_INVOCATION_ID] == "t0"
    )
    invocation = next(s for s in spans if s["spanId"] == handler["parentSpanId"])
    assert fields == {
        "Root": root,
        "Parent": handler["spanId"],
        "Sampled": "1",
        "Lineage": "a87bd80c:1",
    }
    assert seen_header.startswith(f"Root={root};Parent=")
    assert invocation["name"] == schema.SPAN_INVOCATION
    assert invocation["parentSpanId"] == "53995c3f42cd8ad8"
    assert invocation["traceId"] == "5759e988bd862e3fe1be46a994272793"
    assert handler["traceId"] == invocation["traceId"]
    # a handler reading _X_AMZN_TRACE_ID (set by the runtime from the header) nests the same way
    handler_t1 = next(
        s
        for s in spans
        if s["name"] == schema.SPAN_HANDLER and s["attrs"][schema.ATTR_INVOCATION_ID] == "t1"
    )
    assert f"Parent={handler_t1['spanId']}" in seen_env["trace"]
    assert seen_env["api"] != upstream.address  # the runtime talks to the proxy
