"""Pure parts of `lifecycle_trace.collect`: time ranges, error mapping, output files and the
resume sidecar, retry config, function -> log group, and FilterLogEvents request shapes
(checked against the real API model by botocore's Stubber)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import boto3
import pytest
from botocore import exceptions as bx
from botocore.stub import Stubber

from lifecycle_trace.collect import errors
from lifecycle_trace.collect.logs import collect_logs
from lifecycle_trace.collect.output import (
    PageWriter,
    ResumeStateError,
    load_state,
    open_for_collection,
    sidecar_path,
)
from lifecycle_trace.collect.resolve import (
    default_log_group,
    function_name,
    resolve_function_log_group,
    shared_stream_pattern,
)
from lifecycle_trace.collect.session import AwsTarget, retry_config
from lifecycle_trace.collect.timerange import (
    parse_duration_s,
    parse_instant_ms,
    resolve_range,
)
from lifecycle_trace.errors import CollectError, ConfigError

# --- time ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200),
                                               ("1.5d", 129600), ("1w", 604800), ("2H", 7200)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2 fortnights", "-1h"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ConfigError, match="expected a number and a unit"):
        parse_duration_s(text)


@pytest.mark.parametrize(("text", "ms"), [
    ("2024-05-09T10:00:00Z", 1715248800000),
    ("2024-05-09T10:00:00", 1715248800000),  # naive = UTC
    ("2024-05-09T12:00:00+02:00", 1715248800000),
    ("2024-05-09", 1715212800000),
    ("1715248800", 1715248800000),  # epoch seconds
    ("1715248800123", 1715248800123),  # epoch milliseconds
])
def test_instants(text: str, ms: int) -> None:
    assert parse_instant_ms(text) == ms


def test_ranges() -> None:
    now = 1715248800000
    assert resolve_range("2h", now_ms=now) == resolve_range(None, now_ms=now, default_since="2h")
    assert resolve_range("2h", now_ms=now).start_ms == now - 7_200_000
    window = resolve_range(start="2024-05-09", end="2024-05-09T01:00:00Z", now_ms=now)
    assert (window.start_ms, window.end_ms) == (1715212800000, 1715216400000)
    assert window.describe() == "2024-05-09 00:00:00 to 2024-05-09 01:00:00 UTC"
    with pytest.raises(ConfigError, match="not both"):
        resolve_range("2h", "2024-05-09")
    with pytest.raises(ConfigError, match="the time range is empty"):
        resolve_range(start="2024-05-09T02:00:00Z", end="2024-05-09T01:00:00Z")
    with pytest.raises(ConfigError, match="--end 'yesterday'"):
        resolve_range(end="yesterday")


# --- error mapping ------------------------------------------------------------------------


def client_error(code: str, message: str = "", status: int = 400) -> bx.ClientError:
    return bx.ClientError({"Error": {"Code": code, "Message": message},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, "FilterLogEvents")


@pytest.mark.parametrize(("error", "kind", "words"), [
    (bx.NoCredentialsError(), errors.AwsCredentialsError, "no AWS credentials found"),
    (bx.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
     errors.AwsCredentialsError, "no AWS credentials found"),
    (bx.ProfileNotFound(profile="prod"), errors.AwsCredentialsError, "profile 'prod'"),
    (bx.NoRegionError(), errors.AwsCredentialsError, "pass --region"),
    (bx.UnauthorizedSSOTokenError(), errors.AwsExpiredTokenError,
     "aws sso login --profile dev"),
    (client_error("ExpiredTokenException", "The security token included in the request is "
                                           "expired"), errors.AwsExpiredTokenError, "expired"),
    (client_error("AccessDeniedException", "User: arn:aws:iam::1:user/x is not\nauthorized to"
                                           " perform: logs:FilterLogEvents", 400),
     errors.AwsAccessDeniedError, "access denied log group /aws/lambda/app (FilterLogEvents: "
                                  "AccessDeniedException: User: arn:aws:iam::1:user/x is not "
                                  "authorized to perform: logs:FilterLogEvents)"),
    (client_error("UnrecognizedClientException", "The security token is invalid"),
     errors.AwsAccessDeniedError, "access denied"),
    (client_error("403", "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>no"
                         "</Message></Error></Errors></ErrorResponse>", 403),
     errors.AwsAccessDeniedError, "(FilterLogEvents: AccessDenied: no)"),
    (client_error("ResourceNotFoundException", "The specified log group does not exist."),
     errors.AwsNotFoundError, "not found log group /aws/lambda/app"),
    (client_error("ThrottlingException", "Rate exceeded", 400), errors.AwsThrottledError,
     "kept throttling"),
    (client_error("InvalidParameterException", "bad"), errors.AwsRequestError,
     "InvalidParameterException: bad"),
    (bx.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), errors.AwsRequestError,
     "cannot reach AWS log group /aws/lambda/app"),
])
def test_botocore_errors_become_one_line_collect_errors(error: Exception, kind: type,
                                                        words: str) -> None:
    mapped = errors.translate(error, target="log group /aws/lambda/app", profile="dev")
    assert type(mapped) is kind and isinstance(mapped, CollectError)
    assert mapped.exit_code == 2
    assert words in str(mapped) and "\n" not in str(mapped)


def test_aws_errors_context_chains_the_original() -> None:
    with pytest.raises(errors.AwsNotFoundError) as caught, errors.aws_errors("log group g"):
        raise client_error("ResourceNotFoundException")
    assert isinstance(caught.value.__cause__, bx.ClientError)


# --- output files and the resume sidecar -------------------------------------------------


def test_gzip_pages_are_members_and_resume_truncates_to_the_last_saved_page(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.jsonl.gz"
    with PageWriter(path) as writer:
        writer.write(b'{"n":1}\n')
        after_first = writer.tell()
        writer.write(b'{"n":2}\n')
        writer.write(b"")  # empty pages add nothing
    assert gzip.decompress(path.read_bytes()) == b'{"n":1}\n{"n":2}\n'
    with PageWriter(path, resume_offset=after_first) as writer:
        writer.write(b'{"n":3}\n')
    assert gzip.decompress(path.read_bytes()) == b'{"n":1}\n{"n":3}\n'
    with pytest.raises(ResumeStateError, match="shorter"):
        PageWriter(path, resume_offset=10_000)


def test_plain_output_and_sidecar_lifecycle(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    query = {"log_group": "g", "start_ms": 1, "end_ms": 2}
    writer, state = open_for_collection(path, "logs", query, resume=False, overwrite=False)
    writer.write(b"a\n")
    writer.close()
    assert load_state(path) == state and sidecar_path(path).name == "out.jsonl.resume.json"
    with pytest.raises(ResumeStateError, match="--resume to continue it or --overwrite"):
        open_for_collection(path, "logs", query, resume=False, overwrite=False)
    with pytest.raises(ResumeStateError, match="not `collect traces`"):
        open_for_collection(path, "traces", {}, resume=True, overwrite=False)
    with pytest.raises(ResumeStateError, match="end_ms differ"):
        open_for_collection(path, "logs", {"end_ms": 3}, resume=True, overwrite=False)
    writer, again = open_for_collection(path, "logs", {"log_group": "g"}, resume=True,
                                        overwrite=False)
    writer.close()
    assert again.query == query
    sidecar_path(path).write_text("{broken")
    with pytest.raises(ResumeStateError, match="unreadable resume state"):
        load_state(path)


# --- sessions ----------------------------------------------------------------------------


def test_retry_config_follows_the_aws_cli_variables(monkeypatch) -> None:
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    assert retry_config().retries == {"mode": "adaptive", "total_max_attempts": 10}
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    assert retry_config().retries == {"mode": "standard", "total_max_attempts": 4}
    assert retry_config("legacy", 2).retries == {"mode": "legacy", "total_max_attempts": 2}


def test_target_options_rebuild_the_command_line() -> None:
    assert AwsTarget("p", "eu-west-1", "http://127.0.0.1:1").cli_options() == [
        "--profile", "p", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:1"]
    assert AwsTarget().cli_options() == []


# --- function -> log group ---------------------------------------------------------------


def test_shared_group_stream_pattern_selects_one_function() -> None:
    import re

    pattern = re.compile(shared_stream_pattern("arn:aws:lambda:us-east-1:1:function:a.b-c:7"))
    assert pattern.search("2024/05/09/a.b-c[7]0123456789abcdef0123456789abcdef")
    assert pattern.search("2024/05/09/a.b-c[$LATEST]0123456789abcdef0123456789abcdef")
    assert not pattern.search("2024/05/09/a.b-cd[$LATEST]0123456789abcdef0123456789abcdef")
    assert not pattern.search("2024/05/09/axb-c[$LATEST]0123456789abcdef0123456789abcdef")
    assert not pattern.search("2024/05/09/[$LATEST]0123456789abcdef0123456789abcdef")


def test_function_names() -> None:
    assert function_name("arn:aws:lambda:us-east-1:1:function:orders:live") == "orders"
    assert function_name("orders:3") == "orders"
    assert default_log_group("orders") == "/aws/lambda/orders"


@pytest.fixture
def lambda_stub():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def test_custom_log_group_comes_from_logging_config(lambda_stub) -> None:
    client, stubber = lambda_stub
    stubber.add_response("get_function_configuration", {
        "FunctionName": "orders", "LoggingConfig": {"LogFormat": "JSON",
                                                    "LogGroup": "/shared/lambda"}},
        {"FunctionName": "orders"})
    stubber.add_client_error("get_function_configuration", "ResourceNotFoundException",
                             http_status_code=404)
    stubber.add_client_error("get_function_configuration", "AccessDeniedException",
                             http_status_code=403)
    stubber.add_client_error("get_function_configuration", "ServiceException",
                             http_status_code=500)
    found = resolve_function_log_group(client, "orders")
    assert (found.log_group, found.function_exists) == ("/shared/lambda", True)
    assert found.stream_pattern == shared_stream_pattern("orders")
    gone = resolve_function_log_group(client, "orders")
    assert (gone.log_group, gone.function_exists, gone.stream_pattern) == (
        "/aws/lambda/orders", False, None)
    unknown = resolve_function_log_group(client, "orders")
    assert (unknown.log_group, unknown.function_exists) == ("/aws/lambda/orders", None)
    failing = resolve_function_log_group(client, "orders")  # the logs call will say why
    assert (failing.log_group, failing.function_exists) == ("/aws/lambda/orders", None)


# --- FilterLogEvents request shapes ------------------------------------------------------


@pytest.fixture
def logs_stub():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_arn_groups_half_open_end_filter_and_pages(logs_stub) -> None:
    client, stubber = logs_stub
    arn = "arn:aws:logs:us-east-1:999988887777:log-group:/aws/lambda/shared"
    request = {"logGroupIdentifier": arn, "startTime": 1000, "endTime": 1999,
               "filterPattern": "REPORT", "limit": 10000}
    event = {"logStreamName": "s", "timestamp": 1500, "message": "REPORT x\n",
             "ingestionTime": 1501, "eventId": "1"}
    stubber.add_response("filter_log_events", {"events": [event], "nextToken": "t1"}, request)
    stubber.add_response("filter_log_events", {"events": []}, {**request, "nextToken": "t1"})
    out = io.BytesIO()
    stats = collect_logs(client, out, log_group=arn, start_ms=1000, end_ms=2000,
                         filter_pattern="REPORT", page_size=50_000)
    assert json.loads(out.getvalue()) == {"logGroupName": arn, **event}
    assert (stats.pages, stats.events, stats.complete) == (2, 1, True)


def test_a_repeated_next_token_stops_instead_of_looping(logs_stub) -> None:
    client, stubber = logs_stub
    stubber.add_response("filter_log_events", {"events": [], "nextToken": "same"})
    stubber.add_response("filter_log_events", {"events": [], "nextToken": "same"})
    with pytest.raises(errors.AwsRequestError, match="same nextToken twice"):
        collect_logs(client, io.BytesIO(), log_group="g", start_ms=0, end_ms=10)


def test_checkpoints_are_throttled_but_flushed_on_interrupt(tmp_path: Path) -> None:
    from lifecycle_trace.collect.output import Checkpointer, ResumeState, flushed_on_error

    path = tmp_path / "out.jsonl"
    saver = Checkpointer(path, ResumeState(kind="logs", query={}), interval_s=3600)
    saver.update(10, "token-1", {"events": 1})
    saver.update(20, "token-2", {"events": 2})
    assert load_state(path) is None  # not written per page
    with pytest.raises(KeyboardInterrupt), flushed_on_error(saver):
        raise KeyboardInterrupt
    saved = load_state(path)
    assert (saved.offset, saved.cursor, saved.totals) == (20, "token-2", {"events": 2})
    eager = Checkpointer(path, saved, interval_s=0)
    eager.update(30, "token-3", {"events": 3})
    assert load_state(path).cursor == "token-3"
