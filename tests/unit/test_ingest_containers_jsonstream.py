"""The streaming JSON walker: same result at any chunk size, bounded reads, resynchronisation."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_trace.ingest.jsonstream import (
    DocumentEnd,
    DocumentStart,
    Element,
    Field,
    Malformed,
    walk,
)

KEYS = frozenset({"events", "logEvents", "Records", "results"})


def _walk(text: str, keys=KEYS, chunk: int = 1 << 20):
    return list(walk(io.StringIO(text), keys, chunk_chars=chunk))


@pytest.mark.parametrize(
    "name",
    [
        "filter-log-events-two-pages.json",
        "insights-results.json",
        "telemetry-batch.json",
        "2020-06-09-[$LATEST]b249865adaaf4fad80f95f8ad09725b8.json",
    ],
)
def test_chunk_size_does_not_change_the_result(fixtures_dir, name):
    text = (fixtures_dir / "containers" / name).read_text()
    expected = _walk(text)
    assert not any(isinstance(item, Malformed) for item in expected)
    for chunk in (1, 2, 7, 64, 1000):
        assert _walk(text, chunk=chunk) == expected, chunk


def test_items_of_two_compact_pages_and_line_numbers():
    text = '{"events":[{"a":1},{"b":2}],"nextToken":"x"}{"events":[]}\n{"events":[{"c":3}]}'
    assert _walk(text) == [
        DocumentStart(1), Element(1, "events", {"a": 1}), Element(1, "events", {"b": 2}),
        Field(1, "nextToken", "x"), DocumentEnd(1),
        DocumentStart(1), DocumentEnd(1),
        DocumentStart(2), Element(2, "events", {"c": 3}), DocumentEnd(2),
    ]


def test_bad_element_is_skipped_alone():
    text = '{"events": [\n{"a": 1},\n{"b": 2,]},\n{"c": 3}\n]}'
    items = _walk(text)
    assert [i.value for i in items if isinstance(i, Element)] == [{"a": 1}, {"c": 3}]
    assert [(i.line, "invalid JSON" in i.reason) for i in items if isinstance(i, Malformed)] == [
        (3, True)
    ]


def test_broken_document_resynchronises_at_the_next_line_object():
    text = '{"events" 1, "x": {"y": [2]}}\n    {"events": [{"ok": true}]}\n'
    for chunk in (1, 5, 33, 1000):
        items = _walk(text, chunk=chunk)
        assert isinstance(items[1], Malformed) and "expected ':'" in items[1].reason
        assert [i for i in items if isinstance(i, Element)] == [Element(2, "events", {"ok": True})]


def test_truncated_input_is_reported_once():
    text = '{"events": [{"a": 1}, {"b": "unterminated'
    items = _walk(text, chunk=5)
    assert [type(i).__name__ for i in items] == ["DocumentStart", "Element", "Malformed"]
    assert items[-1].reason.endswith("at end of input")


def test_numbers_split_across_chunks_are_not_cut():
    assert _walk("12345678901234567890 42", chunk=3) == [
        Element(1, None, 12345678901234567890), Element(1, None, 42)
    ]
    text = '{"events": [1.5, 2e3, -7, 0.25e-2]}'
    for chunk in range(1, len(text) + 1):  # every split point, e.g. `1.` | `5`
        values = [i.value for i in _walk(text, chunk=chunk) if isinstance(i, Element)]
        assert values == [1.5, 2000.0, -7, 0.0025], chunk


def test_whole_objects_mode_and_garbage_between_values():
    items = _walk('{"a": 1} xx {"a": 2}', keys=None)
    assert [type(i).__name__ for i in items] == ["Element", "Malformed", "Element"]
    assert [i.value for i in items if isinstance(i, Element)] == [{"a": 1}, {"a": 2}]


class _LazyEvents(io.TextIOBase):
    """A huge filter-log-events document generated on demand; counts characters handed out."""

    def __init__(self, count: int) -> None:
        event = json.dumps({"logStreamName": "s", "timestamp": 1, "message": "m" * 100})
        self._parts = iter(['{"events": [', *([event + ","] * (count - 1)), event, "]}"])
        self._pending = ""
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        while len(self._pending) < size:
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        out, self._pending = self._pending[:size], self._pending[size:]
        self.served += len(out)
        return out


def test_a_large_document_is_streamed_not_loaded():
    source = _LazyEvents(200_000)  # ~27 MB if materialised
    items = walk(source, KEYS, chunk_chars=64 * 1024)
    first = [next(items) for _ in range(3)]
    assert isinstance(first[2], Element)
    assert source.served <= 64 * 1024 * 2
    count = sum(isinstance(item, Element) for item in [*first, *items])
    assert count == 200_000


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    pages=st.lists(st.lists(_JSON, max_size=5), min_size=1, max_size=3),
    chunk=st.integers(1, 40),
    indent=st.sampled_from([None, 2]),
    separator=st.sampled_from(["", "\n", " \r\n"]),
)
def test_walk_matches_json_loads_at_any_chunk_size(pages, chunk, indent, separator):
    text = separator.join(json.dumps({"events": page, "n": 1}, indent=indent) for page in pages)
    items = _walk(text, chunk=chunk)
    assert [i.value for i in items if isinstance(i, Element)] == [v for p in pages for v in p]
    assert sum(isinstance(i, DocumentEnd) for i in items) == len(pages)
    assert not any(isinstance(i, Malformed) for i in items)


def test_oversized_value_is_given_up_and_reading_resumes(monkeypatch):
    from lifecycle_trace.ingest import jsonstream

    monkeypatch.setattr(jsonstream, "MAX_VALUE_CHARS", 100)
    text = '{"events": [{"a": "' + "x" * 500 + '\n{"events": [{"ok": 1}]}\n'
    items = _walk(text, chunk=10)
    malformed = [i for i in items if isinstance(i, Malformed)]
    assert malformed and "longer than 100 characters" in malformed[0].reason
    assert [i for i in items if isinstance(i, Element)] == [Element(2, "events", {"ok": 1})]
