"""The engine-neutral split behind the Dask engine (`lifecycle_trace.engine.partition`), run in
process: planning partitions, concatenating them like one frame, and -- the contract -- the
partitioned analysis giving the single-process report, value for value, on real inputs."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lifecycle_trace import analyze
from lifecycle_trace.engine import partition
from lifecycle_trace.engine.transport import ship, unship
from lifecycle_trace.ingest import read_sources
from lifecycle_trace.ingest.base import ParsedSource, SourceStats
from tests.fixtures.analysis import builders as b

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dask_throughput import write_generated_export, write_s3_export  # noqa: E402


def partitioned(paths: list[str], target: int = 1, **options: object):
    """The Dask engine's steps without Dask: per-file keys, plan, reduce each partition, then
    the driver's end. `target=1` gives one partition per component (the most splitting)."""
    return partitioned_sources(read_sources(paths), target, **options)


def partitioned_sources(parsed: list[ParsedSource], target: int = 1, **options: object):
    keys = [partition.file_keys(p) for p in parsed]
    sizes = [k.records for k in keys]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    components = [c for c in partition.plan_components(keys) if sum(sizes[i] for i in c)]
    batches = partition.pack(components, sizes, target)

    def reduce(indexes: list[int], quote: set[str] | None = None) -> list[partition.Part]:
        return [partition.reduce_partition([parsed[i] for i in batches[k]],
                                           [offsets[i] for i in batches[k]], quote)
                for k in indexes]

    report = partition.finish(reduce(list(range(len(batches)))), [k.stats for k in keys],
                              options, reduce)
    return report, batches


def assert_same(expected, actual) -> None:
    """Reports equal: the whole JSON (NaN kept visible) and both tables, dtypes included."""
    dump = json.dumps
    assert dump(actual.to_dict(invocations=True), allow_nan=True, default=str) == dump(
        expected.to_dict(invocations=True), allow_nan=True, default=str)
    pd.testing.assert_frame_equal(actual.invocations, expected.invocations)
    pd.testing.assert_frame_equal(actual.environments, expected.environments)


def _source(name: str, records: list) -> ParsedSource:
    return ParsedSource(SourceStats(path=name, format="test", records=len(records)), records)


def test_components_link_files_by_stream_and_by_request_id() -> None:
    s1, s2, s3 = b.stream(1), b.stream(2), b.stream(3)
    sources = [
        _source("a", b.invoke(s1, "r1", 0, 10, 10)),
        _source("b", b.invoke(s2, "r2", 0, 10, 10)),
        _source("c", b.invoke(s1, "r3", 100, 10, 10)),          # same stream as a
        _source("d", b.invoke(None, "r2", 0, 10, 10)),          # no stream; r2 is b's
        _source("e", b.invoke(s3, "r4", 0, 10, 10)),
        _source("f", []),
    ]
    keys = [partition.file_keys(s) for s in sources]
    assert keys[3].environments == ["source:fixture.log"]
    assert partition.plan_components(keys) == [[0, 2], [1, 3], [4], [5]]


def test_a_stand_in_stream_joins_the_stream_its_marker_names() -> None:
    """RIE output names no stream; the merge joins it to the stream a wrapper marker in it names
    (`instance`), so the two files must be one partition."""
    from lifecycle_trace import records as r
    from lifecycle_trace.analysis.model import analyze_sources

    real = b.stream(7)
    marker = ('{"lctrace": "stuck", "kind": "never_polled", "request_id": null, '
              f'"elapsed_ms": 9000, "instance": "{real}"}}')
    rie = _source("rie.log", [
        r.InitStart(**b._base("rie:rie.log", 0, None, dialect=r.RIE, source="rie.log")),
        r.StuckMarker(**b._base("rie:rie.log", 9000, None, dialect=r.RIE, source="rie.log",
                                kind="never_polled", elapsed_ms=9000.0, text=marker))])
    logs = _source("logs.json", b.invoke(real, "r9", 20_000, 10, 10))
    keys = [partition.file_keys(s) for s in (rie, logs)]
    assert real in keys[0].environments
    assert partition.plan_components(keys) == [[0, 1]]
    expected = analyze_sources([rie, logs])
    assert_same(expected, partitioned_sources([rie, logs])[0])


