"""The Runtime API as the proxy sees it: paths, header names, HTTP/1.1 framing, keep-alive upstream.

Stdlib only, and deliberately low level: the proxy parses just the request/status line and the
headers it needs to find message boundaries (Content-Length, Transfer-Encoding: chunked) and
relays every byte it read unchanged. No `http.client`/`http.server`: their per-request cost is
larger than the whole latency budget of the proxy.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept off the cold-start path
    from collections.abc import Callable
    from typing import BinaryIO

API_PREFIX = "/2018-06-01/runtime/"
PATH_NEXT = "/2018-06-01/runtime/invocation/next"
PATH_INIT_ERROR = "/2018-06-01/runtime/init/error"

# request kinds the lifecycle cares about; everything else is forwarded as OTHER
KIND_NEXT = "next"
KIND_RESPONSE = "response"
KIND_ERROR = "error"
KIND_INIT_ERROR = "init_error"
KIND_OTHER = "other"

# header names, lower case (HTTP header names are case-insensitive)
H_REQUEST_ID = b"lambda-runtime-aws-request-id"
H_DEADLINE = b"lambda-runtime-deadline-ms"
H_FUNCTION_ARN = b"lambda-runtime-invoked-function-arn"
H_TRACE_ID = b"lambda-runtime-trace-id"
H_ERROR_TYPE = b"lambda-runtime-function-error-type"
H_CONTENT_LENGTH = b"content-length"
H_TRANSFER_ENCODING = b"transfer-encoding"
H_CONNECTION = b"connection"
H_EXPECT = b"expect"

MAX_LINE = 65536  # longest header line accepted (Go's default limit is 1 MiB for all headers)
MAX_HEADERS = 200
RELAY_CHUNK = 65536  # bytes per recv/send while relaying a body
COALESCE_LIMIT = 65536  # bodies up to this size go out in the same send() as their head
MAX_HEAD = 1 << 20  # largest message head accepted (Go's http.DefaultMaxHeaderBytes)
IDLE_CHECK_NS = 50_000_000  # an upstream idle longer than this is checked before reuse


class ProtocolError(Exception):
    """A peer sent something that is not HTTP/1.x; the proxy closes that connection."""


def classify(method: bytes, target: bytes) -> tuple[str, str | None]:
    """(kind, request id) of a Runtime API request line, e.g. POST .../invocation/ID/response."""
    path = target.split(b"?", 1)[0].decode("latin-1")
    if not path.startswith(API_PREFIX):
        return KIND_OTHER, None
    if path == PATH_NEXT:
        return (KIND_NEXT, None) if method == b"GET" else (KIND_OTHER, None)
    if path == PATH_INIT_ERROR:
        return KIND_INIT_ERROR, None
    parts = path[len(API_PREFIX) :].split("/")
    if len(parts) == 3 and parts[0] == "invocation" and method == b"POST":
        if parts[2] == "response":
            return KIND_RESPONSE, parts[1]
        if parts[2] == "error":
            return KIND_ERROR, parts[1]
    return KIND_OTHER, None


def read_head(rfile: BinaryIO) -> bytes:
    """The raw bytes of one message head, through the blank line; b"" on a clean EOF."""
    lines = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            if lines:
                raise ProtocolError("connection closed inside a message head")
            return b""
        if len(line) > MAX_LINE:
            raise ProtocolError("header line too long")
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerated stray CRLF between messages (RFC 9112 2.2)
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        if len(lines) > MAX_HEADERS:
            raise ProtocolError("too many header lines")


def parse_head(head: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
    """(start line split in three, headers by lower-case name; repeated names comma-joined)."""
    lines = head.split(b"\n")
    start = lines[0].rstrip(b"\r").split(b" ", 2)
    if len(start) < 2:
        raise ProtocolError(f"bad start line {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower()
        value = value.strip()
        headers[key] = headers[key] + b", " + value if key in headers else value
    return start, headers


def body_length(headers: dict[bytes, bytes]) -> int | None:
    """Content-Length as an int; -1 for chunked; None when the header says nothing."""
    te = headers.get(H_TRANSFER_ENCODING)
    if te is not None and te.lower().rsplit(b",", 1)[-1].strip() == b"chunked":
        return -1
    cl = headers.get(H_CONTENT_LENGTH)
    if cl is None:
        return None
    try:
        length = int(cl.split(b",")[0])
    except ValueError:
        raise ProtocolError(f"bad Content-Length {cl[:40]!r}") from None
    if length < 0:
        raise ProtocolError("negative Content-Length")
    return length


def wants_close(version: bytes, headers: dict[bytes, bytes]) -> bool:
    """True when this message ends its connection (Connection: close, or HTTP/1.0 default)."""
    conn = headers.get(H_CONNECTION, b"").lower()
    if b"close" in conn:
        return True
    return version.upper() == b"HTTP/1.0" and b"keep-alive" not in conn


class BodySink:
    """Counts relayed body bytes and keeps the first `limit` of them (for event shape/payload
    capture). `limit=0` keeps nothing."""

    __slots__ = ("size", "limit", "parts", "kept")

    def __init__(self, limit: int = 0) -> None:
        self.size = 0
        self.limit = limit
        self.parts: list[bytes] = []
        self.kept = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.kept < self.limit:
            piece = data[: self.limit - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)

    def captured(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    """Buffered reads from one socket into a reused bytearray, for the proxy's hot path.

    A message head and a small body usually arrive in one `recv_into`; `read_head` finds the
    blank line with one C-level search instead of a `readline` per header line (the
    `makefile()` reader costs a Python-level loop and a list per head). Also offers
    `readline`/`read1`, so `relay_body` and `relay_until_close` take it like a file.
    """

    __slots__ = ("sock", "buf", "view", "start", "end")

    def __init__(self, sock: socket.socket, size: int = RELAY_CHUNK) -> None:
        self.sock = sock
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.start = 0  # unread bytes are buf[start:end]
        self.end = 0

    def _fill(self) -> int:
        """Receive more bytes after the unread ones (moved to the front, or into a bigger
        buffer, when the buffer is full); 0 on EOF."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buf):
            unread = bytes(self.view[self.start : self.end])
            size = len(self.buf)
            if len(unread) > size // 2:
                size *= 2
            self.buf = bytearray(size)
            self.view = memoryview(self.buf)
            self.buf[: len(unread)] = unread
            self.start, self.end = 0, len(unread)
        n = self.sock.recv_into(self.view[self.end :])
        self.end += n
        return n

    def read_head(self) -> bytes:
        """The raw bytes of one message head, through the blank line; b"" on a clean EOF.
        Stray CRLFs before a message are skipped (RFC 9112 2.2)."""
        buf = self.buf
        while True:
            start, end = self.start, self.end
            while start < end and buf[start] in (10, 13):
                if buf[start] == 13 and (start + 1 == end or buf[start + 1] != 10):
                    break  # a lone CR: let it fail as a start line
                start += 1 if buf[start] == 10 else 2
            self.start = start
            if start < end:
                i = buf.find(b"\n\r\n", start, end)
                if i >= 0:
                    j = buf.find(b"\n\n", start, i + 1)
                    stop = j + 2 if j >= 0 else i + 3
                else:
                    j = buf.find(b"\n\n", start, end)
                    stop = j + 2 if j >= 0 else -1
                if stop > 0:
                    head = self._take(stop)
                    if head.count(b"\n") > MAX_HEADERS + 2:
                        raise ProtocolError("too many header lines")
                    return head
                if end - start > MAX_HEAD:
                    raise ProtocolError("message head too long")
            if not self._fill():
                if self.end > self.start:
                    raise ProtocolError("connection closed inside a message head")
                return b""
            buf = self.buf

    def _take(self, stop: int) -> bytes:
        """The buffered bytes up to `stop`, consumed."""
        data = bytes(self.view[self.start : stop])
        if stop == self.end:
            self.start = self.end = 0
        else:
            self.start = stop
        return data

    def read_exact(self, n: int) -> bytes:
        """Exactly `n` bytes (b"" shorter only when the peer closed first)."""
        start, end = self.start, self.end
        if end - start >= n:
            stop = start + n
            return self._take(stop)
        out = bytearray(n)
        have = end - start
        out[:have] = self.view[start:end]
        self.start = self.end = 0
        view = memoryview(out)
        while have < n:
            got = self.sock.recv_into(view[have:])
            if not got:
                return bytes(out[:have])
            have += got
        return bytes(out)

    def read1(self, n: int = RELAY_CHUNK) -> bytes:
        """Up to `n` bytes: what is buffered, else one recv; b"" on EOF."""
        start, end = self.start, self.end
        if start < end:
            stop = min(end, start + n)
            return self._take(stop)
        return self.sock.recv(min(n, RELAY_CHUNK))

    def readline(self, limit: int = MAX_LINE + 1) -> bytes:
        """One line through its LF (at most `limit` bytes; shorter at EOF)."""
        while True:
            start, end = self.start, self.end
            i = self.buf.find(b"\n", start, min(end, start + limit))
            if i >= 0 or end - start >= limit:
                stop = i + 1 if i >= 0 else start + limit
                return self._take(stop)
            if not self._fill():
                data = bytes(self.view[self.start : self.end])
                self.start = self.end = 0
                return data


