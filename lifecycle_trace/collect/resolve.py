"""Which log group holds a function's logs, and what its name is when given an ARN."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lifecycle_trace.collect.errors import NOT_FOUND


def function_name(function: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` or `NAME[:qualifier]` -> `NAME`."""
    if function.startswith("arn:"):
        parts = function.split(":")
        return parts[6] if len(parts) > 6 else function
    return function.split(":", 1)[0]


def default_log_group(function: str) -> str:
    """Lambda's default log group for a function: `/aws/lambda/NAME`."""
    return f"/aws/lambda/{function_name(function)}"


def shared_stream_pattern(function: str) -> str:
    """Regex for the function's streams in a custom (possibly shared) log group, where Lambda
    names them `YYYY/MM/DD/<function>[<version>]<32 hex>`."""
    return rf"^\d{{4}}/\d{{2}}/\d{{2}}/{re.escape(function_name(function))}\["


@dataclass(frozen=True, slots=True)
class FunctionLogs:
    """Where a function logs, and whether Lambda confirmed the function exists
    (None when we could not ask: no `lambda:GetFunctionConfiguration` permission).
    `stream_pattern` selects the function's streams when its log group is a custom one."""

    function: str
    log_group: str
    function_exists: bool | None
    stream_pattern: str | None = None


def resolve_function_log_group(lambda_client: Any, function: str) -> FunctionLogs:
    """Ask Lambda for the function's `LoggingConfig.LogGroup` (custom log groups); fall back
    to `/aws/lambda/NAME` when the function is gone, or when Lambda cannot be asked (no
    `lambda:GetFunctionConfiguration` permission, an `--endpoint-url` that serves only Logs):
    the logs call that follows reports real credential or network problems."""
    name = function_name(function)
    try:
        config = lambda_client.get_function_configuration(FunctionName=function)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        exists = False if code in NOT_FOUND else None
        return FunctionLogs(name, default_log_group(function), exists)
    except BotoCoreError:
        return FunctionLogs(name, default_log_group(function), None)
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or default_log_group(function)
    custom = group != default_log_group(function)
    return FunctionLogs(name, group, True, shared_stream_pattern(function) if custom else None)


def missing_group_message(log_group: str, region: str | None, found: FunctionLogs | None) -> str:
    """One line for an unknown log group, saying what we know about the function."""
    where = f" in {region}" if region else ""
    if found is None:
        return f"log group {log_group} does not exist{where} (check --log-group and --region)"
    if found.function_exists is False:
        return (
            f"no function {found.function} and no log group {log_group}{where} "
            "(check --function and --region)"
        )
    return (
        f"function {found.function} has no log group {log_group}{where} yet: it has not "
        "been invoked, or its logs were deleted"
    )
