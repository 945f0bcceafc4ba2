"""botocore exceptions -> one-line `CollectError`s a user can act on (exit code 2).

Collectors let botocore raise; `aws_errors(...)` at the edge of one collection turns what it
raises into the subclass below whose message names the operation, the resource and the fix.
Throttling is retried by botocore's retry mode (see `session.py`); only when retries run out
does it surface here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from botocore import exceptions as bx

from lifecycle_trace.errors import CollectError


class AwsCredentialsError(CollectError):
    """No credentials, or a profile/region that the standard chain cannot resolve."""


class AwsAccessDeniedError(CollectError):
    """The credentials work but lack a permission (or the key is unknown to AWS)."""


class AwsExpiredTokenError(CollectError):
    """Session credentials or an SSO token have expired."""


class AwsNotFoundError(CollectError):
    """The log group, function or query named does not exist in this account and region."""


class AwsThrottledError(CollectError):
    """AWS kept throttling after botocore's retries ran out."""


class AwsRequestError(CollectError):
    """Any other refusal or transport failure, with AWS's own code and message."""


ACCESS_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired", "TokenRefreshRequired"}
NOT_FOUND = {"ResourceNotFoundException", "NotFoundException"}
THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
}


_XML_ERROR = re.compile(
    r"<Code>(?P<code>[^<]+)</Code>\s*(?:<Message>(?P<message>[^<]*)</Message>)?"
)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def translate(error: Exception, *, target: str = "", profile: str | None = None) -> CollectError:
    """Map one botocore/boto3 exception to a `CollectError` with a one-line message.

    `target` names what was being fetched ("log group /aws/lambda/app"), `profile` the profile
    in use (for the `aws sso login` hint). Unknown exceptions become `AwsRequestError`.
    """
    where = f" {target}" if target else ""
    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AwsCredentialsError(
            "no AWS credentials found: pass --profile, set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`"
        )
    if isinstance(error, bx.ProfileNotFound):
        return AwsCredentialsError(
            f"AWS profile {error.kwargs.get('profile')!r} is not in ~/.aws/config or "
            "~/.aws/credentials"
        )
    if isinstance(error, bx.NoRegionError):
        return AwsCredentialsError(
            "no AWS region: pass --region, set AWS_REGION, or give the profile a region"
        )
    if isinstance(
        error, bx.UnauthorizedSSOTokenError | bx.SSOTokenLoadError | bx.TokenRetrievalError
    ):
        return AwsExpiredTokenError(f"the AWS SSO token has expired or is missing: run `{login}`")
    if isinstance(error, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return AwsRequestError(f"cannot reach AWS{where}: {_one_line(error)}")
    if isinstance(error, bx.ClientError):
        return _from_client_error(error, where, login)
    if isinstance(error, bx.BotoCoreError):
        return AwsRequestError(f"AWS request failed{where}: {_one_line(error)}")
    return AwsRequestError(f"AWS request failed{where}: {type(error).__name__}: {error}")


def _from_client_error(error: bx.ClientError, where: str, login: str) -> CollectError:
    info = error.response.get("Error", {})
    code = str(info.get("Code", "Unknown"))
    message = _one_line(info.get("Message", "") or "")
    xml = _XML_ERROR.search(message)
    if xml:  # an XML error body where JSON was expected (proxies, emulators): use its fields
        code, message = xml.group("code"), _one_line(xml.group("message") or "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    operation = error.operation_name
    detail = f"{operation}: {code}" + (f": {message}" if message else "")
    if code in EXPIRED:
        return AwsExpiredTokenError(
            f"AWS credentials have expired ({code}); refresh them (e.g. `{login}`) and retry"
        )
    if code in ACCESS_DENIED or (status == 403 and code not in THROTTLED):
        return AwsAccessDeniedError(f"access denied{where} ({detail})")
    if code in NOT_FOUND:
        return AwsNotFoundError(f"not found{where} ({detail})")
    if code in THROTTLED:
        return AwsThrottledError(
            f"AWS kept throttling{where} after retries ({detail}); retry later or raise "
            "AWS_MAX_ATTEMPTS"
        )
    return AwsRequestError(f"AWS refused the request{where} ({detail})")


@contextmanager
def aws_errors(target: str = "", *, profile: str | None = None) -> Iterator[None]:
    """Re-raise botocore exceptions inside the block as `CollectError`s (chained)."""
    try:
        yield
    except (bx.BotoCoreError, bx.ClientError) as error:
        raise translate(error, target=target, profile=profile) from error
