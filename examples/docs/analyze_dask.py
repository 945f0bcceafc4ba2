"""Analyse on Dask: the same report, with parsing spread over workers (large exports, S3).

Usage: python examples/docs/analyze_dask.py [PATH_OR_URL...]
Paths may be directories, globs or fsspec URLs such as s3://bucket/exports/**; on a real cluster
pass scheduler="tcp://scheduler:8786" instead of a local client.
"""

import sys

from dask.distributed import Client, LocalCluster

from lifecycle_trace.engine import analyze_dask


def main(paths: list[str]) -> None:
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1") as cluster,
        Client(cluster) as client,
    ):
        report = analyze_dask(paths, client=client)
    summary = report.summary
    print(f"{summary['invocations']} invocations, {summary['cold_starts']} cold starts")
    print(f"{summary['billed_ms']:.0f} ms billed, ${summary['cost_usd']:.6f}")
    print(f"{len(report.findings)} findings")


if __name__ == "__main__":  # worker processes import this file: start the cluster only here
    main(sys.argv[1:] or ["examples/lambda-logs.json"])
