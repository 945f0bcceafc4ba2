"""`lctrace wrap -- CMD...`: start the proxy, run the runtime behind it, exit with its code.

Order matters for the cold start. Before the runtime is spawned this module touches nothing but
C modules (`_socket`, `_signal`, `posix`): a raw listening socket is bound and the child
spawned. The proxy then forwards at once (the early observer remembers what it saw); the
lifecycle, the sinks and the watchdog are imported once the runtime's init is over, and
exporters that import the OpenTelemetry SDK load in background threads after that. The layer's
exec wrapper runs this file directly (`python -S .../runtime/wrapper.py -- CMD`), so not even
the `lifecycle_trace` package is imported before the spawn. If anything before the spawn
fails, the runtime is exec'd unwrapped after one warning line - lctrace never stops a function
from running.
"""

# no `from __future__ import annotations`: Python 3.11 evaluates these hints natively, and the
# import would be one more module looked up on sys.path before the spawn
import _signal as signal  # the C module: `signal` would import enum before the spawn
import os
import sys
import time

USAGE = "usage: lctrace wrap [--] COMMAND [ARGS...]"
# read before `config` is imported (it costs milliseconds of cold start); a test keeps these
# equal to config.DISABLE.name and config.PROXY_PORT.name
ENV_DISABLE = "LCTRACE_DISABLE"
ENV_PROXY_PORT = "LCTRACE_PROXY_PORT"
ENV_NEVER_POLLED_MS = "LCTRACE_NEVER_POLLED_MS"
DEFAULT_NEVER_POLLED_MS = 8000
INIT_POLL_S = 0.02  # how often the main thread looks for the end of init while waiting
TRUTHY = ("1", "true", "yes", "on")
# while exporters import in the background, a proxy thread waiting for the GIL gets it within
# this (default 5 ms, which would add up over the few GIL hand-offs of one relayed request)
SWITCH_INTERVAL_S = 0.0005
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


class _Suppress:
    """contextlib.suppress without importing contextlib on the cold-start path."""

    def __init__(self, *exceptions: type[BaseException]) -> None:
        self.exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is not None and issubclass(exc_type, self.exceptions)


def _warn(message: str) -> None:
    with _Suppress(OSError):
        os.write(2, f"lctrace: warning: {message}\n".encode())


def _exec_unwrapped(command: list[str], reason: str | None) -> int:
    if reason:
        _warn(f"{reason}; running {command[0]} unwrapped")
    environ = dict(os.environ)
    _restore_child_pythonpath(environ)  # unwrapped or not, the runtime gets its own path
    try:
        os.execvpe(command[0], command, environ)
    except OSError as exc:
        _warn(f"cannot exec {command[0]}: {exc}")
        return 127
    return 0  # pragma: no cover - execvp does not return


def parse_args(argv: list[str]) -> list[str] | None:
    """The command after an optional `--`; None when there is none."""
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    return args or None


def settings_from_environ(environ: dict[str, str]):  # type: ignore[no-untyped-def]
    """LifecycleSettings from Lambda's and lctrace's variables; a bad value is reported in one
    warning line naming the variable, and its default is used."""
    from lifecycle_trace import config
    from lifecycle_trace.errors import ConfigError
    from lifecycle_trace.runtime.lifecycle import LifecycleSettings

    def number(setting: config.Setting) -> int:
        try:
            return config.get_int(setting, environ)
        except ConfigError as exc:
            _warn(f"{exc}; using the default {setting.default}")
            return int(str(setting.default))

    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return LifecycleSettings(
        instance=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        function=environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        version=environ.get("AWS_LAMBDA_FUNCTION_VERSION") or None,
        memory_mb=int(memory) if memory.isdigit() else None,
        initialization_type=environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") or None,
        never_polled_ms=number(config.NEVER_POLLED_MS),
        deadline_margin_ms=number(config.DEADLINE_MARGIN_MS),
        stopped_polling_ms=number(config.STOPPED_POLLING_MS),
        flush_timeout_ms=number(config.FLUSH_TIMEOUT_MS),
        capture_payload_bytes=number(config.CAPTURE_PAYLOADS),
    )


