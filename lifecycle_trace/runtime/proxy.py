"""The Runtime-API proxy: relays every call byte-exact and tells an observer what it saw, when.

One thread per runtime connection, each with its own keep-alive upstream connection, so
concurrent poll loops (Lambda Managed Instances) are forwarded concurrently. The observer (the
lifecycle state machine) is called at three points of each exchange; anything it raises is
counted and ignored - tracing never changes what the runtime sees, except the single
`Lambda-Runtime-Trace-Id` value the observer may rewrite on a `/next` response.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from time import monotonic_ns
from typing import TYPE_CHECKING

from lifecycle_trace.runtime import api


class Exchange:
    """One request/response pair on one runtime connection, with the proxy's timestamps (ns)."""

    __slots__ = (
        "conn_id",
        "kind",
        "request_id",
        "method",
        "path",
        "request_head",
        "_request_headers",
        "t_arrive",
        "t_forwarded",
        "t_response",
        "t_done",
        "status",
        "response_head",
        "_response_headers",
        "request_capture",
        "response_capture",
        "request_body",
        "response_body",
        "state",
        "handler_span_id",
    )

    def __init__(self, conn_id: int, kind: str, request_id: str | None, t_arrive: int) -> None:
        self.conn_id = conn_id
        self.kind = kind
        self.request_id = request_id
        self.method = b""
        self.path = b""
        self.request_head = b""  # raw, as received (headers are parsed only when asked for)
        self._request_headers: dict[bytes, bytes] | None = None
        self.t_arrive = t_arrive
        self.t_forwarded = 0
        self.t_response = 0
        self.t_done = 0
        self.status = 0
        self.response_head = b""
        self._response_headers: dict[bytes, bytes] | None = None
        self.request_capture = 0  # bytes of the request body to keep (set by the observer)
        self.response_capture = 0
        self.request_body = api.BodySink()
        self.response_body = api.BodySink()
        self.state: object = None  # the observer's own per-exchange data
        self.handler_span_id: str | None = None  # the Parent handed to the runtime, if any

    @property
    def request_headers(self) -> dict[bytes, bytes]:
        """Request headers by lower-case name, parsed from `request_head` on first use."""
        if self._request_headers is None:
            head = self.request_head
            self._request_headers = api.parse_head(head)[1] if head else {}
        return self._request_headers

    @request_headers.setter
    def request_headers(self, headers: dict[bytes, bytes]) -> None:
        self._request_headers = headers

    @property
    def response_headers(self) -> dict[bytes, bytes]:
        """Response headers by lower-case name, parsed from `response_head` on first use."""
        if self._response_headers is None:
            head = self.response_head
            self._response_headers = api.parse_head(head)[1] if head else {}
        return self._response_headers

    @response_headers.setter
    def response_headers(self, headers: dict[bytes, bytes]) -> None:
        self._response_headers = headers

    def request_header(self, name: bytes) -> bytes | None:
        """One request header (lower-case `name`) without parsing the others."""
        if self._request_headers is not None or not self.request_head:
            return self.request_headers.get(name)
        return api.header(self.request_head, name)

    def response_header(self, name: bytes) -> bytes | None:
        """One response header (lower-case `name`) without parsing the others."""
        if self._response_headers is not None or not self.response_head:
            return self.response_headers.get(name)
        return api.header(self.response_head, name)

    @property
    def overhead_ns(self) -> int:
        """Time spent in the proxy itself: arrival to forwarded plus response to done."""
        if not self.t_done:
            return 0
        return (self.t_forwarded - self.t_arrive) + (self.t_done - self.t_response)


if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object


class ProxyObserver(Protocol):
    """What the proxy reports. `on_request` may block briefly (the bounded flush before /next)."""

    def on_request(self, exchange: Exchange) -> None: ...

    def on_response_head(self, exchange: Exchange) -> bytes | None:
        """Return a new `Lambda-Runtime-Trace-Id` value to hand the runtime, or None."""

    def on_exchange_done(self, exchange: Exchange) -> None: ...

    def on_connection_lost(self, exchange: Exchange) -> None: ...


