"""Open one input (a path or `-` for stdin) as a stream, gunzipping by magic bytes.

The first `HEAD_BYTES` of the (decompressed) content are read ahead for format sniffing and then
replayed, so the same code works for files, pipes and stdin without seeking. A gzip stream that
turns out corrupt or truncated part-way is not fatal: reading stops there and `read_error` says
why, so the caller can count it (`SourceStats.skip`) and keep what was read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lifecycle_trace.errors import InputFormatError, InputReadError

HEAD_BYTES = 64 * 1024
"""How much of an input is read ahead to sniff its format."""

GZIP_MAGIC = b"\x1f\x8b"
STDIN_NAME = "<stdin>"


class _Replay(io.RawIOBase):
    """A raw reader that first returns `head`, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(slots=True)
class _ErrorNote:
    """Where a decompression error is written down (shared by the reader and the opener)."""

    message: str | None = None
    offset: int = 0


class _Guarded(io.RawIOBase):
    """Reads a gzip stream; a corrupt or truncated member ends the stream instead of raising."""

    def __init__(self, inner: BinaryIO, note: _ErrorNote) -> None:
        self._inner = inner
        self._note = note

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._note.message is not None:
            return 0
        try:
            data = self._inner.read1(len(buffer))  # type: ignore[attr-defined]
        except (EOFError, OSError, zlib.error) as error:
            offset = self._note.offset
            self._note.message = f"gzip data corrupt or truncated after {offset} bytes ({error})"
            return 0
        self._note.offset += len(data)
        buffer[: len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO, size: int) -> bytes:
    """Read up to `size` bytes, looping over short reads (pipes)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


@dataclass(slots=True)
class Opened:
    """An opened input: `head` (first bytes, decompressed), `binary` (all of it, head included)."""

    name: str
    path: Path | None
    head: bytes
    binary: BinaryIO
    compressed: bool
    _note: _ErrorNote = field(default_factory=_ErrorNote)
    _closers: list = field(default_factory=list)

    @property
    def read_error(self) -> str | None:
        """Why reading stopped early (corrupt gzip), or None when the whole input was read."""
        return self._note.message

    def text(self) -> io.TextIOWrapper:
        """The content as text: UTF-8 (BOM dropped), undecodable bytes replaced, any newline."""
        wrapper = io.TextIOWrapper(
            self.binary, encoding="utf-8-sig", errors="replace", newline=None
        )
        self._closers.append(wrapper)
        return wrapper

    def read_all(self) -> bytes:
        """Everything (for formats that need the whole document, e.g. X-Ray, OTLP JSON)."""
        return self.binary.read()

    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(OSError, ValueError):
                closer.close()


def _open_url(url: str) -> BinaryIO:
    """An `s3://...` (any fsspec) URL, opened by `lifecycle_trace.engine.remote` (needs the
    `dask` extra: fsspec, s3fs)."""
    from lifecycle_trace.engine.remote import open_url

    return open_url(url)


def open_input(path: str | os.PathLike) -> Opened:
    """Open `path` (`-` = stdin) for reading; raise InputReadError when it cannot be opened."""
    closers: list = []
    if str(path) == "-":
        name, file_path = STDIN_NAME, None
        raw: BinaryIO = sys.stdin.buffer
    else:
        file_path = Path(path)
        name = str(path)
        try:
            # closed by Opened.close; URLs (s3://...) open through fsspec
            raw = _open_url(name) if "://" in name else open(file_path, "rb")  # noqa: SIM115
        except OSError as error:
            raise InputReadError(f"{name}: cannot open: {error.strerror or error}") from error
        closers.append(raw)
    try:
        raw_head = _read_head(raw, HEAD_BYTES)
    except OSError as error:
        raise InputReadError(f"{name}: cannot read: {error.strerror or error}") from error
    replay = io.BufferedReader(_Replay(raw_head, raw), buffer_size=HEAD_BYTES)
    note = _ErrorNote()
    if not raw_head.startswith(GZIP_MAGIC):
        return Opened(name, file_path, raw_head, replay, False, note, closers)
    guarded = io.BufferedReader(_Guarded(gzip.GzipFile(fileobj=replay, mode="rb"), note))
    head = _read_head(guarded, HEAD_BYTES)
    if not head and note.message is not None:
        for closer in closers:
            closer.close()
        raise InputFormatError(f"{name}: starts like gzip but is not readable: {note.message}")
    binary = io.BufferedReader(_Replay(head, guarded), buffer_size=HEAD_BYTES)
    return Opened(name, file_path, head, binary, True, note, closers)
