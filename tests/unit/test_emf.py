"""EMF lines: valid per CloudWatch's Embedded Metric Format specification, one per event, the
schema's metric names, never raising."""

from __future__ import annotations

import io
import json

import jsonschema
import pytest

from lifecycle_trace import schema
from lifecycle_trace.runtime.emf import EMF_METRICS, EmfSink
from lifecycle_trace.runtime.phases import InitPhase, InvocationPhases, StuckEvent

ENV = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "AWS_LAMBDA_FUNCTION_VERSION": "7"}
START_NS = 1_764_150_000_123_456_789

# The structure CloudWatch requires (AWS "Specification: Embedded metric format", JSON schema).
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "items": {"type": "string", "minLength": 1},
                                    "maxItems": 30,
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1},
                                        "Unit": {
                                            "enum": ["Milliseconds", "Count", "Seconds", "None"]
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check(line: str) -> dict:
    """Parse one EMF line and check every referenced member the way CloudWatch does."""
    document = json.loads(line)
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(document[dimension], str) and document[dimension], dimension
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool), metric
            assert metric["Name"] in schema.METRICS
    return document


def invocation(**overrides: object) -> InvocationPhases:
    fields: dict[str, object] = dict(
        request_id="8c5b5f4e-1111-2222-3333-444455556666",
        instance="2026/11/26/[7]abc",
        function=None,
        version=None,
        cold=True,
        start_ns=START_NS,
        poll_wait_ms=1.25,
        handler_ms=40.5,
        response_ms=0.3,
        post_response_ms=120.0,
        trigger="http",
        trace_id="1-6745a1b2-0123456789abcdef01234567",
    )
    fields.update(overrides)
    return InvocationPhases(**fields)  # type: ignore[arg-type]


def lines(stream: io.StringIO) -> list[str]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return text.splitlines()


def test_invocation_line_carries_phases_billed_and_counters() -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ=ENV)
    sink.on_invocation(invocation())
    (line,) = lines(out)
    doc = check(line)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "lctrace"
    assert directive["Dimensions"] == [[schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION]]
    assert doc["_aws"]["Timestamp"] == START_NS // 1_000_000
    assert doc[schema.ATTR_FAAS_NAME] == "orders" and doc[schema.ATTR_FAAS_VERSION] == "7"
    assert doc[schema.METRIC_INVOKE_DURATION] == 40.5
    assert doc[schema.METRIC_POST_RESPONSE] == 120.0
    assert doc[schema.METRIC_POLL_WAIT] == 1.25
    assert doc[schema.METRIC_BILLED] == 161  # ceil(40.5 + 0.3 + 120)
    assert (doc[schema.METRIC_COLDSTARTS], doc[schema.METRIC_TIMEOUTS], doc[schema.METRIC_ERRORS]) \
        == (1, 0, 0)  # fmt: skip
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units[schema.METRIC_BILLED] == "Milliseconds"
    assert units[schema.METRIC_COLDSTARTS] == "Count"
    # properties for Logs Insights, not metrics
    assert doc[schema.ATTR_INVOCATION_ID] == "8c5b5f4e-1111-2222-3333-444455556666"
    assert doc[schema.ATTR_TRIGGER] == "http" and doc[schema.ATTR_COLDSTART] is True
    assert doc[schema.ATTR_XRAY_TRACE_ID].startswith("1-")
    assert schema.ATTR_ERROR_TYPE not in doc  # None values are left out