class NullObserver:
    """Observes nothing: the proxy forwards until the lifecycle replaces it (or forever, when
    tracing could not start)."""

    def on_request(self, exchange: Exchange) -> None:
        pass

    def on_response_head(self, exchange: Exchange) -> bytes | None:
        return None

    def on_exchange_done(self, exchange: Exchange) -> None:
        pass

    def on_connection_lost(self, exchange: Exchange) -> None:
        pass


class _UpstreamSend:
    """sendall() to the upstream that remembers the first failure instead of raising, so the
    proxy can still read whatever the upstream answered (e.g. 413 before closing)."""

    __slots__ = ("sock", "error")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.error: OSError | None = None

    def __call__(self, data: bytes) -> None:
        if self.error is None:
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self.error = exc


class RuntimeApiProxy:
    """Listens on 127.0.0.1 and forwards to the real Runtime API at `upstream` (host, port)."""

    def __init__(
        self,
        upstream: tuple[str, int],
        observer: ProxyObserver,
        port: int = 0,
        listener: socket.socket | None = None,
    ) -> None:
        self.upstream = upstream
        self.observer = observer  # may be replaced before `start()`
        if listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
        self.listener = listener
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.observer_errors = 0
        self.internal_errors = 0
        self.connections = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Accept connections in a daemon thread (the listener already queues them)."""
        self._thread = threading.Thread(
            target=self._accept_loop, name="lctrace-accept", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(
                target=self._serve,
                args=(client, self.connections),
                name=f"lctrace-conn-{self.connections}",
                daemon=True,
            ).start()

    def _notify(self, method, exchange: Exchange):  # type: ignore[no-untyped-def]
        try:
            return method(exchange)
        except Exception:  # noqa: BLE001 - tracing must never break forwarding
            self.observer_errors += 1
            return None

    def _serve(self, client: socket.socket, conn_id: int) -> None:
        api.tune(client)
        reader = api.Reader(client)
        upstream = api.Upstream(*self.upstream)
        current: list[Exchange] = []
        try:
            while self._one_exchange(reader, client.sendall, upstream, conn_id, current):
                current.clear()
        except (OSError, api.ProtocolError):
            if current:
                self._notify(self.observer.on_connection_lost, current[0])
        except Exception:  # noqa: BLE001 - a proxy bug ends this connection, quietly
            self.internal_errors += 1
        finally:
            upstream.close()
            with contextlib.suppress(OSError):
                client.close()

    def _one_exchange(self, reader, send_client, upstream: api.Upstream, conn_id: int, current):  # type: ignore[no-untyped-def]
        """Relay one request and its response; None when the connection should end.

        The hot path: one head search, one regex for the framing, one send per message. The
        observer is told before the request goes upstream only when it must act first
        (`/next`: the flush before Lambda may freeze us; `/init/error`; bodies streamed in
        pieces, whose capture limit it sets); otherwise right after the send, while the
        Runtime API is working on its answer."""
        head = reader.read_head()
        if not head:
            return None
        t_arrive = monotonic_ns()
        start = head[: head.find(b"\n")].rstrip(b"\r").split(b" ", 2)
        if len(start) < 2:
            raise api.ProtocolError(f"bad start line {head[:80]!r}")
        method, target = start[0], start[1]
        kind, request_id = api.classify(method, target)
        ex = Exchange(conn_id, kind, request_id, t_arrive)
        ex.method, ex.path, ex.request_head = method, target, head
        current.append(ex)
        length, close, expect = api.framing(head)
        small = length is None or 0 <= length <= api.COALESCE_LIMIT
        early = expect or not small or kind in _TELL_FIRST
        observer = self.observer
        if early:
            self._notify(observer.on_request, ex)
            ex.request_body.limit = ex.request_capture
        held = upstream.sock
        upstream.ensure(t_arrive)
        reused = held is not None and upstream.sock is held
        up_sock = upstream.sock
        up_reader = upstream.reader
        body = b""
        send_error = None
        if expect:
            up = _UpstreamSend(up_sock)  # type: ignore[arg-type]
            up(head)
            rhead = self._final_head(up_reader, send_client)  # 100 Continue relayed to runtime
            if rhead is not None:
                # the upstream answered without wanting the body: relay, then end both sides
                ex.t_forwarded = monotonic_ns()
                return self._respond(ex, rhead, up_reader, send_client, upstream, close=True)
            api.relay_body(reader, up, length or 0, ex.request_body)
            send_error = up.error
        elif small:
            if length:
                body = reader.read_exact(length)
                if len(body) != length:
                    raise api.ProtocolError("connection closed inside a body")
                data = head + body
            else:
                data = head
            try:
                up_sock.sendall(data)  # type: ignore[union-attr]
            except OSError as exc:  # read what the API answered anyway (e.g. 413, then close)
                send_error = exc
        else:
            up = _UpstreamSend(up_sock)  # type: ignore[arg-type]
            up(head)
            api.relay_body(reader, up, length, ex.request_body)  # type: ignore[arg-type]
            send_error = up.error
        ex.t_forwarded = monotonic_ns()
        if not early:
            self._notify(observer.on_request, ex)
            ex.request_body.limit = ex.request_capture
        if body:
            ex.request_body.add(body)
        retry = reused and small and not expect  # a whole request in hand, on an old socket
        try:
            first_head = up_reader.read_head()
        except OSError:
            if not retry:
                raise
            first_head = b""
        if not first_head and retry:
            # A kept-alive connection the API had closed (nothing came back): the request was
            # never read, so it goes once more on a new connection, as HTTP clients do.
            upstream.close()
            upstream.ensure()
            up_reader = upstream.reader
            send_error = None
            try:
                upstream.sock.sendall(data)  # type: ignore[union-attr]
            except OSError as exc:
                send_error = exc
            first_head = up_reader.read_head()  # type: ignore[union-attr]
        rhead = self._final_head(up_reader, send_client, first=True, head=first_head)
        if rhead is None:
            raise api.ProtocolError("upstream sent no response")
        close = close or send_error is not None
        return self._respond(ex, rhead, up_reader, send_client, upstream, close=close)

    def _final_head(self, up_reader, send_client, first: bool = False,  # type: ignore[no-untyped-def]
                    head: bytes | None = None):
        """Read upstream heads (starting with `head` when already read), relaying 1xx interim
        ones; the final head, or None after a 100 Continue when `first` is False (the caller
        then sends the body)."""
        while True:
            rhead, head = (head, None) if head is not None else (up_reader.read_head(), None)
            if not rhead:
                raise OSError("upstream closed the connection")
            status = rhead[9:12]
            if status[:1] == b"1" and status != b"101":
                send_client(rhead)
                if not first and status == b"100":
                    return None
                continue
            return rhead

    def _respond(  # type: ignore[no-untyped-def]
        self, ex: Exchange, rhead: bytes, up_reader, send_client, upstream, close: bool
    ):
        """Relay the final response. The observer sees a `/next` answer's head before it is
        forwarded (it may rewrite the trace header); any other answer after."""
        ex.t_response = monotonic_ns()
        rstart = rhead[: rhead.find(b"\n")].split(b" ", 2)
        try:
            ex.status = status = int(rstart[1])
        except (ValueError, IndexError):
            raise api.ProtocolError(f"bad status line {rhead[:40]!r}") from None
        ex.response_head = rhead
        length, rclose, _ = api.framing(rhead)
        observer = self.observer
        early = ex.kind == api.KIND_NEXT
        if early:
            trace_value = self._notify(observer.on_response_head, ex)
            if trace_value:
                rhead = api.replace_header_value(rhead, api.H_TRACE_ID, trace_value)
            ex.response_body.limit = ex.response_capture
        if ex.method == b"HEAD" or status in (204, 304):
            length = 0
        body = b""
        if length is None:
            send_client(rhead)
            api.relay_until_close(up_reader, send_client, ex.response_body)
            close = True
        elif 0 <= length <= api.COALESCE_LIMIT:
            if length:
                body = up_reader.read_exact(length)
                if len(body) != length:
                    raise OSError("upstream closed inside a body")
                send_client(rhead + body)
            else:
                send_client(rhead)
        else:
            send_client(rhead)
            api.relay_body(up_reader, send_client, length, ex.response_body)
        ex.t_done = upstream.last_used = monotonic_ns()
        if not early:
            self._notify(observer.on_response_head, ex)
            ex.response_body.limit = ex.response_capture
        if body:
            ex.response_body.add(body)
        self._notify(observer.on_exchange_done, ex)
        if close or rclose:
            return None
        return ex


# request kinds the observer hears about before the request goes upstream
_TELL_FIRST = (api.KIND_NEXT, api.KIND_INIT_ERROR)
