"""`lctrace wrap -- CMD...`: start the proxy, run the runtime behind it, exit with its code.

Order matters for the cold start: the proxy's socket is bound and the child spawned first;
the lifecycle, the `log` sink and the watchdog are cheap; exporters that import the
OpenTelemetry SDK load in background threads while the runtime initialises. If anything
before the spawn fails, the runtime is exec'd unwrapped after one warning line - lctrace never
stops a function from running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

USAGE = "usage: lctrace wrap [--] COMMAND [ARGS...]"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _warn(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"lctrace: warning: {message}\n".encode())


def _exec_unwrapped(command: list[str], reason: str | None) -> int:
    if reason:
        _warn(f"{reason}; running {command[0]} unwrapped")
    try:
        os.execvp(command[0], command)
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
    """LifecycleSettings from Lambda's and lctrace's variables (ConfigError on bad values)."""
    from lifecycle_trace import config
    from lifecycle_trace.runtime.lifecycle import LifecycleSettings

    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return LifecycleSettings(
        instance=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        function=environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        version=environ.get("AWS_LAMBDA_FUNCTION_VERSION") or None,
        memory_mb=int(memory) if memory.isdigit() else None,
        initialization_type=environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") or None,
        never_polled_ms=config.get_int(config.NEVER_POLLED_MS, environ),
        deadline_margin_ms=config.get_int(config.DEADLINE_MARGIN_MS, environ),
        stopped_polling_ms=config.get_int(config.STOPPED_POLLING_MS, environ),
        flush_timeout_ms=config.get_int(config.FLUSH_TIMEOUT_MS, environ),
        capture_payload_bytes=config.get_int(config.CAPTURE_PAYLOADS, environ),
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
    from lifecycle_trace import config

    if config.get_bool(config.DISABLE, environ):
        return _exec_unwrapped(command, None)
    try:
        from lifecycle_trace.runtime.api import split_address
        from lifecycle_trace.runtime.lifecycle import Lifecycle
        from lifecycle_trace.runtime.proxy import RuntimeApiProxy
        from lifecycle_trace.runtime.telemetry import LogSink, Telemetry

        upstream = split_address(environ.get("AWS_LAMBDA_RUNTIME_API", ""))
        settings = settings_from_environ(environ)
        telemetry = Telemetry()
        lifecycle = Lifecycle(settings, telemetry, start_ns=start_ns)
        proxy = RuntimeApiProxy(
            upstream, lifecycle, port=config.get_int(config.PROXY_PORT, environ)
        )
    except Exception as exc:  # noqa: BLE001 - any failure here: run the function unwrapped
        return _exec_unwrapped(command, f"proxy not started ({type(exc).__name__}: {exc})")

    environ["AWS_LAMBDA_RUNTIME_API"] = proxy.address
    _restore_child_pythonpath(environ)
    proxy.start()
    try:
        pid = os.posix_spawnp(command[0], command, environ)
    except OSError as exc:
        proxy.close()
        _warn(f"cannot run {command[0]}: {exc}")
        return 127
    forward = _install_signal_forwarding(pid)

    # Everything below runs while the runtime initialises.
    try:
        from lifecycle_trace.runtime.telemetry import build_telemetry

        built = build_telemetry(environ)
        telemetry.sinks.extend(built.sinks)
    except Exception as exc:  # noqa: BLE001
        _warn(f"telemetry disabled ({type(exc).__name__}: {exc}); using the log exporter")
        telemetry.sinks.append(LogSink())
    lifecycle.start_watchdog()

    status = _wait(pid)
    lifecycle.stop()
    try:
        lifecycle.on_child_exit(exit_status(status))
        telemetry.shutdown(max(settings.flush_timeout_ms * 4, 500))
    except Exception:  # noqa: BLE001
        pass
    proxy.close()
    del forward
    return _propagate(status)


def _restore_child_pythonpath(environ: dict[str, str]) -> None:
    """The layer's exec wrapper put lctrace on PYTHONPATH; the runtime gets the original."""
    if "LCTRACE_CHILD_PYTHONPATH" not in environ:
        return
    original = environ.pop("LCTRACE_CHILD_PYTHONPATH")
    if original:
        environ["PYTHONPATH"] = original
    else:
        environ.pop("PYTHONPATH", None)


def _install_signal_forwarding(pid: int) -> object:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    for signum in FORWARDED_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
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
        try:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        except OSError:
            pass
        return 128 + signum
    return os.WEXITSTATUS(status)