_FRAMING_RE = re.compile(
    rb"\n[ \t]*(content-length|transfer-encoding|connection|expect)[ \t]*:([^\n]*)", re.I
)
_HEADER_RES: dict[bytes, re.Pattern[bytes]] = {}


def framing(head: bytes) -> tuple[int | None, bool, bool]:
    """(body length as `body_length` gives it, wants close, expects 100-continue) of a head.

    One regex pass finds the headers that matter for framing; the common case (HTTP/1.1,
    at most one Content-Length, nothing else) is answered from it. Anything unusual
    (chunked, Connection, Expect, HTTP/1.0, a repeated or odd Content-Length) goes through
    `parse_head`, so the answer is always the one the full parse gives."""
    first = head.find(b"\n")
    if head.startswith(b"HTTP/1.1 ") or head[first - 9 : first - 1] == b"HTTP/1.1":
        found = _FRAMING_RE.findall(head)
        if not found:
            return None, False, False
        if len(found) == 1 and found[0][0].lower() == H_CONTENT_LENGTH:
            try:
                length = int(found[0][1])
            except ValueError:
                pass
            else:
                if length >= 0:
                    return length, False, False
    start, headers = parse_head(head)
    if start[0][:5].upper() == b"HTTP/":  # a status line
        version = start[0]
    else:
        version = start[2].strip() if len(start) > 2 else b"HTTP/1.0"
    expect = b"100-continue" in headers.get(H_EXPECT, b"").lower()
    return body_length(headers), wants_close(version, headers), expect