def test_per_stream_extras_of_the_merge_reach_the_driver() -> None:
    """The merge's other per-stream outputs (here: the function a marker names for a stream
    whose invocations name none) are combined too."""
    from lifecycle_trace import records as r
    from lifecycle_trace.analysis.model import analyze_sources

    one, two = b.stream(1), b.stream(2)
    marker = r.StuckMarker(**b._base(one, 50, "r1", kind="no_response", elapsed_ms=40.0,
                                     function="orders-fn", text="stuck"))
    sources = [_source("a.json", [*b.invoke(one, "r1", 0, 100, 100), marker]),
               _source("b.json", b.invoke(two, "r2", 0, 100, 100))]
    expected = analyze_sources(sources)
    assert expected.invocations["function"].tolist()[:1] == ["orders-fn"]
    report, batches = partitioned_sources(sources)
    assert len(batches) == 2
    assert_same(expected, report)


def test_pack_keeps_components_whole_and_in_order() -> None:
    components = [[0, 2], [1], [3], [4, 5]]
    sizes = [5, 5, 5, 5, 5, 5]
    assert partition.pack(components, sizes, 10) == [[0, 2], [1, 3], [4, 5]]
    assert partition.pack(components, sizes, 1000) == [[0, 1, 2, 3, 4, 5]]


def test_concat_like_one_gives_the_dtypes_of_one_frame() -> None:
    rows_a = {"x": [None, None], "s": [None, None], "flag": [True, False], "n": [1, 2]}
    rows_b = {"x": [1.5, None], "s": ["p", "q"], "flag": [None, None], "n": [3, 4]}
    whole = pd.DataFrame({k: rows_a[k] + rows_b[k] for k in rows_a})
    parts = [pd.DataFrame(rows_a), pd.DataFrame(rows_b, index=[2, 3])]
    assert parts[0]["x"].dtype == object  # all-None part: the naive concat would be object
    combined = partition.concat_like_one(parts)
    pd.testing.assert_frame_equal(combined, whole)
    missing = partition.concat_like_one([pd.DataFrame({"n": [1]}),
                                         pd.DataFrame({"n": [2], "s": ["z"]}, index=[1])])
    assert missing["s"].isna().tolist() == [True, False] and missing["n"].tolist() == [1, 2]


def test_partitioned_equals_single_process_across_formats(fixtures_dir: Path) -> None:
    """Logs, traces, RIE and Insights fixtures read together: request ids join streams across
    files (X-Ray and OTLP records carry no log stream), so partitions follow those links."""
    files = [str(p) for p in sorted(fixtures_dir.rglob("*"))
             if p.is_file() and p.suffix not in (".md", ".py")
             and p.name not in ("app-lines.log", "insights-get-query-results.json")]
    report, batches = partitioned(files)
    assert_same(analyze(files), report)
    linked = [batch for batch in batches if len(batch) > 1]
    assert any(any("traces" in files[i] for i in batch) for batch in linked)


def test_partitioned_equals_single_process_on_an_export_split_by_stream(tmp_path: Path) -> None:
    """The README example (cold starts of every cause, timeouts, never-polled, OOM, SnapStart)
    as an S3 export, two objects per stream: causes need the other streams' invocations."""
    from lifecycle_trace.ingest import read_container

    _, events = read_container(ROOT / "examples/lambda-logs.json")
    write_s3_export(tmp_path, [{"logStreamName": e.environment, "timestamp": e.timestamp_ms,
                                "message": e.message} for e in events], files_per_stream=2)
    expected = analyze([str(tmp_path)])
    report, batches = partitioned([str(tmp_path)])
    assert len(batches) == expected.summary["environments"] > 4
    assert_same(expected, report)
    assert set(expected.summary["cold_starts_by_cause"]) >= {"replacement", "scale_out"}


