"""The Dask engine on a real `dask.distributed` cluster (scheduler + 2 worker processes on
127.0.0.1) and S3 through a moto server: the report equals the single-process one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster, get_task_stream

from lifecycle_trace import analyze
from lifecycle_trace.engine import analyze_dask
from lifecycle_trace.engine.remote import expand_inputs
from lifecycle_trace.errors import InputFormatError, InputReadError
from tests.e2e.moto_server import moto_endpoint  # noqa: F401 - session fixture

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dask_throughput import write_generated_export  # noqa: E402


@pytest.fixture(scope="module")
def cluster(moto_endpoint):  # noqa: F811 - workers inherit the fake AWS env moto sets
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster) as connected:
        yield connected


def assert_same(expected, actual) -> None:
    """The whole report (NaN kept visible), and both tables with their dtypes."""

    def dump(report):
        return json.dumps(report.to_dict(invocations=True), allow_nan=True, default=str)

    assert dump(actual) == dump(expected)
    pd.testing.assert_frame_equal(actual.invocations, expected.invocations)
    pd.testing.assert_frame_equal(actual.environments, expected.environments)


def test_every_shared_sample_and_the_example(client, samples_dir: Path) -> None:
    inputs = [
        *sorted(p for p in samples_dir.iterdir() if p.name != "SOURCES.md"),
        samples_dir,
        ROOT / "examples/lambda-logs.json",
    ]
    for path in inputs:
        report = analyze_dask([str(path)], client=client, partition_records=1)  # most split
        assert_same(analyze([str(path)]), report)
    assert report.summary["invocations"] > 20 and report.findings  # the example is not empty


def test_scheduler_address(cluster) -> None:
    path = str(ROOT / "examples/lambda-logs.json")
    report = analyze_dask(
        [path],
        scheduler=cluster.scheduler_address,
        arch="arm64",
        region="eu-west-1",
        function="orders-api",
    )
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert_same(analyze([path], arch="arm64", region="eu-west-1", function="orders-api"), report)


def test_generated_export_split_across_many_files(client, tmp_path: Path) -> None:
    """~2,000 invocations over 40 streams, three objects per stream (and a README), parsed in
    both workers and merged in several partitions."""
    written = write_generated_export(tmp_path, 2000, 40, files_per_stream=3)
    (tmp_path / "README.txt").write_text("exported by the nightly job\n")
    with get_task_stream(client) as tasks:
        report = analyze_dask([str(tmp_path)], client=client, partition_records=3000)
    expected = analyze([str(tmp_path)])
    assert_same(expected, report)
    assert report.summary["invocations"] == 2000 and report.summary["environments"] == 40
    assert len(report.sources) == len(written) + 1
    assert {s.format for s in report.sources} == {"s3-export", "unknown"}
    ran = {
        (
            t["key"].split("-")[0]
            if t["key"].startswith("lctrace")
            else t["key"].rsplit("-", 1)[0],
            t["worker"],
        )
        for t in tasks.data
    }
    parse_workers = {worker for name, worker in ran if name == "lctrace"}
    assert parse_workers == set(client.scheduler_info()["workers"])  # parsing is distributed
    reduces = [t for t in tasks.data if t["key"].startswith("reduce_partition")]
    assert 1 < len(reduces) < 40  # partitions of whole streams, packed


def test_s3_export_through_moto(client, moto_endpoint, tmp_path, monkeypatch) -> None:  # noqa: F811
    written = write_generated_export(tmp_path, 300, 6, files_per_stream=2)
    s3 = moto_endpoint.client("s3")
    s3.create_bucket(Bucket="lambda-logs")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket="lambda-logs",
                Key=f"exports/{path.relative_to(tmp_path)}",
                Body=path.read_bytes(),
            )
    options = {"client_kwargs": {"endpoint_url": moto_endpoint.url}}
    report = analyze_dask(["s3://lambda-logs/exports/**"], client=client, storage_options=options)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint.url)
    urls = [url for url, _ in expand_inputs(["s3://lambda-logs/exports/**"])]
    assert len(urls) == len(written) and not any("aws-logs-write-test" in u for u in urls)
    assert_same(analyze(urls), report)  # single-process reads the same objects
    assert [s.path for s in report.sources] == urls
    assert {s.format for s in report.sources} == {"s3-export"}
    local = analyze([str(tmp_path)])
    assert report.summary == local.summary and report.functions == local.functions
    # One object named exactly (its key holds `[$LATEST]`, not a glob); the endpoint from env.
    one = analyze_dask([urls[0]], client=client)
    assert_same(analyze([urls[0]]), one)


def test_errors_are_the_single_process_errors(client, tmp_path: Path, moto_endpoint) -> None:  # noqa: F811
    notes = tmp_path / "notes.txt"
    notes.write_text("nothing Lambda about this\n")
    with pytest.raises(InputFormatError, match="notes.txt: not a Lambda log"):
        analyze_dask([str(notes)], client=client)
    with pytest.raises(InputReadError, match="no-such-bucket"):
        analyze_dask(
            ["s3://no-such-bucket/exports/000000.gz"],
            client=client,
            storage_options={"client_kwargs": {"endpoint_url": moto_endpoint.url}},
        )