def header(head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower case) in a raw head, as `parse_head` would give it
    (stripped; repeated names comma-joined), without parsing the other headers."""
    pattern = _HEADER_RES.get(name)
    if pattern is None:
        pattern = re.compile(rb"\n[ \t]*" + re.escape(name) + rb"[ \t]*:([^\n]*)", re.I)
        _HEADER_RES[name] = pattern
    found = pattern.findall(head)
    if not found:
        return None
    if len(found) == 1:
        return found[0].strip()
    return b", ".join(value.strip() for value in found)


def relay_body(rfile: BinaryIO, send: Callable[[bytes], None], length: int, sink: BodySink) -> None:
    """Copy one body of `length` bytes (-1: chunked, relayed with its framing) unchanged."""
    if length >= 0:
        remaining = length
        while remaining:
            data = rfile.read1(min(remaining, RELAY_CHUNK))  # type: ignore[attr-defined]
            if not data:
                raise ProtocolError("connection closed inside a body")
            remaining -= len(data)
            sink.add(data)
            send(data)
        return
    while True:
        size_line = rfile.readline(MAX_LINE + 1)
        if not size_line or not size_line.endswith(b"\n"):
            raise ProtocolError("connection closed inside a chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            trailer = [size_line]
            while True:  # trailers, then the blank line
                line = rfile.readline(MAX_LINE + 1)
                if not line:
                    raise ProtocolError("connection closed inside chunked trailers")
                trailer.append(line)
                if line in (b"\r\n", b"\n"):
                    break
            send(b"".join(trailer))
            return
        send(size_line)
        remaining = size
        while remaining:
            data = rfile.read1(min(remaining, RELAY_CHUNK))  # type: ignore[attr-defined]
            if not data:
                raise ProtocolError("connection closed inside a chunk")
            remaining -= len(data)
            sink.add(data)
            send(data)
        crlf = rfile.readline(MAX_LINE + 1)
        if crlf not in (b"\r\n", b"\n"):
            raise ProtocolError("chunk not followed by CRLF")
        send(crlf)


def relay_until_close(rfile: BinaryIO, send: Callable[[bytes], None], sink: BodySink) -> None:
    """Copy a close-delimited response body (no length, not chunked) until EOF."""
    while True:
        data = rfile.read1(RELAY_CHUNK)  # type: ignore[attr-defined]
        if not data:
            return
        sink.add(data)
        send(data)


def tune(sock: socket.socket) -> None:
    """TCP_NODELAY: heads and small bodies must not wait for Nagle's algorithm."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def split_address(address: str) -> tuple[str, int]:
    """'host:port' (AWS_LAMBDA_RUNTIME_API) -> (host, port); ValueError when malformed."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"AWS_LAMBDA_RUNTIME_API={address!r}: expected host:port")
    return host.strip("[]"), int(port)


class Upstream:
    """One keep-alive connection to the real Runtime API, (re)opened on demand.

    One per runtime connection: requests on it are strictly sequential, as on the runtime's own
    connection, so concurrent poll loops get concurrent upstream connections.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sock: socket.socket | None = None
        self.reader: Reader | None = None
        self.last_used = 0  # monotonic ns of the end of the last exchange on this connection

    def ensure(self, now_ns: int = 0) -> None:
        """Connect, or reconnect when the idle connection was closed by the server. A
        connection used less than IDLE_CHECK_NS ago is taken as it is (no select() call on
        the hot path: a server closes a keep-alive connection it just answered on only with
        `Connection: close`, which ends this one anyway)."""
        if self.sock is not None:
            if now_ns and now_ns - self.last_used < IDLE_CHECK_NS:
                return
            try:
                readable, _, _ = select.select([self.sock], [], [], 0)
            except (OSError, ValueError):
                readable = [self.sock]
            if not readable:
                return
            self.close()  # EOF (or stray bytes) on an idle keep-alive connection: start over
        sock = socket.create_connection((self.host, self.port))
        tune(sock)
        self.sock = sock
        self.reader = Reader(sock)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None
        self.reader = None


