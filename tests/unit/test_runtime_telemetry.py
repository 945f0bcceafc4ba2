"""Exporter selection, the `log` line contract and the OTLP/JSON encoding."""

from __future__ import annotations

import json

import pytest

from lifecycle_trace import config, schema
from lifecycle_trace.runtime import wrapper
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases
from lifecycle_trace.runtime.telemetry import LogSink, select_exporters


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["log"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"LCTRACE_EXPORTER": "jsonl, LOG,jsonl"}, ["jsonl", "log"]),
        ({"LCTRACE_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, ["none"]),
        ({"LCTRACE_EXPORTER": "xray,emf"}, ["xray", "emf"]),
    ],
)
def test_select_exporters(environ: dict, expected: list[str]) -> None:
    assert select_exporters(environ) == expected


def test_unknown_exporter_is_named_and_ignored(capfd: pytest.CaptureFixture[str]) -> None:
    assert select_exporters({"LCTRACE_EXPORTER": "zipkin"}) == ["log"]
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "'zipkin'" in err and "LCTRACE_EXPORTER" in err


def record(**overrides) -> InvocationPhases:  # type: ignore[no-untyped-def]
    values = dict(
        request_id="r1",
        instance="stream",
        function="fn",
        version="3",
        cold=True,
        start_ns=1_700_000_000_123_456_789,
        poll_wait_ms=1.23456,
        handler_ms=20.0,
        response_ms=0.5,
        post_response_ms=2.0,
        trigger="http",
        event_source="aws:apigateway",
        event_payload=None,
    )
    values.update(overrides)
    return InvocationPhases(**values)


def test_log_lines_keep_to_the_contract() -> None:
    lines: list[str] = []
    sink = LogSink(lines.append)
    sink.on_init(
        InitPhase(instance="stream", function="fn", version="3", start_ns=5_000_000, init_ms=80.5)
    )
    sink.on_invocation(record())
    sink.on_invocation(record(request_id="r2", cold=False, outcome="error", error_type="E"))
    init, first, second = (json.loads(line) for line in lines)
    assert init == {
        "lctrace": "init",
        "instance": "stream",
        "function": "fn",
        "version": "3",
        "init_ms": 80.5,
        "outcome": "success",
        "error_type": None,
        "initialization_type": None,
        "start_ms": 5,
    }
    assert first["lctrace"] == schema.MARKER_INVOCATION
    assert set(first) == {"lctrace", "error_type", *schema.LOG_FIELDS}
    assert first["init_ms"] == 80.5 and second["init_ms"] is None
    assert first["poll_wait_ms"] == 1.235 and first["start_ms"] == 1_700_000_000_123
    assert (second["outcome"], second["error_type"]) == ("error", "E")
    assert all("\n" not in line and " " not in line.replace('" ', "") for line in lines[:1])


def test_wrapper_reads_the_same_variable_names_as_config() -> None:
    assert config.DISABLE.name == wrapper.ENV_DISABLE
    assert config.PROXY_PORT.name == wrapper.ENV_PROXY_PORT
    assert config.NEVER_POLLED_MS.name == wrapper.ENV_NEVER_POLLED_MS
    assert str(wrapper.DEFAULT_NEVER_POLLED_MS) == config.NEVER_POLLED_MS.default


@pytest.mark.parametrize(
    "fields",
    [
        {"cold": True, "handler_ms": None, "response_ms": float("nan"), "function": 'f\u00e9"x'},
        {"cold": False, "poll_wait_ms": 1e20, "response_ms": -0.0004, "function": None},
        {"cold": False, "post_response_ms": float("-inf"), "request_id": "r\n2", "version": None},
    ],
)
def test_log_line_is_what_json_dumps_gives(fields: dict) -> None:
    """The invocation line is assembled by hand (it is on the /next path): same bytes."""
    import json

    from lifecycle_trace.runtime.phases import InvocationPhases

    base = {
        "request_id": "r-1",
        "instance": "2026/11/26/[$LATEST]abc",
        "function": "fn",
        "version": "$LATEST",
        "start_ns": 1_790_000_000_123_456_789,
        "poll_wait_ms": 0.1234567,
        "handler_ms": 2.5,
        "response_ms": 0.25,
        "post_response_ms": 0.0567,
        "event_source": "aws:sqs",
        "error_type": None,
    }
    rec = InvocationPhases(**{**base, **fields})
    lines: list[str] = []
    sink = LogSink(lines.append)
    sink.init_ms = 12.34567
    sink.on_invocation(rec)
    sink.on_invocation(rec)
    assert lines[0] == lines[1] == json.dumps(sink.invocation_line(rec), separators=(",", ":"))
