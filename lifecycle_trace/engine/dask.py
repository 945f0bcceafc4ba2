"""`analyze_dask`: the analysis on a Dask (`dask.distributed`) cluster.

1. Each input file (local path, `s3://` object, a glob's or prefix's match) is parsed in a
   worker by the ingest (`read_source`); the records stay on that worker. Only a summary travels
   back: the file's stats, its streams, and its request ids hashed to 64 bits.
2. The driver groups files that share a stream or a request id (`partition.plan_components`)
   and packs the groups into partitions. Each partition is merged where its records are
   (`partition.reduce_partition`: the per-stream steps) and sends back its small tables.
3. The driver concatenates them and runs the global steps (`analysis.model.analyze_merged`:
   cold-start causes across streams, pricing, findings, summaries).
The `Report` equals the single-process one on the same input. dask is imported only here, and
only when called (the `dask` extra).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from lifecycle_trace.analysis.model import Report
from lifecycle_trace.engine import partition, remote
from lifecycle_trace.errors import ConfigError, InputFormatError
from lifecycle_trace.ingest.base import ParsedSource, SourceStats

PARTITION_RECORDS = (20_000, 200_000)
"""Bounds of the records per partition (whole streams are never split): about four partitions
per worker, large enough that per-task overhead stays small."""

MISSING = "the dask engine needs dask.distributed: pip install 'lifecycle-trace[dask]'"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ConfigError(MISSING) from error
    return distributed


def parse_file(path: str, from_directory: bool, input_format: str | None,
               options: dict[str, Any] | None) -> ParsedSource:
    """One input, parsed in a worker as `read_sources` would (an unknown file found in a
    directory, prefix or glob becomes an `unknown` source; named directly, it is an error)."""
    from lifecycle_trace.ingest import read_source

    with remote.using(options):
        try:
            return read_source(path, input_format=input_format)
        except InputFormatError as error:
            if not from_directory:
                raise
            stats = SourceStats(path=path, format="unknown")
            stats.skip(0, str(error).removeprefix(f"{path}: "))
            return ParsedSource(stats=stats)


def _target(total_records: int, client: Any) -> int:
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    low, high = PARTITION_RECORDS
    return int(min(high, max(low, total_records / (4 * workers))))


def _batches_by_worker(client: Any, parsed: list, components: list[list[int]],
                       sizes: list[int], target: int) -> list[tuple[str | None, list[int]]]:
    """Partitions packed per worker: each stream group goes where most of its records were
    parsed, so records move between workers only when a group spans workers."""
    who = client.who_has(parsed)
    homes = [next(iter(who.get(future.key) or ()), None) for future in parsed]
    by_home: dict[str | None, list[list[int]]] = {}
    for component in components:
        weights = Counter({homes[i]: 0 for i in component})
        for i in component:
            weights[homes[i]] += sizes[i]
        by_home.setdefault(weights.most_common(1)[0][0], []).append(component)
    return [(home, batch) for home, group in by_home.items()
            for batch in partition.pack(group, sizes, target)]


@contextlib.contextmanager
def _client(scheduler: str | None, n_workers: int | None, client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    distributed = _distributed()
    if scheduler:
        try:
            # how long to try: Dask's own setting, `distributed.comm.timeouts.connect`
            # (env DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT; 30 s by default)
            connected = distributed.Client(scheduler)
        except OSError as error:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({error})") from error
        with connected:
            yield connected
        return
    workers = n_workers or max(1, min(os.cpu_count() or 1, 4))
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.WARNING) as cluster, \
            distributed.Client(cluster) as local:
        yield local


def analyze_dask(
    paths: Sequence[str] | str,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    client: Any = None,
    storage_options: dict[str, Any] | None = None,
    partition_records: int | None = None,
    input_format: str | None = None,
    **options: Any,
) -> Report:
    """Analyse on Dask: `scheduler` (`tcp://host:port`), an existing `client`, or else a local
    cluster of `n_workers` processes. `paths` may be files, directories, globs and fsspec URLs
    (`s3://bucket/prefix/**`); `storage_options` go to fsspec (default: the S3 endpoint from
    `AWS_ENDPOINT_URL`); `partition_records` forces the partition size. `options` are
    `analyze`'s (function, arch, region, price_per_gb_second, idle_gap_s)."""
    from lifecycle_trace.ingest import _check_format

    _check_format(input_format)
    paths = [paths] if isinstance(paths, str) else list(paths)
    inputs = remote.expand_inputs(paths, storage_options)
    if any(path == "-" for path, _ in inputs):
        raise ConfigError("the dask engine reads files and URLs, not stdin ('-')")
    fs_options = [remote.storage_options(path, storage_options) if remote.is_url(path) else None
                  for path, _ in inputs]
    with _client(scheduler, n_workers, client) as dask_client:
        parsed = [dask_client.submit(parse_file, path, from_dir, input_format, fs_options[i],
                                     pure=False, key=f"lctrace-parse-{i}-{os.urandom(4).hex()}")
                  for i, (path, from_dir) in enumerate(inputs)]
        try:
            keys = dask_client.gather([dask_client.submit(partition.file_keys, future,
                                                          pure=False) for future in parsed])
            sizes = [key.records for key in keys]
            offsets = [0, *itertools.accumulate(sizes)][:-1]
            components = [c for c in partition.plan_components(keys)
                          if sum(sizes[i] for i in c)]
            target = partition_records or _target(sum(sizes), dask_client)
            batches = _batches_by_worker(dask_client, parsed, components, sizes, max(1, target))

            def reduce(indexes: list[int], quote: set[str] | None = None) -> list:
                return dask_client.gather([
                    dask_client.submit(partition.reduce_partition,
                                       [parsed[i] for i in batches[k][1]],
                                       [offsets[i] for i in batches[k][1]], quote, pure=False,
                                       workers=[batches[k][0]] if batches[k][0] else None,
                                       allow_other_workers=True)
                    for k in indexes])

            parts = reduce(list(range(len(batches))))
            return partition.finish(parts, [key.stats for key in keys], options, reduce)
        finally:
            dask_client.cancel(parsed)