def exit_status(status: int) -> int:
    """waitpid status -> the exit code a shell would report (128 + signal when killed)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: list[str]) -> int:
    """Run COMMAND behind the Runtime-API proxy; return its exit code."""
    start_ns = time.monotonic_ns()
    command = parse_args(argv)
    if command is None:
        os.write(2, (USAGE + "\n").encode())
        return 2
    environ = dict(os.environ)
    if environ.get(ENV_DISABLE, "").strip().lower() in TRUTHY:
        return _exec_unwrapped(command, None)
    # Cold-start path: nothing but a raw listening socket before the runtime is spawned.
    try:
        _check_installation()
        upstream = _split_upstream(environ.get("AWS_LAMBDA_RUNTIME_API", ""))
        raw_listener = _bind_listener(int(environ.get(ENV_PROXY_PORT, "").strip() or "0"))
    except Exception as exc:  # noqa: BLE001 - any failure here: run the function unwrapped
        return _exec_unwrapped(command, f"proxy not started ({type(exc).__name__}: {exc})")
    environ["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{raw_listener.getsockname()[1]}"
    _restore_child_pythonpath(environ)
    # signals that arrive before our handlers exist wait, blocked, until they do
    original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED_SIGNALS, signal.SIGCHLD))
    try:
        pid = os.posix_spawnp(command[0], command, environ, setsigmask=original_mask)
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, original_mask)
        raw_listener.close()
        _warn(f"cannot run {command[0]}: {exc}")
        return 127
    import threading

    init_over = threading.Event()  # set by the early observer: first event or /init/error
    child_gone: list[bool] = []
    _install_signal_forwarding(pid)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: child_gone.append(True))
    signal.pthread_sigmask(signal.SIG_SETMASK, original_mask)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        from lifecycle_trace.runtime.early import BufferingObserver
        from lifecycle_trace.runtime.proxy import RuntimeApiProxy

        early = BufferingObserver(init_over)
        proxy = RuntimeApiProxy(upstream, early, listener=_as_socket(raw_listener))
        proxy.start()  # forwarding from here on; the lifecycle catches up from `early`
    except Exception as exc:  # noqa: BLE001 - a broken install: start the runtime again, bare
        # Nobody answered its Runtime API calls yet, so no event was lost: kill and re-exec.
        with _Suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        return _exec_unwrapped(command, f"proxy failed ({type(exc).__name__}: {exc})")

    # The rest of lctrace is imported once the runtime's init is over, so it does not compete
    # with it for CPU - or after half the never_polled threshold, so the watchdog is in time.
    deadline = time.monotonic() + _never_polled_ms(environ) / 2000
    while not child_gone and time.monotonic() < deadline and not init_over.wait(INIT_POLL_S):
        pass
    tracing = _start_tracing(environ, start_ns, early, proxy)
    status = _wait(pid)
    if tracing is not None:
        lifecycle, telemetry, flush_timeout_ms = tracing
        lifecycle.stop()
        try:
            lifecycle.on_child_exit(exit_status(status))
            telemetry.shutdown(max(flush_timeout_ms * 4, 500))
        except Exception:  # noqa: BLE001
            pass
    proxy.close()
    return _propagate(status)


def _start_tracing(environ: dict[str, str], start_ns: int, early, proxy):  # type: ignore[no-untyped-def]
    """Build the lifecycle and its sinks, replay what the early observer saw, hand the proxy
    over. (lifecycle, telemetry, flush timeout), or None - then the proxy only forwards."""
    from lifecycle_trace.runtime.proxy import NullObserver

    try:
        from lifecycle_trace.runtime.lifecycle import Lifecycle
        from lifecycle_trace.runtime.telemetry import Telemetry, build_telemetry

        settings = settings_from_environ(environ)
        telemetry = Telemetry()
        lifecycle = Lifecycle(settings, telemetry, start_ns=start_ns)
        gate_s = max(1.0, settings.never_polled_ms / 2000)  # loaded before never_polled fires
        built = build_telemetry(environ, load_gate=lifecycle.init_over, load_gate_timeout_s=gate_s)
        telemetry.sinks.extend(built.sinks)
        early.attach(lifecycle)
        proxy.observer = lifecycle
        lifecycle.start_watchdog()
    except Exception as exc:  # noqa: BLE001 - tracing off, forwarding on
        proxy.observer = NullObserver()
        _warn(f"tracing disabled ({type(exc).__name__}: {exc}); forwarding only")
        return None
    import gc

    gc.freeze()  # long-lived startup objects: no GC pass rescans them during invocations
    return lifecycle, telemetry, settings.flush_timeout_ms


_PROXY_MODULES = ("api.py", "proxy.py", "early.py")


def _check_installation() -> None:
    """The modules the proxy needs right after the spawn are there (a partial layer must
    mean an unwrapped runtime, not a runtime talking to a proxy that never comes up)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _PROXY_MODULES:
        if not os.path.exists(os.path.join(here, name)):
            raise FileNotFoundError(f"{os.path.join(here, name)} is missing")


def _never_polled_ms(environ: dict[str, str]) -> int:
    """LCTRACE_NEVER_POLLED_MS without importing config (a bad value is reported later)."""
    raw = environ.get(ENV_NEVER_POLLED_MS, "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_NEVER_POLLED_MS


def _split_upstream(address: str) -> tuple[str, int]:
    """AWS_LAMBDA_RUNTIME_API 'host:port' -> (host, port) (api.split_address without its
    imports, which would delay the spawn)."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"AWS_LAMBDA_RUNTIME_API={address!r}: expected host:port")
    return host.strip("[]"), int(port)


def _bind_listener(port: int):  # type: ignore[no-untyped-def]
    """A listening TCP socket on 127.0.0.1 from the C module alone (`socket` costs ms)."""
    import _socket

    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    return listener


def _as_socket(raw):  # type: ignore[no-untyped-def]
    import socket

    return socket.socket(socket.AF_INET, socket.SOCK_STREAM, fileno=raw.detach())


def _restore_child_pythonpath(environ: dict[str, str]) -> None:
    """The layer's exec wrapper put lctrace on PYTHONPATH; the runtime gets the original."""
    if "LCTRACE_CHILD_PYTHONPATH" not in environ:
        return
    original = environ.pop("LCTRACE_CHILD_PYTHONPATH")
    if original:
        environ["PYTHONPATH"] = original
    else:
        environ.pop("PYTHONPATH", None)


def _install_signal_forwarding(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        with _Suppress(OSError):
            os.kill(pid, signum)

    for signum in FORWARDED_SIGNALS:
        with _Suppress(OSError, ValueError):
            signal.signal(signum, forward)
    return forward


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue


def _propagate(status: int) -> int:
    """Exit like the child: same code, or die of the same signal (so Lambda/RIE see it)."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        sys.stdout.flush()
        with _Suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_DFL)  # SIGKILL/SIGSTOP cannot be (re)set
        with _Suppress(OSError):
            os.kill(os.getpid(), signum)
        return 128 + signum
    return os.WEXITSTATUS(status)


if __name__ == "__main__":  # python -S .../lifecycle_trace/runtime/wrapper.py -- CMD...
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # runtime/ itself must not shadow top-level modules (`events`, `api`)
    sys.exit(main(sys.argv[1:]))
