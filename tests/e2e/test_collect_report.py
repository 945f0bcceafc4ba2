"""The report `lctrace analyze` makes of collected files equals the report of the originals.

Seeds moto with the shipped samples (as tests/e2e/test_collect_moto.py does), collects each log
group back through `lctrace collect logs`, and compares `Report.to_dict()` minus `sources`
(which names the files) with the report of the original sample file, and the ingest records
field by field (minus `source`/`line`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lifecycle_trace.cli import main
from tests.e2e import moto_server, test_collect_moto
from tests.e2e.test_collect_moto import SNAPSTART_GROUP, Seeded

pytestmark = pytest.mark.e2e
moto_endpoint = moto_server.moto_endpoint
seeded = test_collect_moto.seeded


def _collect(
    endpoint: moto_server.MotoEndpoint, group: str, start: int, end: int, output: Path
) -> None:
    with pytest.raises(SystemExit) as done:
        main(
            [
                "collect",
                "logs",
                "--log-group",
                group,
                "--start",
                str(start),
                "--end",
                str(end),
                "-o",
                str(output),
                "--endpoint-url",
                endpoint.url,
                "--quiet",
            ]
        )
    assert done.value.code == 0


def _normalise(record: object, keep_function: bool) -> object:
    changes = {"source": "", "line": 0}
    if not keep_function:
        changes["function"] = None
    return dataclasses.replace(record, **changes)


def test_collected_logs_give_the_records_and_report_of_the_originals(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    ingest = pytest.importorskip("lifecycle_trace.ingest")
    import lifecycle_trace

    for index, group in enumerate(sorted(seeded.groups)):
        start, end = seeded.span_ms(group)
        output = tmp_path / f"collected{index}.jsonl.gz"
        _collect(moto_endpoint, group, start, end, output)
        original = seeded.sources[group]
        (collected_source,) = ingest.read_sources([output])
        (original_source,) = ingest.read_sources([original])
        assert collected_source.stats.skipped == 0, collected_source.stats.errors
        # the kinesis sample holds two streams of one group: compare that group's records only
        wanted = set(seeded.groups[group])
        originals = [r for r in original_source.records if r.environment in wanted]
        keep_function = group != SNAPSTART_GROUP  # sam-logs does not name the function
        assert sorted(
            map(repr, (_normalise(r, keep_function) for r in collected_source.records))
        ) == sorted(map(repr, (_normalise(r, keep_function) for r in originals))), group

        ours = lifecycle_trace.analyze([str(output)]).to_dict(invocations=True)
        theirs = lifecycle_trace.analyze([str(original)]).to_dict(invocations=True)
        ours.pop("sources"), theirs.pop("sources")
        if not keep_function:  # the original cannot name the function; all else must agree
            assert ours["summary"] == theirs["summary"]
            for report in (ours, theirs):
                for row in report["invocations"]:
                    row.pop("function")
            assert ours["invocations"] == theirs["invocations"]
            reports = sum(
                m.startswith("REPORT ") for e in seeded.groups[group].values() for _, m in e
            )
            assert len(ours["invocations"]) == reports > 0
            continue
        assert ours == theirs, group
        assert ours["invocations"], group


def test_collected_traces_give_the_records_of_the_documents_sent(
    moto_endpoint, seeded: Seeded, tmp_path: Path
) -> None:
    """X-Ray documents sent with PutTraceSegments, collected back with `collect traces`, read
    as the same records as a `batch-get-traces` file holding those documents."""
    import json

    ingest = pytest.importorskip("lifecycle_trace.ingest")
    from lifecycle_trace import schema
    from lifecycle_trace.records import PhaseSpan

    docs = test_collect_moto._segment_documents()
    sent = [json.dumps(doc) for doc in docs]
    moto_endpoint.client("xray").put_trace_segments(TraceSegmentDocuments=sent)
    collected = tmp_path / "traces.jsonl"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "collect",
                "traces",
                "-f",
                "todo-list-app-dev-postTask",
                "--start",
                "2023-04-12T22:40:00Z",
                "--end",
                "2023-04-12T22:50:00Z",
                "--filter-expression",
                "",
                "-o",
                str(collected),
                "--endpoint-url",
                moto_endpoint.url,
                "--quiet",
            ]
        )
    assert done.value.code == 0
    by_trace: dict[str, list[dict]] = {}
    for doc, text in zip(docs[:3], sent[:3], strict=True):
        by_trace.setdefault(doc["trace_id"], []).append({"Id": doc["id"], "Document": text})
    original = tmp_path / "batch-get-traces.json"
    original.write_text(
        json.dumps(
            {
                "Traces": [{"Id": k, "Segments": v} for k, v in by_trace.items()],
                "UnprocessedTraceIds": [],
            },
            indent=2,
        )
    )
    (ours,) = ingest.read_sources([collected])
    (theirs,) = ingest.read_sources([original])
    assert ours.stats.skipped == 0 and ours.stats.format == theirs.stats.format == "xray"
    normal = sorted(repr(_normalise(r, True)) for r in ours.records)
    assert normal == sorted(repr(_normalise(r, True)) for r in theirs.records)
    init = [r for r in ours.records if isinstance(r, PhaseSpan) and r.phase == schema.SPAN_INIT]
    assert [r.request_id for r in init] == ["516a738f-f972-4d5a-9be9-eb1f3e3e0667"]
