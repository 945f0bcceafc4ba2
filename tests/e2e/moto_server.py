"""A reusable moto server for end-to-end tests: real boto3 over HTTP on 127.0.0.1.

    from tests.e2e.moto_server import moto_endpoint  # a session fixture; import it in a test
                                                    # module or conftest to use it
    def test_x(moto_endpoint): boto3.client("logs", endpoint_url=moto_endpoint.url, ...)

`MotoEndpoint.reset()` wipes moto's state between tests; `historic_clock(epoch_ms)` lets you
seed old log samples (CloudWatch Logs, and moto, reject PutLogEvents older than 14 days).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoEndpoint:
    """A running moto server: its URL, region and the env a subprocess needs to reach it."""

    url: str
    region: str = REGION

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def env(self) -> dict[str, str]:
        """Environment for a child process: fake credentials, no real config files."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(FAKE_CREDENTIALS)
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        return env

    def reset(self) -> None:
        """Forget every resource (moto's `/moto-api/reset`)."""
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@contextlib.contextmanager
def historic_clock(epoch_ms: int) -> Iterator[None]:
    """Run moto's CloudWatch Logs backend (in this process) as if it were `epoch_ms`, so it
    accepts real sample events from years ago. Only the logs backend's clock is moved."""
    import moto.logs.models as logs_models

    original = logs_models.utcnow
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).replace(tzinfo=None)
    logs_models.utcnow = lambda: moment
    try:
        yield
    finally:
        logs_models.utcnow = original


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[MotoEndpoint]:
    """One moto server per test session on 127.0.0.1, with fake credentials in the env."""
    from moto.server import ThreadedMotoServer

    saved = {
        key: os.environ.get(key)
        for key in [
            *FAKE_CREDENTIALS,
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_PROFILE",
        ]
    }
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ.pop("AWS_PROFILE", None)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoEndpoint(url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