def test_timeout_without_phases_still_counts() -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ=ENV, namespace="team/payments")
    sink.on_invocation(invocation(cold=False, outcome="timeout", handler_ms=None,
                                  response_ms=None, post_response_ms=None))  # fmt: skip
    sink.on_invocation(invocation(cold=False, outcome="crash", error_type="Runtime.ExitError",
                                  post_response_ms=None, function="billing", version="$LATEST"))
    timeout, crash = (check(line) for line in lines(out))
    assert timeout["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "team/payments"
    names = {m["Name"] for m in timeout["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert schema.METRIC_BILLED not in names and schema.METRIC_INVOKE_DURATION not in names
    assert timeout[schema.METRIC_TIMEOUTS] == 1 and timeout[schema.METRIC_ERRORS] == 0
    assert crash[schema.METRIC_ERRORS] == 1 and crash[schema.ATTR_ERROR_TYPE] == "Runtime.ExitError"
    assert crash[schema.ATTR_FAAS_NAME] == "billing"
    assert crash[schema.ATTR_FAAS_VERSION] == "$LATEST"


def test_init_and_stuck_lines() -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ={})
    sink.on_init(InitPhase(instance="i", function="orders", version="7", start_ns=START_NS,
                           init_ms=812.345678))  # fmt: skip
    sink.on_init(InitPhase(instance="i", function="orders", version="7", start_ns=START_NS,
                           init_ms=None, outcome="never_polled"))  # fmt: skip
    sink.on_stuck(StuckEvent(kind="stopped_polling", instance="i", request_id="r-9",
                             start_ns=START_NS, elapsed_ms=2000.0))  # fmt: skip
    init, never, stuck = (check(line) for line in lines(out))
    assert init[schema.METRIC_INIT_DURATION] == 812.346 and schema.METRIC_ERRORS not in init
    assert never[schema.METRIC_ERRORS] == 1 and schema.METRIC_INIT_DURATION not in never
    assert never[schema.ATTR_OUTCOME] == "never_polled"
    assert stuck["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION, schema.ATTR_STUCK_KIND]
    ]
    assert stuck[schema.ATTR_STUCK_KIND] == "stopped_polling" and stuck[schema.METRIC_STUCK] == 1
    assert stuck[schema.ATTR_FAAS_NAME] == "unknown"  # never an empty dimension value
    assert stuck["_aws"]["Timestamp"] == START_NS // 1_000_000 + 2000


def test_binary_stream_gets_utf8_lines() -> None:
    out = io.BytesIO()
    sink = EmfSink(out, environ={**ENV, "AWS_LAMBDA_FUNCTION_NAME": "überfunktion"})
    sink.on_invocation(invocation())
    sink.flush(10)
    text = out.getvalue().decode("utf-8")
    assert check(text.strip())[schema.ATTR_FAAS_NAME] == "überfunktion"


def test_every_emf_metric_is_a_schema_metric() -> None:
    assert set(EMF_METRICS) <= set(schema.METRICS)


def test_closed_stream_drops_and_counts_never_raises() -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ=ENV)
    out.close()
    sink.on_invocation(invocation())
    sink.on_stuck(StuckEvent(kind="no_response", instance="i", request_id="r", start_ns=1,
                             elapsed_ms=1.0))  # fmt: skip
    sink.flush(10)
    sink.shutdown()
    assert sink.dropped == 2  # the two writes (flushing a closed StringIO is a no-op)


@pytest.mark.parametrize("bad", [None, "x", 3])
def test_malformed_records_are_dropped(bad: object) -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ=ENV)
    sink.on_invocation(bad)  # type: ignore[arg-type]
    sink.on_init(bad)  # type: ignore[arg-type]
    assert sink.dropped == 2 and out.getvalue() == ""


def test_no_response_counts_the_timeout_once_in_its_own_directive() -> None:
    out = io.StringIO()
    sink = EmfSink(out, environ=ENV)
    sink.on_stuck(StuckEvent(kind="no_response", instance="i", request_id="r-7", start_ns=START_NS,
                             elapsed_ms=2500.0, function="billing", version="3"))  # fmt: skip
    sink.on_invocation(invocation(request_id="r-7", outcome="timeout", handler_ms=None,
                                  response_ms=None, post_response_ms=None))  # fmt: skip
    stuck, record = (check(line) for line in lines(out))
    directives = stuck["_aws"]["CloudWatchMetrics"]
    assert [d["Dimensions"] for d in directives] == [
        [[schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION, schema.ATTR_STUCK_KIND]],
        [[schema.ATTR_FAAS_NAME, schema.ATTR_FAAS_VERSION]],
    ]
    assert stuck[schema.METRIC_TIMEOUTS] == 1 and stuck[schema.ATTR_FAAS_NAME] == "billing"
    assert record[schema.METRIC_TIMEOUTS] == 0  # already counted by the verdict


def test_each_line_leaves_the_buffer_at_once() -> None:
    """Lambda may freeze or kill the sandbox right after an invoke: nothing may wait in a buffer."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")  # buffered, like sys.stdout on a pipe
    EmfSink(stream, environ=ENV).on_invocation(invocation())
    assert raw.getvalue().endswith(b"\n") and check(raw.getvalue().decode().strip())
