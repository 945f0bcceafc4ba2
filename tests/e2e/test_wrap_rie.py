"""`lctrace wrap` in front of the real Runtime Interface Emulator: what the invoker receives,
the spans (jsonl exporter), the log lines and the stuck markers, per lifecycle scenario."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest

from lifecycle_trace import schema
from tests.e2e.rie_harness import (
    RieHarness,
    example_runtime_command,
    marker_lines,
    read_jsonl_spans,
    wrapped_bootstrap,
)

pytestmark = pytest.mark.e2e
STREAM = "2026/11/26/[$LATEST]e2e0000000000000000000000000001"


def start_rie(rie_binary: Path, tmp_path: Path, timeout_s: int = 2, **env: str) -> RieHarness:
    bootstrap = wrapped_bootstrap(tmp_path, example_runtime_command())
    full_env = {
        "LCTRACE_EXPORTER": "log,jsonl",
        "LCTRACE_JSONL_PATH": str(tmp_path / "spans.jsonl"),
    }
    full_env.update(env)
    return RieHarness(rie_binary, bootstrap, env=full_env, timeout_s=timeout_s).start()


def wait_spans(path: Path, name: str, count: int = 1, timeout_s: float = 10.0) -> list[dict]:
    """The file's spans once `count` spans named `name` are in it (the exporter loads in the
    background at cold start, so the first spans may trail the first responses)."""
    deadline = time.monotonic() + timeout_s
    while True:
        spans = read_jsonl_spans(path)
        if len(by_name(spans, name)) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.05)


def request_ids(stdout: str) -> list[str]:
    return re.findall(r"START RequestId: (\S+)", stdout)


def by_name(spans: list[dict], name: str) -> list[dict]:
    return [s for s in spans if s["name"] == name]


def test_echo_runtime_spans_logs_and_coldstart(rie_binary: Path, tmp_path: Path) -> None:
    secret = "payload-secret-7c1e"
    with start_rie(rie_binary, tmp_path) as rie:
        bodies = [json.dumps({"n": i, "s": secret}).encode() for i in range(3)]
        results = [rie.invoke(b) for b in bodies]
        assert [r.body for r in results] == bodies
        assert all(r.status == 200 for r in results)
        ids = request_ids(rie.stdout())
        rie.invoke(b"{}")  # closes the third invocation (its /next)
        assert rie.wait_for('"lctrace":"invocation"')
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION, 3)
        stdout = rie.stdout()
    assert len(ids) == 3
    invocations = by_name(spans, schema.SPAN_INVOCATION)
    assert [s["attrs"][schema.ATTR_INVOCATION_ID] for s in invocations][:3] == ids
    assert [s["attrs"][schema.ATTR_COLDSTART] for s in invocations][:3] == [True, False, False]
    assert invocations[0]["kind"] == 2  # SERVER
    assert all(s["attrs"][schema.ATTR_TRIGGER] == "other" for s in invocations)
    assert all(s["attrs"][schema.ATTR_OUTCOME] == "success" for s in invocations)
    arn = "arn:aws:lambda:us-east-1:012345678912:function:lctrace-e2e"
    assert invocations[0]["attrs"][schema.ATTR_CLOUD_RESOURCE_ID] == arn
    assert invocations[0]["attrs"][schema.ATTR_EVENT_BYTES] == len(bodies[0])
    assert invocations[0]["attrs"][schema.ATTR_RESPONSE_BYTES] == len(bodies[0])
    assert all(s["resource"][schema.ATTR_INSTANCE] == STREAM for s in spans)
    assert spans[0]["resource"][schema.ATTR_FAAS_NAME] == "lctrace-e2e"
    assert spans[0]["resource"][schema.ATTR_CLOUD_PLATFORM] == "aws_lambda"
    (init,) = by_name(spans, schema.SPAN_INIT)
    assert init["attrs"][schema.ATTR_OUTCOME] == "success"
    # children: handler/response/post_response under the invocation, back to back
    first = invocations[0]
    kids = [s for s in spans if s.get("parentSpanId") == first["spanId"]]
    assert sorted(k["name"] for k in kids) == sorted(
        [schema.SPAN_HANDLER, schema.SPAN_RESPONSE, schema.SPAN_POST_RESPONSE]
    )
    handler = next(k for k in kids if k["name"] == schema.SPAN_HANDLER)
    post = next(k for k in kids if k["name"] == schema.SPAN_POST_RESPONSE)
    assert handler["startTimeUnixNano"] == first["startTimeUnixNano"]
    assert post["endTimeUnixNano"] == first["endTimeUnixNano"]
    assert int(init["endTimeUnixNano"]) <= int(first["startTimeUnixNano"])
    # the payload never reaches spans or log lines
    assert secret not in (tmp_path / "spans.jsonl").read_text()
    logs = marker_lines(stdout, schema.MARKER_INVOCATION)
    assert secret not in json.dumps(logs)
    assert [line["request_id"] for line in logs][:3] == ids
    assert set(schema.LOG_FIELDS) <= set(logs[0])
    assert logs[0]["cold"] is True and logs[0]["init_ms"] > 0 and logs[1]["init_ms"] is None
    assert logs[0]["instance"] == STREAM
    (init_line,) = marker_lines(stdout, schema.MARKER_INIT)
    assert init_line["init_ms"] > 0 and init_line["outcome"] == "success"


def test_event_shape_sets_trigger_and_source(rie_binary: Path, tmp_path: Path) -> None:
    sqs = {
        "Records": [
            {"messageId": str(i), "body": "private", "eventSource": "aws:sqs"} for i in range(3)
        ]
    }
    with start_rie(rie_binary, tmp_path, LCTRACE_EXPORTER="jsonl") as rie:
        assert rie.invoke(json.dumps(sqs)).status == 200
        schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        assert rie.invoke(json.dumps(schedule)).status == 200
        rie.invoke(b"{}")
        spans = by_name(
            wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION, 2), schema.SPAN_INVOCATION
        )
    assert spans[0]["attrs"][schema.ATTR_TRIGGER] == "pubsub"
    assert spans[0]["attrs"][schema.ATTR_EVENT_SOURCE] == "aws:sqs"
    assert spans[0]["attrs"][schema.ATTR_RECORD_COUNT] == 3
    assert spans[1]["attrs"][schema.ATTR_TRIGGER] == "timer"
    assert "private" not in (tmp_path / "spans.jsonl").read_text()


@pytest.fixture(scope="module")
def body_rie(rie_binary: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("bodies")
    rie = start_rie(rie_binary, tmp, timeout_s=5, LCTRACE_EXPORTER="log")
    yield rie
    rie.stop()


LIMIT = 6_291_556  # RIE's payload limit (6 MiB + 100)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"action": "bytes", "n": 0}, b""),
        ({"action": "bytes", "n": 5 * 1024 * 1024}, b"x" * (5 * 1024 * 1024)),
        ({"action": "bytes", "n": 6 * 1024 * 1024 + 1}, b"x" * (6 * 1024 * 1024 + 1)),
        ({"action": "bytes", "n": LIMIT}, b"x" * LIMIT),
        ({"action": "chunked", "n": 3 * 1024 * 1024 + 7}, b"y" * (3 * 1024 * 1024 + 7)),
        ({"action": "binary"}, bytes(range(256)) * 4),
    ],
    ids=["0B", "5MiB", "6MiB+1", "limit", "chunked", "binary"],
)
def test_bodies_pass_byte_exact(body_rie: RieHarness, spec: dict, expected: bytes) -> None:
    result = body_rie.invoke(json.dumps(spec))
    assert result.status == 200
    assert len(result.body) == len(expected)
    assert hashlib.sha256(result.body).digest() == hashlib.sha256(expected).digest()


@pytest.mark.parametrize(
    "spec",
    [{"action": "bytes", "n": LIMIT + 1}, {"action": "chunked", "n": 7 * 1024 * 1024}],
    ids=["limit+1", "7MiB-chunked"],
)
def test_response_over_limit_gets_the_apis_413(body_rie: RieHarness, spec: dict) -> None:
    result = body_rie.invoke(json.dumps(spec))
    assert result.status == 200
    assert result.json()["errorType"] == "Function.ResponseSizeTooLarge"
    (request_id,) = request_ids(body_rie.stdout())[-1:]
    body_rie.invoke(b"{}")  # its /next closes the invocation
    assert body_rie.wait_for(f'"request_id":"{request_id}"')
    (line,) = (
        m
        for m in marker_lines(body_rie.stdout(), schema.MARKER_INVOCATION)
        if m["request_id"] == request_id
    )
    assert line["outcome"] == "error" and line["error_type"] == "Function.ResponseSizeTooLarge"
    # the runtime read the 413 and kept polling: the next invoke is served normally
    assert body_rie.invoke(b'{"after":1}').body == b'{"after":1}'


def test_large_chunked_event_reaches_runtime_intact(body_rie: RieHarness) -> None:
    # > 2 KiB events come from RIE chunked; echoed back unchanged
    event = json.dumps({"pad": "z" * (5 * 1024 * 1024)}).encode()
    result = body_rie.invoke(event)
    assert result.status == 200 and result.body == event


def test_error_response(rie_binary: Path, tmp_path: Path) -> None:
    with start_rie(rie_binary, tmp_path) as rie:
        result = rie.invoke(json.dumps({"action": "error"}))
        assert result.status == 200
        assert result.json() == {"errorMessage": "boom", "errorType": "MyError"}
        rie.invoke(b"{}")
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION)
        stdout = rie.stdout()
    inv = by_name(spans, schema.SPAN_INVOCATION)[0]
    assert inv["attrs"][schema.ATTR_OUTCOME] == "error"
    assert inv["attrs"][schema.ATTR_ERROR_TYPE] == "Function.MyError"
    assert inv["status"]["code"] == 2
    assert marker_lines(stdout, schema.MARKER_INVOCATION)[0]["outcome"] == "error"


def test_never_polled_marker_before_the_kill(rie_binary: Path, tmp_path: Path) -> None:
    env = {"EXAMPLE_INIT": "never_poll", "LCTRACE_NEVER_POLLED_MS": "300"}
    with start_rie(rie_binary, tmp_path, timeout_s=1, **env) as rie:
        result = rie.invoke(b"{}")
        assert result.body == b"Task timed out after 1.00 seconds"
        stdout = rie.stdout()
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_STUCK)
    (marker,) = marker_lines(stdout, schema.MARKER_STUCK)
    assert marker["kind"] == schema.STUCK_NEVER_POLLED
    assert 300 <= marker["elapsed_ms"] < 1000
    # the marker precedes RIE's timeout handling (END is printed after the kill)
    assert stdout.index('"kind":"never_polled"') < stdout.index("END RequestId")
    (stuck,) = by_name(spans, schema.SPAN_STUCK)
    assert stuck["attrs"][schema.ATTR_STUCK_KIND] == schema.STUCK_NEVER_POLLED


def test_handler_hang_reports_no_response(rie_binary: Path, tmp_path: Path) -> None:
    env = {"LCTRACE_DEADLINE_MARGIN_MS": "500"}
    with start_rie(rie_binary, tmp_path, timeout_s=1, **env) as rie:
        result = rie.invoke(json.dumps({"action": "hang"}))
        assert result.body == b"Task timed out after 1.00 seconds"
        stdout = rie.stdout()
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_STUCK)
    (request_id,) = request_ids(stdout)
    (marker,) = marker_lines(stdout, schema.MARKER_STUCK)
    assert marker["kind"] == schema.STUCK_NO_RESPONSE
    assert marker["request_id"] == request_id
    assert marker["deadline_ms"] > 0 and marker["elapsed_ms"] < 1000
    assert stdout.index('"kind":"no_response"') < stdout.index("END RequestId")
    (stuck,) = by_name(spans, schema.SPAN_STUCK)
    assert stuck["attrs"][schema.ATTR_INVOCATION_ID] == request_id


def test_work_after_response_reports_stopped_polling(rie_binary: Path, tmp_path: Path) -> None:
    env = {"LCTRACE_STOPPED_POLLING_MS": "300"}
    with start_rie(rie_binary, tmp_path, timeout_s=3, **env) as rie:
        result = rie.invoke(json.dumps({"action": "linger", "s": 1.0}))
        assert result.status == 200 and result.json() == {"lingering": True}
        rie.invoke(b"{}")
        assert rie.wait_for('"lctrace":"invocation"')
        stdout = rie.stdout()
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_POST_RESPONSE)
    first_id = request_ids(stdout)[0]
    (marker,) = marker_lines(stdout, schema.MARKER_STUCK)
    assert marker["kind"] == schema.STUCK_STOPPED_POLLING
    assert marker["request_id"] == first_id
    assert 300 <= marker["elapsed_ms"] < 1000
    line = marker_lines(stdout, schema.MARKER_INVOCATION)[0]
    assert line["request_id"] == first_id and line["post_response_ms"] >= 900
    post = by_name(spans, schema.SPAN_POST_RESPONSE)[0]
    assert int(post["endTimeUnixNano"]) - int(post["startTimeUnixNano"]) >= 900_000_000


def test_runtime_exit_mid_invocation(rie_binary: Path, tmp_path: Path) -> None:
    with start_rie(rie_binary, tmp_path) as rie:
        result = rie.invoke(json.dumps({"action": "exit", "code": 7}))
        assert result.status == 502
        assert result.json()["errorType"] == "Runtime.ExitError"
        assert rie.wait_for("exited: exit status 7", stream="stderr")  # our exit code = child's
        assert rie.wait_for('"outcome":"crash"')
        stdout = rie.stdout()
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION)
    (request_id,) = request_ids(stdout)
    line = marker_lines(stdout, schema.MARKER_INVOCATION)[0]
    assert line["request_id"] == request_id and line["outcome"] == "crash"
    inv = by_name(spans, schema.SPAN_INVOCATION)[0]
    assert inv["attrs"][schema.ATTR_OUTCOME] == "crash"
    assert inv["attrs"][schema.ATTR_ERROR_TYPE] == "Runtime.ExitError"


def test_init_error(rie_binary: Path, tmp_path: Path) -> None:
    with start_rie(rie_binary, tmp_path, EXAMPLE_INIT="init_error") as rie:
        result = rie.invoke(b"{}")
        assert result.status == 502
        assert result.json() == {"errorMessage": "boom at init", "errorType": "MyInitError"}
        assert rie.wait_for("exited: exit status 1", stream="stderr")
        assert rie.wait_for('"lctrace":"init"')
        stdout = rie.stdout()
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INIT)
    (init_line,) = marker_lines(stdout, schema.MARKER_INIT)
    assert init_line["outcome"] == "init_error"
    assert init_line["error_type"] == "Runtime.MyInitError"
    (init,) = by_name(spans, schema.SPAN_INIT)
    assert init["attrs"][schema.ATTR_OUTCOME] == "init_error"
    assert not by_name(spans, schema.SPAN_INVOCATION)


def test_payload_capture_is_opt_in_and_capped(rie_binary: Path, tmp_path: Path) -> None:
    with start_rie(rie_binary, tmp_path, LCTRACE_CAPTURE_PAYLOADS="10") as rie:
        rie.invoke(b'{"k":"abcdefghijklmnop"}')
        rie.invoke(b"{}")
        inv = by_name(
            wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION), schema.SPAN_INVOCATION
        )[0]
    assert inv["attrs"]["lctrace.event_payload"] == '{"k":"abcd'


def test_emf_exporter_writes_metric_lines(rie_binary: Path, tmp_path: Path) -> None:
    with start_rie(rie_binary, tmp_path, LCTRACE_EXPORTER="emf") as rie:
        rie.invoke(b"{}")
        rie.invoke(b"{}")
        assert rie.wait_for('"_aws"')
        stdout = rie.stdout()
    emf = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
    names = {
        m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert schema.METRIC_INVOKE_DURATION in names
    assert not marker_lines(stdout, schema.MARKER_INVOCATION)  # log only when asked for


def test_documented_rie_bootstrap(rie_binary: Path, tmp_path: Path) -> None:
    """examples/bootstraps/rie-bootstrap, as the README tells RIE users to run it."""
    import os
    import sys

    bootstrap = Path(__file__).resolve().parents[2] / "examples" / "bootstraps" / "rie-bootstrap"
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    env = {"PATH": path, "LCTRACE_EXPORTER": "log"}
    with RieHarness(rie_binary, bootstrap, env=env, workdir=tmp_path).start() as rie:
        assert rie.invoke(b'{"hello":1}').body == b'{"hello":1}'
        rie.invoke(b"{}")
        assert rie.wait_for('"lctrace":"invocation"')


def test_layer_style_start(rie_binary: Path, tmp_path: Path) -> None:
    """`python -S .../runtime/wrapper.py` (how the layer starts lctrace) behind RIE."""
    from tests.e2e.rie_harness import layer_style_bootstrap

    bootstrap = layer_style_bootstrap(tmp_path, example_runtime_command())
    env = {"LCTRACE_EXPORTER": "log,jsonl", "LCTRACE_JSONL_PATH": str(tmp_path / "spans.jsonl")}
    with RieHarness(rie_binary, bootstrap, env=env).start() as rie:
        assert rie.invoke(b'{"x":1}').body == b'{"x":1}'
        rie.invoke(b"{}")
        spans = wait_spans(tmp_path / "spans.jsonl", schema.SPAN_INVOCATION)
        assert rie.wait_for('"lctrace":"invocation"')
    assert by_name(spans, schema.SPAN_INVOCATION)[0]["attrs"][schema.ATTR_COLDSTART] is True
