"""`lctrace wrap` as a process: exit codes, signals, the unwrapped fallbacks, the layer's exec
wrapper script, and what the wrapper's import path must not load."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WRAP = [sys.executable, "-m", "lifecycle_trace", "wrap", "--"]


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LCTRACE_", "OTEL_"))}
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    env.update(extra)
    return env


def api_listener() -> tuple[socket.socket, str]:
    sock = socket.create_server(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def test_exit_code_and_proxy_address_reach_the_child() -> None:
    sock, address = api_listener()
    with sock:
        proc = subprocess.run(
            [*WRAP, "sh", "-c", 'echo "$AWS_LAMBDA_RUNTIME_API"; exit 5'],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 5
    child_api = proc.stdout.strip()
    assert child_api.startswith("127.0.0.1:") and child_api != address
    # the child exited before polling: exactly one line, the init verdict of the log exporter
    (line,) = proc.stderr.splitlines()
    assert '"lctrace":"init"' in line and '"outcome":"crash"' in line


def test_no_runtime_api_runs_the_child_unwrapped_with_one_warning() -> None:
    proc = subprocess.run(
        [*WRAP, "sh", "-c", 'echo "api=${AWS_LAMBDA_RUNTIME_API-unset}"; exit 3'],
        env=env_with(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3
    assert proc.stdout == "api=unset\n"
    assert proc.stderr.count("\n") == 1 and "unwrapped" in proc.stderr
    assert "AWS_LAMBDA_RUNTIME_API" in proc.stderr


def test_disable_and_bad_port_fall_back_to_unwrapped() -> None:
    sock, address = api_listener()
    with sock:
        disabled = subprocess.run(
            [*WRAP, "sh", "-c", 'echo "$AWS_LAMBDA_RUNTIME_API"'],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, LCTRACE_DISABLE="1"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        bad_port = subprocess.run(
            [*WRAP, "sh", "-c", 'echo "$AWS_LAMBDA_RUNTIME_API"'],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, LCTRACE_PROXY_PORT="99999"),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert disabled.stdout.strip() == address and disabled.stderr == ""
    assert bad_port.stdout.strip() == address
    assert bad_port.stderr.count("\n") == 1 and "proxy not started" in bad_port.stderr


def test_bad_threshold_is_named_and_defaulted() -> None:
    sock, address = api_listener()
    with sock:
        proc = subprocess.run(
            [*WRAP, "true"],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, LCTRACE_NEVER_POLLED_MS="soon"),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 0
    assert "LCTRACE_NEVER_POLLED_MS='soon'" in proc.stderr and "default 8000" in proc.stderr


def test_usage_without_command() -> None:
    proc = subprocess.run([*WRAP], env=env_with(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage: lctrace wrap" in proc.stderr


def test_sigterm_is_forwarded_and_the_childs_code_returned() -> None:
    sock, address = api_listener()
    script = 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'
    with sock:
        proc = subprocess.Popen(
            [*WRAP, "sh", "-c", script],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 42


def test_child_killed_by_a_signal_kills_the_wrapper_the_same_way() -> None:
    sock, address = api_listener()
    with sock:
        proc = subprocess.run(
            [*WRAP, "sh", "-c", "kill -KILL $$"],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address),
            timeout=30,
        )
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("layout", ["layer", "installed"])
def test_layer_exec_wrapper_script(tmp_path: Path, layout: str) -> None:
    """layer: lctrace in $LCTRACE_HOME/python, started as `python -S .../wrapper.py`;
    installed: no layer directory, `python -m lifecycle_trace`."""
    import sysconfig

    env = {"LCTRACE_PYTHON": sys.executable, "LCTRACE_HOME": str(tmp_path)}
    if layout == "layer":
        (tmp_path / "python").mkdir()
        (tmp_path / "python" / "lifecycle_trace").symlink_to(REPO / "lifecycle_trace")
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]  # the function's own path
    sock, address = api_listener()
    with sock:
        proc = subprocess.run(
            [
                str(REPO / "collectors" / "layer" / "lctrace-wrapper"),
                "sh",
                "-c",
                'echo "$AWS_LAMBDA_RUNTIME_API|${PYTHONPATH-unset}|$0"',
                "arg0",
            ],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, **env),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 0, proc.stderr
    api_seen, pythonpath, arg0 = proc.stdout.strip().split("|")
    assert api_seen.startswith("127.0.0.1:") and api_seen != address
    # the runtime gets its own PYTHONPATH back, never the layer's
    assert pythonpath == env.get("PYTHONPATH", "unset")
    assert arg0 == "arg0"
    assert "unwrapped" not in proc.stderr


def test_wrapper_import_path_stays_light() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import lifecycle_trace.cli\n"
        "from lifecycle_trace.runtime import api, proxy, lifecycle, telemetry, wrapper, events\n"
        "heavy = {'pandas', 'boto3', 'botocore', 'typer', 'rich', 'numpy', 'grpc',\n"
        "         'opentelemetry.sdk.trace', 'aws_xray_sdk', 'google.protobuf'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_wrapped_runtime_exits_when_it_finishes_quickly() -> None:
    sock, address = api_listener()
    start = time.monotonic()
    with sock:
        proc = subprocess.run(
            [*WRAP, "true"],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, LCTRACE_EXPORTER="jsonl"),
            capture_output=True,
            timeout=30,
        )
    assert proc.returncode == 0
    assert time.monotonic() - start < 25  # the shutdown wait is bounded, not the exporter's 10 s


def test_documented_custom_runtime_bootstrap(tmp_path: Path) -> None:
    """examples/bootstraps/custom-runtime-bootstrap runs bootstrap-real behind the proxy."""
    import shutil

    shutil.copy(
        REPO / "examples" / "bootstraps" / "custom-runtime-bootstrap", tmp_path / "bootstrap"
    )
    real = tmp_path / "bootstrap-real"
    real.write_text('#!/bin/sh\necho "real:$AWS_LAMBDA_RUNTIME_API:$1"\n')
    real.chmod(0o755)
    sock, address = api_listener()
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    with sock:
        proc = subprocess.run(
            [str(tmp_path / "bootstrap"), "arg"],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, PATH=path, LAMBDA_TASK_ROOT=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("real:127.0.0.1:") and address not in proc.stdout
    assert proc.stdout.strip().endswith(":arg")


@pytest.mark.parametrize("damage", ["missing", "broken"])
def test_broken_installation_runs_the_runtime_unwrapped(tmp_path: Path, damage: str) -> None:
    """A partial or broken layer: the proxy module is missing (noticed before the spawn) or
    fails to import (noticed after it: the runtime is killed and started again, bare)."""
    import shutil

    package = tmp_path / "lifecycle_trace"
    shutil.copytree(REPO / "lifecycle_trace", package, ignore=shutil.ignore_patterns("__pycache__"))
    proxy_module = package / "runtime" / "proxy.py"
    if damage == "missing":
        proxy_module.unlink()
    else:
        proxy_module.write_text('raise ImportError("damaged on purpose")\n')
    sock, address = api_listener()
    with sock:
        proc = subprocess.run(
            [
                sys.executable,
                "-S",
                str(package / "runtime" / "wrapper.py"),
                "--",
                "sh",
                "-c",
                'echo "api=$AWS_LAMBDA_RUNTIME_API"; exit 6',
            ],
            env=env_with(AWS_LAMBDA_RUNTIME_API=address, PYTHONPATH=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 6
    assert proc.stdout.splitlines()[-1] == f"api={address}"  # the last run talked to the API
    expected = {
        "missing": "proxy not started (FileNotFoundError",
        "broken": "proxy failed (ImportError: damaged on purpose",
    }[damage]
    assert expected in proc.stderr and "unwrapped" in proc.stderr
