"""Runtime API framing helpers: request classification, heads, body framing, header rewrite."""

from __future__ import annotations

import io

import pytest

from lifecycle_trace.runtime import api


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        (b"GET", b"/2018-06-01/runtime/invocation/next", (api.KIND_NEXT, None)),
        (b"POST", b"/2018-06-01/runtime/invocation/abc-1/response", (api.KIND_RESPONSE, "abc-1")),
        (b"POST", b"/2018-06-01/runtime/invocation/abc-1/error", (api.KIND_ERROR, "abc-1")),
        (b"POST", b"/2018-06-01/runtime/init/error", (api.KIND_INIT_ERROR, None)),
        (b"GET", b"/2018-06-01/ping", (api.KIND_OTHER, None)),
        (b"PUT", b"/2022-07-01/telemetry", (api.KIND_OTHER, None)),
        (b"POST", b"/2018-06-01/runtime/invocation/next", (api.KIND_OTHER, None)),
        (b"GET", b"/2018-06-01/runtime/invocation/next?x=1", (api.KIND_NEXT, None)),
    ],
)
def test_classify(method: bytes, target: bytes, expected: tuple) -> None:
    assert api.classify(method, target) == expected


def test_read_and_parse_head() -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\n\r\nabc"
    rfile = io.BufferedReader(io.BytesIO(raw))  # type: ignore[arg-type]
    head = api.read_head(rfile)
    assert head == raw[:-3]
    start, headers = api.parse_head(head)
    assert start == [b"HTTP/1.1", b"200", b"OK"]
    assert headers[b"x-a"] == b"1, 2"
    assert api.body_length(headers) == 3
    assert rfile.read() == b"abc"
    assert api.read_head(io.BufferedReader(io.BytesIO(b""))) == b""  # type: ignore[arg-type]
    with pytest.raises(api.ProtocolError):
        api.read_head(io.BufferedReader(io.BytesIO(b"GET / HTTP/1.1\r\nHost")))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({b"transfer-encoding": b"chunked", b"content-length": b"5"}, -1),
        ({b"transfer-encoding": b"gzip, Chunked"}, -1),
        ({b"content-length": b"0"}, 0),
        ({}, None),
    ],
)
def test_body_length(headers: dict, expected: int | None) -> None:
    assert api.body_length(headers) == expected


def test_body_length_rejects_garbage() -> None:
    with pytest.raises(api.ProtocolError):
        api.body_length({b"content-length": b"ten"})


def test_relay_chunked_body_is_unchanged_and_counted() -> None:
    wire = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\nNEXT"
    rfile = io.BufferedReader(io.BytesIO(wire))  # type: ignore[arg-type]
    out: list[bytes] = []
    sink = api.BodySink(limit=4)
    api.relay_body(rfile, out.append, -1, sink)
    assert b"".join(out) == wire[:-4]
    assert sink.size == 5 and sink.captured() == b"abcd"
    assert rfile.read() == b"NEXT"


def test_relay_length_body_detects_truncation() -> None:
    rfile = io.BufferedReader(io.BytesIO(b"abc"))  # type: ignore[arg-type]
    with pytest.raises(api.ProtocolError):
        api.relay_body(rfile, lambda data: None, 10, api.BodySink())


def test_replace_header_value_touches_only_that_value() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nX-Lambda-Runtime-Trace-Id-Not: keep\r\n"
        b"lambda-runtime-TRACE-id:  Root=1;Parent=aa\r\nB: c\r\n\r\n"
    )
    out = api.replace_header_value(head, api.H_TRACE_ID, b"Root=1;Parent=bb")
    assert out == head.replace(b"Root=1;Parent=aa", b"Root=1;Parent=bb")
    assert api.replace_header_value(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", api.H_TRACE_ID, b"x") == (
        b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
    )


def test_wants_close_and_split_address() -> None:
    assert api.wants_close(b"HTTP/1.1", {b"connection": b"Close"})
    assert api.wants_close(b"HTTP/1.0", {})
    assert not api.wants_close(b"HTTP/1.0", {b"connection": b"keep-alive"})
    assert not api.wants_close(b"HTTP/1.1", {})
    assert api.split_address("127.0.0.1:9001") == ("127.0.0.1", 9001)
    assert api.split_address("[::1]:9001") == ("::1", 9001)
    with pytest.raises(ValueError, match="AWS_LAMBDA_RUNTIME_API"):
        api.split_address("localhost")


def _full_framing(head: bytes) -> tuple[int | None, bool, bool]:
    start, headers = api.parse_head(head)
    if start[0].startswith(b"HTTP/"):
        version = start[0]
    else:
        version = start[2].strip() if len(start) > 2 else b"HTTP/1.0"
    expect = b"100-continue" in headers.get(api.H_EXPECT, b"").lower()
    return api.body_length(headers), api.wants_close(version, headers), expect


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Length: 9\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\ncontent-length:16\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 7\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /next HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET /next\r\n\r\n",
        b"POST /r HTTP/1.1\nHost: x\nContent-Length: 3\n\n",
        b"POST /r HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        b"POST /r HTTP/1.1\r\nX-Content-Length: 4\r\n\r\n",
    ],
)
def test_framing_fast_path_agrees_with_the_full_parse(head: bytes) -> None:
    assert api.framing(head) == _full_framing(head)


def test_header_lookup_agrees_with_the_full_parse() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id:  r-1 \r\nX-Dup: 1\r\nx-dup: 2\r\n"
        b"X-Lambda-Runtime-Aws-Request-Id: no\r\n\r\n"
    )
    headers = api.parse_head(head)[1]
    for name in (api.H_REQUEST_ID, b"x-dup", api.H_TRACE_ID):
        assert api.header(head, name) == headers.get(name)


def test_reader_heads_bodies_and_lines() -> None:
    import socket

    a, b = socket.socketpair()
    with a, b:
        reader = api.Reader(b, size=32)  # small: heads and bodies span several receives
        a.sendall(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a-rather-long-host-name\r\n\r\nbody!")
        a.sendall(b"POST /y HTTP/1.1\nA: b\n\n3\r\nabc\r\n0\r\n\r\n")
        assert reader.read_head() == b"GET /x HTTP/1.1\r\nHost: a-rather-long-host-name\r\n\r\n"
        assert reader.read_exact(5) == b"body!"
        assert reader.read_head() == b"POST /y HTTP/1.1\nA: b\n\n"
        assert reader.readline() == b"3\r\n"
        assert reader.read1(10) == b"abc\r\n0\r\n\r\n"
        a.sendall(b"x" * 100)
        assert reader.read_exact(100) == b"x" * 100
        a.sendall(b"HTTP/1.1 200")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(api.ProtocolError):
            reader.read_head()
        assert reader.read1() == b"HTTP/1.1 200"  # still there, then EOF
        assert reader.read1() == b""
