"""Random, mutated and truncated messages never raise, and nothing is dropped silently: every
message yields records or a counted skip."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.platform import attribute_app_lines, parse_event, parse_platform_object
from lifecycle_trace.records import MAX_APP_TEXT, TELEMETRY, Record, Report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "platform"


def _real_lines() -> list[str]:
    lines = []
    for path in sorted(FIXTURES.rglob("*.log")):
        lines += [line.replace("\\n", "\n") for line in path.read_text().splitlines() if line]
    return lines


REAL = _real_lines()
SETTINGS = settings(
    max_examples=int(os.environ.get("LCTRACE_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def check_one(message: str) -> list[Record]:
    stats = SourceStats("fuzz.log", "test")
    records = parse_event(LogEvent("fuzz.log", 3, "env", None, message, "/aws/lambda/f"), stats)
    assert isinstance(records, list)
    assert records or stats.skipped == 1 or not message.strip(), repr(message)
    for record in records:
        assert isinstance(record, Record)
        assert (record.source, record.line) == ("fuzz.log", 3)
        text = getattr(record, "text", "")
        assert len(text) <= MAX_APP_TEXT
    assert len(stats.errors) == stats.skipped
    return records


@st.composite
def mutated(draw) -> str:
    line = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cut", "replace", "insert", "tabs", "digits", "delete"]))
        if not line:
            break
        at = draw(st.integers(0, len(line) - 1))
        if kind == "cut":
            line = line[:at]
        elif kind == "replace":
            line = line[:at] + draw(st.characters()) + line[at + 1 :]
        elif kind == "insert":
            line = line[:at] + draw(st.text(max_size=5)) + line[at:]
        elif kind == "tabs":
            line = line.replace("\t", " ") if "\t" in line else line.replace(" ", "\t")
        elif kind == "digits":
            line = line.replace(draw(st.sampled_from("0123456789")), draw(st.sampled_from("x.-")))
        else:
            line = line[:at] + line[at + 2 :]
    return line


@SETTINGS
@given(mutated())
def test_mutated_real_lines_never_raise(message: str) -> None:
    check_one(message)


@SETTINGS
@given(st.text(max_size=300))
@example("REPORT RequestId: ")
@example("{")
@example('{"lctrace": 1}')
@example(
    '{"type": "platform.report", "record": {"requestId": "r", "metrics": {"durationMs": 1e400}}}'
)
@example("[INFO] (rapid) INIT REPORT(durationMs: )")
@example("\\t\\n")
def test_random_text_never_raises(message: str) -> None:
    check_one(message)


@SETTINGS
@given(
    st.sampled_from(["REPORT RequestId: r\tDuration: ", "REPORT RequestId: r Duration: "]),
    st.text(alphabet="abcxyz-_ ,.", min_size=1, max_size=8).filter(lambda s: s.strip()),
)
def test_non_numeric_report_durations_are_counted(head: str, value: str) -> None:
    stats = SourceStats("fuzz.log", "test")
    assert parse_event(LogEvent("fuzz.log", 1, None, None, head + value + " ms"), stats) == []
    assert stats.skipped == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
TYPES = [
    "platform.initStart",
    "platform.initRuntimeDone",
    "platform.initReport",
    "platform.start",
    "platform.runtimeDone",
    "platform.report",
    "platform.restoreStart",
    "platform.restoreReport",
    "platform.extension",
    "platform.logsDropped",
    "platform.fault",
    "platform.end",
    "platform.invokeReport",
    "function",
    "extension",
    "other",
]
RECORD_KEYS = [
    "requestId",
    "metrics",
    "spans",
    "tracing",
    "status",
    "errorType",
    "phase",
    "initializationType",
    "version",
    "instanceId",
    "functionName",
    "name",
    "state",
]


@SETTINGS
@given(
    st.sampled_from(TYPES) | st.text(max_size=5),
    st.dictionaries(st.sampled_from(RECORD_KEYS), json_values, max_size=6) | json_values,
    json_values,
)
def test_platform_objects_never_raise(kind: str, record: object, time: object) -> None:
    stats = SourceStats("t.json", "telemetry")
    obj = {"time": time, "type": kind, "record": record}
    records = parse_platform_object(
        obj, source="t.json", line=1, environment=None, dialect=TELEMETRY, stats=stats
    )
    assert records or stats.skipped == 1
    # The same object as a CloudWatch JSON-format message goes the same way.
    message = json.dumps(obj, default=str)
    check_one(message)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(REAL), max_size=40),
    st.lists(st.sampled_from(["a", "b", None]), min_size=40, max_size=40),
)
def test_attribution_keeps_every_record(lines: list[str], environments: list) -> None:
    stats = SourceStats("x", "test")
    records = []
    for number, (line, environment) in enumerate(zip(lines, environments, strict=False), 1):
        records += parse_event(LogEvent("x", number, environment, None, line), stats)
    out = attribute_app_lines(records)
    assert len(out) == len(records)
    for before, after in zip(records, out, strict=True):
        assert type(before) is type(after) and before.line == after.line
        if before.request_id is not None:
            assert after.request_id == before.request_id
        if not isinstance(before, Report):
            assert after.dialect == before.dialect


REPORT_FIELDS = {
    "Duration": ("3016.78 ms", "duration_ms", 3016.78),
    "Billed Duration": ("3101 ms", "billed_ms", 3101.0),
    "Memory Size": ("128 MB", "memory_mb", 128),
    "Max Memory Used": ("31 MB", "max_memory_mb", 31),
    "Init Duration": ("84.00 ms", "init_ms", 84.0),
    "Restore Duration": ("12.50 ms", "restore_ms", 12.5),
    "Billed Restore Duration": ("7 ms", "billed_restore_ms", 7.0),
    "Status": ("timeout", "status", "timeout"),
    "Error Type": ("Sandbox.Timedout", "error_type", "Sandbox.Timedout"),
}


@settings(max_examples=300, deadline=None)
@given(
    st.permutations(list(REPORT_FIELDS)).flatmap(
        lambda keys: st.tuples(
            st.just(keys),
            st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)),
            st.lists(
                st.sampled_from(["\t", " ", "  "]), min_size=len(keys) + 1, max_size=len(keys) + 1
            ),
        )
    ),
    st.sampled_from(["", "\t", "\t\n", " \n"]),
)
def test_report_fields_any_order_subset_and_separators(layout, tail: str) -> None:
    """Any order, any subset (Duration always kept), tabs, spaces or both mixed in one line."""
    keys, keep, separators = layout
    chosen = [key for key, kept in zip(keys, keep, strict=True) if kept or key == "Duration"]
    message = "REPORT RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda"
    for key, separator in zip(chosen, separators, strict=False):
        message += f"{separator}{key}: {REPORT_FIELDS[key][0]}"
    (report,) = check_one(message + tail)
    assert isinstance(report, Report)
    assert report.request_id == "527cb862-4f5e-49a9-9ae4-a7edc90f0fda"
    for key, (_, attribute, value) in REPORT_FIELDS.items():
        assert getattr(report, attribute) == (value if key in chosen else None), (key, message)
