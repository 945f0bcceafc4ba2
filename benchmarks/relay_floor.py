"""The cheapest Runtime-API relay Python can do: the floor for `lctrace wrap`'s added latency.

    python -S benchmarks/relay_floor.py [--mode pump|poll] -- COMMAND [ARGS...]

It does what the wrapper's proxy does for the bytes and nothing else: bind 127.0.0.1, point
the child's `AWS_LAMBDA_RUNTIME_API` at it, and copy bytes between each runtime connection and
its own upstream connection to the real Runtime API - no HTTP parsing, no observer, no spans.
`wrapper_overhead.py --variants bare,floor,...` runs it in place of the wrapper, so the
difference between `floor` and a real variant is what lctrace's own work costs, and `floor`
itself is what Python's socket round trips cost on this machine.

Modes (`LCTRACE_FLOOR_MODE` or `--mode`):
- `pump` (default): two threads per connection, one per direction, each blocking in
  `recv_into` a reused buffer and `sendall`-ing what came;
- `poll`: one thread per connection, `poll()` on both sockets, forward whatever is readable.
"""

import contextlib
import os
import select
import socket
import sys
import threading

CHUNK = 65536


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy src -> dst until EOF or an error, then shut both directions down."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    recv_into, sendall = src.recv_into, dst.sendall
    try:
        while True:
            n = recv_into(buf)
            if not n:
                break
            sendall(view[:n])
    except OSError:
        pass
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _serve_pump(client: socket.socket, upstream: tuple[str, int]) -> None:
    up = socket.create_connection(upstream)
    _nodelay(up)
    threading.Thread(target=_pump, args=(up, client), daemon=True).start()
    _pump(client, up)


def _serve_poll(client: socket.socket, upstream: tuple[str, int]) -> None:
    up = socket.create_connection(upstream)
    _nodelay(up)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    poller = select.poll()
    poller.register(client, select.POLLIN)
    poller.register(up, select.POLLIN)
    peer = {client.fileno(): (client, up), up.fileno(): (up, client)}
    try:
        while True:
            for fd, _ in poller.poll():
                src, dst = peer[fd]
                n = src.recv_into(buf)
                if not n:
                    return
                dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        client.close()
        up.close()


def main(argv: list[str]) -> int:
    """Relay for COMMAND; return its exit code."""
    mode = os.environ.get("LCTRACE_FLOOR_MODE", "pump")
    if argv[:1] == ["--mode"]:
        mode, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    upstream = (host, int(port))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{listener.getsockname()[1]}")
    pid = os.posix_spawnp(argv[0], argv, env)
    serve = _serve_poll if mode == "poll" else _serve_pump

    def accept_loop() -> None:
        while True:
            client, _ = listener.accept()
            _nodelay(client)
            threading.Thread(target=serve, args=(client, upstream), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) & 0xFF


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
