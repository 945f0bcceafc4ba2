"""The fast path's assembly helpers against the plain ways of doing the same: request ids
numbered across the scanner's tables as `pd.factorize` numbers them, and the read's malloc
settings made in the parent only, once the workers exist, and undone however the read ends."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from lifecycle_trace.ingest import fastpath, fastscan, parallel

ROOT = Path(__file__).resolve().parents[2]


def _table(ids: list[str]) -> fastscan.IdTable:
    return fastscan.IdTable("\0".join(ids).encode())


def test_request_ids_numbered_across_tables_as_factorize_numbers_them() -> None:
    rng = np.random.default_rng(7)
    pool = [str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | k)) for k in range(300)]
    tables_ids = [pool[:120], pool[100:230], [], pool[220:] + pool[:5]]  # shared ids between
    tables = [_table(ids) for ids in tables_ids]
    before = tables[1].decoded().tolist()  # decoded before the numbering: kept as they are
    space = fastpath._IdSpace(tables)
    everything = [text for ids in tables_ids for text in ids]
    codes, uniques = pd.factorize(pd.Series(everything, dtype=object))
    got = np.concatenate([space.codes(table) for table in tables])
    assert got.tolist() == codes.tolist()
    assert space.values().tolist() == list(uniques)
    assert all(type(value) is str for value in space.values())
    for table, ids in zip(tables, tables_ids, strict=True):  # still readable once numbered
        assert table.blob == b""
        assert table.decoded().tolist() == ids
    assert before == tables_ids[1]


def test_request_ids_of_another_length_numbered_as_strings() -> None:
    tables_ids = [["a", "bb", "a"][:2], ["bb", "ccc"]]
    space = fastpath._IdSpace([_table(ids) for ids in tables_ids])
    codes, uniques = pd.factorize(pd.Series(["a", "bb", "bb", "ccc"], dtype=object))
    got = np.concatenate([space.codes(table) for table in space.tables])
    assert got.tolist() == codes.tolist() and space.values().tolist() == list(uniques)


def test_started_called_once_before_this_process_scans(monkeypatch) -> None:
    data = (ROOT / "examples" / "lambda-logs.json").read_bytes()
    order = []
    scan = parallel._scan
    monkeypatch.setattr(parallel, "_scan", lambda bounds: order.append("scan") or scan(bounds))
    chunks = parallel.scan_file(data, "x", workers=1, started=lambda: order.append("started"))
    assert sum(len(chunk.kinds) for chunk in chunks) > 0
    assert order[0] == "started" and order.count("started") == 1 and "scan" in order


def test_started_called_once_the_workers_exist(monkeypatch) -> None:
    data = (ROOT / "examples" / "lambda-logs.json").read_bytes()
    monkeypatch.setattr(parallel, "RANGES_PER_WORKER", 4)
    workers = []

    def started() -> None:
        workers.append(len(multiprocessing.active_children()))

    chunks = parallel.scan_file(data, "x", workers=2, started=started)
    assert sum(len(chunk.kinds) for chunk in chunks) > 0
    assert workers == [2]  # forked before it was called: what it sets is not inherited


def test_read_sets_and_restores_the_mmap_threshold(monkeypatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(fastpath, "_set_mmap_threshold", calls.append)
    monkeypatch.setenv("LCTRACE_FASTPATH", "1")
    found = fastpath.read_fast(str(ROOT / "examples" / "lambda-logs.json"), None)
    assert found is not None
    assert calls == [fastpath.RETURNED_BLOCK, fastpath.KEPT_BLOCK]
    calls.clear()
    bad = tmp_path / "bad.json"  # an export the scanner gives up on: restored all the same
    bad.write_text('{"events": [{"logStreamName": "s", "timestamp": 1, "message": "x", '
                   '"eventId": "1", "ingestionTime": 2}]}')
    assert fastpath.read_fast(str(bad), None) is None
    assert calls[-1] == fastpath.KEPT_BLOCK
