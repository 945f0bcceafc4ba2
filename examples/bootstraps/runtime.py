#!/usr/bin/env python3
"""A small custom runtime (stdlib only) that misbehaves on request - the test subject of the
wrapper's end-to-end scenarios and benchmarks.

Init behaviour comes from `EXAMPLE_INIT` (env): `ok` (default), `never_poll` (sleep forever
before the first /next), `init_error` (POST /runtime/init/error, exit 1), `exit` (exit 3).
Each event is JSON choosing what the handler does (default: echo the event back):
  {"action": "echo"}                      respond with the event bytes
  {"action": "bytes", "n": N}             respond with N bytes of b"x"
  {"action": "binary"}                    respond with bytes 0..255 repeated (1 KiB)
  {"action": "chunked", "n": N}           respond with N bytes, Transfer-Encoding: chunked
  {"action": "error"}                     POST /error (Function.MyError)
  {"action": "hang"}                      never respond
  {"action": "linger", "s": S}            respond, then sleep S seconds before the next /next
  {"action": "exit", "code": C}           exit(C) without responding
  {"action": "trace"}                     respond with the Lambda-Runtime-Trace-Id it received
  {"action": "env"}                       respond with AWS_LAMBDA_RUNTIME_API and _X_AMZN_TRACE_ID
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


def connect() -> http.client.HTTPConnection:
    host, port = API.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port))


def post(conn: http.client.HTTPConnection, path: str, body, headers=None) -> int:  # type: ignore[no-untyped-def]
    conn.request(
        "POST",
        BASE + path,
        body=body,
        headers=headers or {},
        encode_chunked=not isinstance(body, (bytes, bytearray)),
    )
    resp = conn.getresponse()
    resp.read()
    return resp.status


def handle(conn: http.client.HTTPConnection, request_id: str, event: bytes, headers) -> None:  # type: ignore[no-untyped-def]
    try:
        spec = json.loads(event) if event.strip() else {}
    except ValueError:
        spec = {}
    action = spec.get("action", "echo") if isinstance(spec, dict) else "echo"
    path = f"/invocation/{request_id}/response"
    if action == "bytes":
        post(conn, path, b"x" * int(spec["n"]))
    elif action == "binary":
        post(conn, path, bytes(range(256)) * 4)
    elif action == "chunked":
        n = int(spec["n"])
        post(conn, path, iter([b"y" * (n // 2), b"y" * (n - n // 2)]))
    elif action == "error":
        body = json.dumps({"errorMessage": "boom", "errorType": "MyError"}).encode()
        post(
            conn,
            f"/invocation/{request_id}/error",
            body,
            {"Lambda-Runtime-Function-Error-Type": "Function.MyError"},
        )
    elif action == "hang":
        time.sleep(3600)
    elif action == "linger":
        post(conn, path, b'{"lingering":true}')
        time.sleep(float(spec["s"]))
    elif action == "exit":
        sys.stdout.flush()
        os._exit(int(spec.get("code", 7)))
    elif action == "trace":
        post(conn, path, (headers.get("Lambda-Runtime-Trace-Id") or "").encode())
    elif action == "env":
        body = {
            "api": os.environ.get("AWS_LAMBDA_RUNTIME_API"),
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        }
        post(conn, path, json.dumps(body).encode())
    else:
        post(conn, path, event)


def main() -> None:
    mode = os.environ.get("EXAMPLE_INIT", "ok")
    conn = connect()
    if mode == "never_poll":
        time.sleep(3600)
    elif mode == "init_error":
        body = json.dumps({"errorMessage": "boom at init", "errorType": "MyInitError"}).encode()
        post(
            conn, "/init/error", body, {"Lambda-Runtime-Function-Error-Type": "Runtime.MyInitError"}
        )
        sys.exit(1)
    elif mode == "exit":
        sys.exit(3)
    while True:
        conn.request("GET", BASE + "/invocation/next")
        resp = conn.getresponse()
        event = resp.read()
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        trace = resp.getheader("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        handle(conn, request_id, event, resp.headers)


if __name__ == "__main__":
    main()
