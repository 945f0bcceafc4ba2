"""Throughput of `lctrace analyze` single-process vs the Dask engine with 1 and 2 workers.

Generates a CloudWatch-export-to-S3-shaped tree (`<dir>/<exportTaskId>/<logStreamName>/
000000.gz`, one folder per stream, gzipped `<iso time> <message>` lines) from
`generate_export.generate`, then times, after a warm-up on a small input, best and median of
`--repeats` runs: `analyze(dir)` in this process; `analyze_dask(dir)` on a local cluster of 1
and of 2 worker processes (cluster start-up timed apart); the reports are checked equal. For
the Dask runs it also prints the workers' compute seconds per step (parse, keys, reduce) from
the task stream: on a shared machine wall time says little, these say where the work went.

Usage: python benchmarks/dask_throughput.py [--invocations 100000] [--streams 200] [--dir D]
`write_s3_export` and `write_generated_export` are also used by the tests.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_export import _iso, generate  # noqa: E402

TASK_ID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def write_s3_export(root: Path, events: Iterable[dict], files_per_stream: int = 1,
                    task_id: str = TASK_ID) -> list[Path]:
    """Write FilterLogEvents-style event dicts as a CloudWatch S3 export under `root`; each
    stream's events (in time order) are split over `files_per_stream` objects. Also writes the
    `aws-logs-write-test` probe object the export leaves. Returns the object paths."""
    by_stream: dict[str, list[str]] = defaultdict(list)
    for event in events:
        message = str(event["message"]).rstrip("\n")
        by_stream[event["logStreamName"]].append(f"{_iso(float(event['timestamp']))} {message}\n")
    written = []
    base = root / task_id
    base.mkdir(parents=True, exist_ok=True)
    (base / "aws-logs-write-test").write_text("Permission Check Successful")
    for stream, lines in by_stream.items():
        folder = base / stream
        folder.mkdir(parents=True, exist_ok=True)
        chunk = -(-len(lines) // max(1, files_per_stream))
        for number, start in enumerate(range(0, len(lines), chunk)):
            path = folder / f"{number:06d}.gz"
            path.write_bytes(gzip.compress("".join(lines[start:start + chunk]).encode(), 1))
            written.append(path)
    return written


def write_generated_export(root: Path, invocations: int, streams: int,
                           files_per_stream: int = 1) -> list[Path]:
    """`generate_export.generate(invocations, streams)` written as an S3 export."""
    return write_s3_export(root, generate(invocations, streams), files_per_stream)


def _timed(label: str, repeats: int, run, *args, **kwargs):
    """Run `repeats` times; print best and median wall seconds; return (result, best)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(*args, **kwargs)
        times.append(time.perf_counter() - start)
    print(f"{label:<30} best {min(times):7.2f} s   median {statistics.median(times):7.2f} s",
          flush=True)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="reuse/keep the export here")
    args = parser.parse_args()

    from distributed import Client, LocalCluster, get_task_stream

    from lifecycle_trace import analyze
    from lifecycle_trace.engine.dask import analyze_dask

    with tempfile.TemporaryDirectory() as scratch:
        root = args.dir or Path(scratch) / "export"
        if not root.exists():
            _timed("generate", 1, write_generated_export, root, args.invocations, args.streams)
        files = sorted(p for p in root.rglob("*.gz"))
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"{len(files)} objects, {size:.1f} MB gzipped, {args.invocations} invocations, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        warm = Path(scratch) / "warm"
        write_generated_export(warm, 200, 4)
        analyze([str(warm)])
        single, base = _timed("single-process", args.repeats, analyze, [str(root)])
        expected = single.to_json(invocations=True)
        for workers in (1, 2):
            (cluster, _) = _timed(f"dask: start {workers} worker(s)", 1, LocalCluster,
                                  n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR)
            with cluster, Client(cluster) as client:
                analyze_dask([str(warm)], client=client)
                with get_task_stream(client) as stream:
                    report, seconds = _timed(f"dask: {workers} worker(s)", args.repeats,
                                             analyze_dask, [str(root)], client=client)
            steps: dict[str, float] = defaultdict(float)
            for task in stream.data:
                step = task["key"].split("-")[0]
                steps[step] += sum(s["stop"] - s["start"] for s in task["startstops"]
                                   if s["action"] == "compute") / args.repeats
            print("  worker compute per run: " + ", ".join(
                f"{'parse' if k == 'lctrace' else k} {v:.2f} s" for k, v in sorted(steps.items())))
            same = report.to_json(invocations=True) == expected
            print(f"  {args.invocations / seconds:,.0f} invocations/s "
                  f"({base / seconds:.2f}x single-process), report identical: {same}")
        print(f"single-process: {args.invocations / base:,.0f} invocations/s "
              f"(load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
