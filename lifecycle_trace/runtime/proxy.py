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
        "request_headers",
        "t_arrive",
        "t_forwarded",
        "t_response",
        "t_done",
        "status",
        "response_headers",
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
        self.request_headers: dict[bytes, bytes] = {}
        self.t_arrive = t_arrive
        self.t_forwarded = 0
        self.t_response = 0
        self.t_done = 0
        self.status = 0
        self.response_headers: dict[bytes, bytes] = {}
        self.request_capture = 0  # bytes of the request body to keep (set by the observer)
        self.response_capture = 0
        self.request_body = api.BodySink()
        self.response_body = api.BodySink()
        self.state: object = None  # the observer's own per-exchange data
        self.handler_span_id: str | None = None  # the Parent handed to the runtime, if any

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
        rfile = client.makefile("rb", buffering=api.RELAY_CHUNK)
        upstream = api.Upstream(*self.upstream)
        current: list[Exchange] = []
        try:
            while self._one_exchange(client, rfile, upstream, conn_id, current) is not None:
                current.clear()
        except (OSError, api.ProtocolError):
            if current:
                self._notify(self.observer.on_connection_lost, current[0])
        except Exception:  # noqa: BLE001 - a proxy bug ends this connection, quietly
            self.internal_errors += 1
        finally:
            upstream.close()
            try:
                rfile.close()
                client.close()
            except OSError:
                pass

    def _one_exchange(self, client, rfile, upstream: api.Upstream, conn_id: int, current):  # type: ignore[no-untyped-def]
        """Relay one request and its response; None when the connection should end."""
        head = api.read_head(rfile)
        if not head:
            return None
        t_arrive = monotonic_ns()
        start, headers = api.parse_head(head)
        method, target = start[0], start[1]
        version = start[2].strip() if len(start) > 2 else b"HTTP/1.0"
        kind, request_id = api.classify(method, target)
        ex = Exchange(conn_id, kind, request_id, t_arrive)
        ex.method, ex.path, ex.request_headers = method, target, headers
        current.append(ex)
        self._notify(self.observer.on_request, ex)
        ex.request_body.limit = ex.request_capture
        length = api.body_length(headers) or 0
        upstream.ensure()
        up = _UpstreamSend(upstream.sock)  # type: ignore[arg-type]
        up_rfile = upstream.rfile
        expect = length != 0 and b"100-continue" in headers.get(api.H_EXPECT, b"").lower()
        send_client = client.sendall
        if expect:
            up(head)
            rhead = self._final_head(up_rfile, send_client)  # 100 Continue relayed to runtime
            if rhead is not None:
                # the upstream answered without wanting the body: relay, then end both sides
                ex.t_forwarded = monotonic_ns()
                return self._respond(ex, rhead, up_rfile, send_client, method, close=True)
            api.relay_body(rfile, up, length, ex.request_body)
        elif 0 < length <= api.COALESCE_LIMIT:
            body = rfile.read(length)
            if len(body) != length:
                raise api.ProtocolError("connection closed inside a body")
            ex.request_body.add(body)
            up(head + body)
        else:
            up(head)
            if length:
                api.relay_body(rfile, up, length, ex.request_body)
        ex.t_forwarded = monotonic_ns()
        rhead = self._final_head(up_rfile, send_client, first=True)
        if rhead is None:
            raise api.ProtocolError("upstream sent no response")
        close = api.wants_close(version, headers) or up.error is not None
        return self._respond(ex, rhead, up_rfile, send_client, method, close=close)

    def _final_head(self, up_rfile, send_client, first: bool = False):  # type: ignore[no-untyped-def]
        """Read upstream heads, relaying 1xx interim ones; the final head, or None after a
        100 Continue when `first` is False (the caller then sends the body)."""
        while True:
            rhead = api.read_head(up_rfile)
            if not rhead:
                raise OSError("upstream closed the connection")
            status = rhead[9:12]
            if status[:1] == b"1" and status != b"101":
                send_client(rhead)
                if not first and status == b"100":
                    return None
                continue
            return rhead

    def _respond(
        self, ex: Exchange, rhead: bytes, up_rfile, send_client, method: bytes, close: bool
    ):  # type: ignore[no-untyped-def]
        ex.t_response = monotonic_ns()
        rstart, rheaders = api.parse_head(rhead)
        try:
            ex.status = int(rstart[1])
        except ValueError:
            raise api.ProtocolError(f"bad status line {rhead[:40]!r}") from None
        ex.response_headers = rheaders
        trace_value = self._notify(self.observer.on_response_head, ex)
        if trace_value:
            rhead = api.replace_header_value(rhead, api.H_TRACE_ID, trace_value)
        ex.response_body.limit = ex.response_capture
        if method == b"HEAD" or ex.status in (204, 304):
            length: int | None = 0
        else:
            length = api.body_length(rheaders)
        if length is None:
            send_client(rhead)
            api.relay_until_close(up_rfile, send_client, ex.response_body)
            close = True
        elif 0 <= length <= api.COALESCE_LIMIT:
            body = up_rfile.read(length) if length else b""
            if len(body) != length:
                raise OSError("upstream closed inside a body")
            ex.response_body.add(body)
            send_client(rhead + body)
        else:
            send_client(rhead)
            api.relay_body(up_rfile, send_client, length, ex.response_body)
        ex.t_done = monotonic_ns()
        self._notify(self.observer.on_exchange_done, ex)
        if close or api.wants_close(rstart[0], rheaders):
            return None
        return ex
