"""boto3 sessions and clients the way AWS's own tools make them.

Standard credential chain (env, profile, SSO, container/instance roles), `--profile`,
`--region`, `--endpoint-url`; throttling handled by botocore's retry modes: `adaptive` by
default (client-side rate limiting plus retries), or whatever `AWS_RETRY_MODE` /
`AWS_MAX_ATTEMPTS` say, as in the AWS CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from lifecycle_trace.collect.errors import aws_errors

DEFAULT_RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
USER_AGENT = "lctrace-collect/0.1"


@dataclass(frozen=True, slots=True)
class AwsTarget:
    """Where to talk to AWS: profile, region and endpoint (None = the standard chain's)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def cli_options(self) -> list[str]:
        """These settings as `lctrace` options (for the resume command we print)."""
        options: list[str] = []
        for flag, value in (
            ("--profile", self.profile),
            ("--region", self.region),
            ("--endpoint-url", self.endpoint_url),
        ):
            if value:
                options += [flag, value]
        return options


def retry_config(mode: str | None = None, max_attempts: int | None = None) -> Config:
    """botocore `Config` with the retry mode (explicit, else `AWS_RETRY_MODE`, else adaptive) and
    total attempts per call, first one included (explicit, else `AWS_MAX_ATTEMPTS`, else 10)."""
    mode = mode or os.environ.get("AWS_RETRY_MODE") or DEFAULT_RETRY_MODE
    if max_attempts is None:
        env = os.environ.get("AWS_MAX_ATTEMPTS", "")
        max_attempts = int(env) if env.isdigit() else DEFAULT_MAX_ATTEMPTS
    return Config(
        retries={"mode": mode, "total_max_attempts": max_attempts},
        user_agent_extra=USER_AGENT,
        connect_timeout=10,
        read_timeout=70,
    )


def make_session(target: AwsTarget) -> boto3.Session:
    """A boto3 session for the profile and region (raises `AwsCredentialsError` when unknown)."""
    region = target.region or os.environ.get("AWS_REGION") or None  # as AWS CLI v2 does
    with aws_errors(profile=target.profile):
        return boto3.Session(profile_name=target.profile, region_name=region)


def make_client(
    service: str,
    target: AwsTarget,
    *,
    session: boto3.Session | None = None,
    retry_mode: str | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A boto3 client for `service` ("logs", "xray", "lambda") with lctrace's retry config."""
    session = session or make_session(target)
    with aws_errors(profile=target.profile):
        return session.client(
            service,
            endpoint_url=target.endpoint_url,
            config=retry_config(retry_mode, max_attempts),
        )
