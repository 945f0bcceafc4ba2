"""`lctrace analyze --engine dask [--scheduler tcp://...]` as a user runs it: the real CLI in
a subprocess, a `dask scheduler` and a `dask worker` started as their own processes on
127.0.0.1, S3 through a moto server; the output equals `--engine local`'s, byte for byte."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.moto_server import free_port, moto_endpoint  # noqa: F401 - session fixture

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples/lambda-logs.json")
sys.path.insert(0, str(ROOT / "benchmarks"))

from dask_throughput import write_generated_export  # noqa: E402


def lctrace(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lifecycle_trace", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def scheduler(moto_endpoint, tmp_path_factory) -> Iterator[str]:  # noqa: F811
    """`dask scheduler` + one `dask worker` process, with the fake AWS env moto needs."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = moto_endpoint.env()
    logs = tmp_path_factory.mktemp("dask")
    procs = [
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                          "127.0.0.1", "--port", str(port), "--no-dashboard"], env=env,
                         stdout=subprocess.DEVNULL, stderr=(logs / "scheduler.log").open("w")),
    ]
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"], env=env,
            stdout=subprocess.DEVNULL, stderr=(logs / "worker.log").open("w")))
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(1, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield address
    finally:
        try:
            with Client(address, timeout=5) as client:
                client.shutdown()  # scheduler and worker close cleanly, and fast
        except OSError:
            pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


ARGS = ["analyze", EXAMPLE, "--format", "json", "--invocations", "--region", "eu-west-1"]


@pytest.fixture(scope="module")
def local_report() -> str:
    result = lctrace(*ARGS)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scheduler_address_gives_the_local_report(scheduler: str, local_report: str) -> None:
    dask = lctrace(*ARGS, "--engine", "dask", "--scheduler", scheduler)
    assert dask.returncode == 0, dask.stderr
    assert dask.stdout == local_report and '"never_polled"' in local_report


def test_s3_glob_through_the_scheduler(scheduler: str, moto_endpoint, tmp_path) -> None:  # noqa: F811
    write_generated_export(tmp_path, 200, 4, files_per_stream=2)
    s3 = moto_endpoint.client("s3")
    s3.create_bucket(Bucket="cli-logs")
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket="cli-logs", Key=f"export/{path.relative_to(tmp_path)}",
                          Body=path.read_bytes())
    env = {**moto_endpoint.env(), "AWS_ENDPOINT_URL": moto_endpoint.url}
    out = lctrace("analyze", "s3://cli-logs/export/**", "--engine", "dask", "--scheduler",
                  scheduler, "--format", "csv", env=env)
    local = lctrace("analyze", str(tmp_path), "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout == local.stdout and out.stdout.count("\n") > 3


def test_local_cluster_without_a_scheduler(local_report: str) -> None:
    dask = lctrace(*ARGS, "--engine", "dask")
    assert dask.returncode == 0, dask.stderr
    assert dask.stdout == local_report


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark"], "--engine 'spark': expected one of local, dask"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --engine dask"),
    (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"],
     "--scheduler tcp://127.0.0.1:1: cannot connect"),
])
def test_bad_engine_options_are_one_line(args, message, capsys) -> None:
    import dask

    from lifecycle_trace.cli import main

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(SystemExit) as exited:
        main(["analyze", EXAMPLE, *args])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith("lctrace: ") and message in err


def test_missing_dask_is_one_line() -> None:
    """Without the `dask` extra: one line saying what to install, exit 2."""
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from lifecycle_trace.cli import main\n"
            f"main(['analyze', {EXAMPLE!r}, '--engine', 'dask'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == ("lctrace: the dask engine needs dask.distributed: "
                             "pip install 'lifecycle-trace[dask]'\n")