def replace_header_value(head: bytes, name: bytes, value: bytes) -> bytes:
    """`head` with the value of header `name` (lower case) replaced; unchanged when absent.

    Only that one line changes: every other byte of the head (order, case, spacing) is kept."""
    start = 0
    lowered = head.lower()
    while True:
        index = lowered.find(b"\n" + name, start)
        if index < 0:
            return head
        line_start = index + 1
        colon = line_start + len(name)
        rest = lowered[colon : colon + 1]
        if rest == b":" or rest in (b" ", b"\t"):
            break
        start = line_start
    colon = head.index(b":", line_start)
    value_start = colon + 1
    while head[value_start : value_start + 1] in (b" ", b"\t"):
        value_start += 1
    line_end = head.index(b"\n", value_start)
    if head[line_end - 1 : line_end] == b"\r":
        line_end -= 1
    return head[:value_start] + value + head[line_end:]


# --- Lambda-Runtime-Trace-Id (X-Ray trace header) ----------------------------------------------
_random = random.Random(os.urandom(32))  # ids need uniqueness, not secrecy: no syscall per id


def new_span_id() -> str:
    """16 random hex digits (never all zero: an invalid id in both OTel and X-Ray)."""
    return f"{_random.getrandbits(64) or 1:016x}"


def new_xray_root() -> str:
    """A fresh X-Ray trace id (`1-<epoch hex>-<96 random bits>`) for invocations without one."""
    return f"1-{int(time.time()):08x}-{_random.getrandbits(96):024x}"


def parse_trace_header(value: str) -> dict[str, str]:
    """`Root=1-..;Parent=..;Sampled=1` -> {"Root": .., "Parent": .., "Sampled": ..}."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    return fields


def with_parent(value: str, parent: str) -> str:
    """The trace header with `Parent` set to `parent`; every other field kept in its place."""
    parts = [p for p in value.strip().split(";") if p.strip()]
    for index, part in enumerate(parts):
        if part.strip().startswith("Parent="):
            parts[index] = "Parent=" + parent
            return ";".join(parts)
    insert_at = 1 if parts and parts[0].strip().startswith("Root=") else 0
    parts.insert(insert_at, "Parent=" + parent)
    return ";".join(parts)