def test_partitions_ship_only_small_tables(tmp_path: Path) -> None:
    write_generated_export(tmp_path, 400, 4)
    sources = [p for p in read_sources([str(tmp_path)]) if p.records]
    part = partition.reduce_partition(sources[:1], [0])
    n_records = len(sources[0].records)
    invocations = unship(part.invocations)
    assert len(invocations) == 100 and invocations.index.is_unique
    assert len(part.events) < n_records / 20  # per stream a handful of events, not all
    quoted = sum(len(f) for kind, f in part.frames.items() if kind != "StuckMarker")
    problems = invocations["report_status"].isin(["timeout", "error"]).sum()
    assert 0 < quoted <= 3 * problems  # only the evidence of this stream's findings
    assert len(pickle.dumps(part.invocations)) * 3 < len(pickle.dumps(invocations))


def test_shipping_restores_the_frame_exactly() -> None:
    frame = pd.DataFrame({
        "none": pd.Series([None, None, None], dtype=object),
        "nan": pd.Series([np.nan] * 3, dtype=object),
        "float": [np.nan] * 3, "str_na": pd.Series([np.nan] * 3, dtype="str"),
        "path": pd.Series(["a.gz", "a.gz", None], dtype="str"),
        "mixed": pd.Series([True, None, 1.5], dtype=object), "n": [1, 2, 3],
    }).set_axis(pd.Index(["r1", "r2", "r3"], name="request_id"))
    frame = pd.concat([frame] * 3)
    shipped = ship(frame)
    assert set(shipped.nulls) == {"none", "nan", "float", "str_na"}
    assert shipped.categorized == ["path"]
    pd.testing.assert_frame_equal(unship(shipped), frame)
    assert unship(shipped)["none"].tolist()[0] is None


def test_records_of_a_stream_split_over_files_stay_one_partition(tmp_path: Path) -> None:
    write_generated_export(tmp_path, 300, 5, files_per_stream=3)
    report, batches = partitioned([str(tmp_path)])
    assert len(batches) == 5 and all(len(batch) == 3 for batch in batches)
    assert_same(analyze([str(tmp_path)]), report)


@pytest.mark.parametrize("pattern", ["*/2026/01/01/*/000001.gz", "**/*.gz"])
def test_local_globs_expand_sorted_without_the_write_probe(tmp_path: Path, pattern) -> None:
    from lifecycle_trace.engine.remote import expand_inputs

    written = write_generated_export(tmp_path, 60, 3, files_per_stream=2)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "000009.gz").write_bytes(b"")
    found = expand_inputs([str(tmp_path / pattern)])
    names = [name for name, _ in found]
    expected = sorted(str(p) for p in written if pattern.startswith("**") or
                      p.name == "000001.gz")
    assert names == expected and all(from_glob for _, from_glob in found)
    directory = expand_inputs([str(tmp_path)])
    assert [n for n, _ in directory] == sorted(str(p) for p in written)


def test_evidence_missed_by_a_partition_is_fetched_in_a_second_round(monkeypatch) -> None:
    """If the partitions' superset ever misses an invocation a finding quotes, the driver asks
    those partitions again: the evidence is still the single-process evidence."""
    from lifecycle_trace.engine import quoting

    asked: list[set[str]] = []
    real = partition.reduce_partition

    def spy(sources, offsets, quote=None):
        if quote:
            asked.append(set(quote))
        return real(sources, offsets, quote)

    monkeypatch.setattr(quoting, "candidates", lambda raw: set())
    monkeypatch.setattr(partition, "reduce_partition", spy)
    path = str(ROOT / "examples/lambda-logs.json")
    report, _ = partitioned([path])
    expected = analyze([path])
    assert_same(expected, report)
    assert asked and asked[0] >= {f.request_id for f in expected.findings if f.request_id}
