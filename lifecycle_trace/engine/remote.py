"""Inputs beyond local files: fsspec URLs (`s3://bucket/prefix/...`) and globs.

`expand_inputs` turns what the user typed into the ordered list of files the analysis reads, the
way `lifecycle_trace.ingest.expand_paths` does for local paths (it is used for those): a
directory or S3 prefix expands to its files, sorted, leaving out hidden files and the export's
`aws-logs-write-test` probe; a glob (`*`, `?`, `[`, `**`) expands the same way. `open_url` opens
one URL for `lifecycle_trace.ingest.opening` (so single-process `analyze` reads `s3://` objects
too). S3 goes through s3fs; its endpoint comes from `storage_options`, else `AWS_ENDPOINT_URL_S3`
/ `AWS_ENDPOINT_URL` (moto, MinIO, LocalStack). fsspec is imported only when a URL or glob is used.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from lifecycle_trace.errors import ConfigError, InputReadError

SKIPPED_NAMES = frozenset({"aws-logs-write-test"})
"""Objects an S3 export holds that are not logs (CloudWatch's write-permission probe)."""

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_GLOB_CHARS = frozenset("*?[")
_OPTIONS: ContextVar[dict[str, Any] | None] = ContextVar("lctrace_storage_options", default=None)


def is_url(path: str) -> bool:
    """`s3://...`, `gs://...`, `file://...`: anything fsspec opens by protocol."""
    return "://" in str(path)


def has_glob(path: str) -> bool:
    return any(char in str(path) for char in _GLOB_CHARS)


def storage_options(url: str, explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """fsspec options for `url`: the explicit ones, else those set by `using()`, plus for S3 an
    endpoint from the environment when none is given."""
    options = dict(explicit if explicit is not None else (_OPTIONS.get() or {}))
    if str(url).split("://", 1)[0] in ("s3", "s3a") and "client_kwargs" not in options:
        endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


@contextlib.contextmanager
def using(options: dict[str, Any] | None) -> Iterator[None]:
    """Make `options` the storage options of every URL opened in this context (a worker task)."""
    token = _OPTIONS.set(options)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError as error:
        raise ConfigError("reading URLs or globs needs fsspec/s3fs: "
                          "pip install 'lifecycle-trace[dask]'") from error
    return fsspec


def open_url(url: str) -> BinaryIO:
    """Open one URL for reading (binary); errors become `InputReadError` naming the URL."""
    fsspec = _fsspec()
    try:
        return fsspec.open(url, "rb", **storage_options(url)).open()
    except ImportError as error:  # e.g. s3fs missing for s3://
        raise ConfigError(f"{url}: {error}") from error
    except OSError:
        raise
    except Exception as error:  # botocore and friends: one line, not a traceback
        raise InputReadError(f"{url}: cannot open: {error}") from error


def _kept(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return bool(parts) and parts[-1] not in SKIPPED_NAMES and not any(
        part.startswith(".") for part in parts)


def _glob_root(path: str) -> str:
    """The part of a glob before its first wildcard segment (hidden-file checks start there)."""
    kept: list[str] = []
    for part in path.split("/"):
        if has_glob(part):
            break
        kept.append(part)
    return "/".join(kept)


def _expand_url(url: str, options: dict[str, Any]) -> list[tuple[str, bool]]:
    fsspec = _fsspec()
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
        if fs.isdir(root):
            base = root
            names = fs.find(root)
        elif has_glob(root) and not fs.isfile(root):  # stream names hold `[`: literal first
            found = fs.glob(root, detail=True)
            base = _glob_root(root)
            names = [name for name, info in found.items() if info.get("type") == "file"]
        else:
            return [(url, False)]
    except (ImportError, ValueError) as error:
        raise ConfigError(f"{url}: {error}") from error
    except OSError as error:
        raise InputReadError(f"{url}: cannot list: {error}") from error
    protocol = url.split("://", 1)[0]
    files = sorted(name for name in names
                   if _kept(name[len(base):].lstrip("/") if name.startswith(base) else name))
    if not files:
        raise InputReadError(f"{url}: matches no files to read")
    return [(f"{protocol}://{name}", True) for name in files]


def _expand_local_glob(pattern: str) -> list[tuple[str, bool]]:
    base = _glob_root(pattern)
    found = sorted(name for name in glob.glob(pattern, recursive=True) if os.path.isfile(name))
    files = [name for name in found
             if _kept(os.path.relpath(name, base or ".").replace(os.sep, "/"))]
    if not files:
        raise InputReadError(f"{pattern}: matches no files to read")
    return [(name, True) for name in files]


def expand_inputs(
    paths: Iterable[str | os.PathLike], options: dict[str, Any] | None = None
) -> list[tuple[str, bool]]:
    """Every input file, in order, each with whether it came from a directory/prefix/glob (a file
    there in no known format is reported as a source, not fatal). `-` stays stdin."""
    from lifecycle_trace.ingest import expand_paths

    out: list[tuple[str, bool]] = []
    for raw in paths:
        path = str(raw)
        if is_url(path):
            out.extend(_expand_url(path, storage_options(path, options)))
        elif path != "-" and has_glob(path) and not os.path.exists(path):
            out.extend(_expand_local_glob(path))
        else:
            out.extend(expand_paths([path]))
    return out
