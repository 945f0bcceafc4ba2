"""Output files that survive Ctrl-C, and the `<output>.resume.json` sidecar that resumes them.

Collectors write one *page* at a time (`PageWriter.write`, one call per API page). A `.gz`
output gets one gzip member per page, so every page boundary is a valid end of file: after an
interrupt the file is readable as is, and `--resume` truncates it back to the last page the
sidecar recorded (dropping a page cut in half) and appends from there.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lifecycle_trace.errors import ConfigError

STATE_VERSION = 1


class ResumeStateError(ConfigError):
    """The resume sidecar is missing, unreadable or does not match the command."""


def sidecar_path(output: Path) -> Path:
    """`out.jsonl.gz` -> `out.jsonl.gz.resume.json`."""
    return output.with_name(output.name + ".resume.json")


@dataclass(slots=True)
class ResumeState:
    """What a collection must remember to continue: its query, where the file ends, its
    cursor (`cursor`: a nextToken, pending windows, done trace ids...) and running totals."""

    kind: str
    query: dict[str, Any]
    offset: int = 0
    cursor: Any = None
    totals: dict[str, Any] = field(default_factory=dict)
    version: int = STATE_VERSION


def load_state(output: Path) -> ResumeState | None:
    """The saved state for `output`, None when there is none."""
    path = sidecar_path(output)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
        return ResumeState(**data)
    except (OSError, ValueError, TypeError) as error:
        raise ResumeStateError(f"{path}: unreadable resume state ({error})") from None


def save_state(output: Path, state: ResumeState) -> None:
    """Write the sidecar atomically (temp file + rename), so a kill never leaves half of it."""
    path = sidecar_path(output)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(asdict(state), separators=(",", ":")), encoding="utf-8")
    os.replace(temp, path)


def clear_state(output: Path) -> None:
    """Remove the sidecar once the collection is complete."""
    with contextlib.suppress(FileNotFoundError):
        sidecar_path(output).unlink()


class Checkpointer:
    """Keeps the resume state of the last page that is fully on disk, and persists it at most
    every `interval_s` (a sidecar rewrite per page would cost more than the page for large
    cursors) and always on `flush()` — which `*_to_file` calls when anything interrupts it."""

    def __init__(self, output: Path, state: ResumeState, *, interval_s: float = 1.0) -> None:
        self.output = output
        self.latest = state
        self.interval_s = interval_s
        self._saved_at = time.monotonic()

    def update(self, offset: int, cursor: Any, totals: dict[str, Any]) -> None:
        """Record a consistent point (one assignment, so an interrupt never splits it)."""
        self.latest = replace(self.latest, offset=offset, cursor=cursor, totals=totals)
        if time.monotonic() - self._saved_at >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        save_state(self.output, self.latest)
        self._saved_at = time.monotonic()


@contextlib.contextmanager
def flushed_on_error(saver: Checkpointer) -> Iterator[None]:
    """Persist the last consistent resume state if the block raises (Ctrl-C included)."""
    try:
        yield
    except BaseException:
        saver.flush()
        raise


class PageWriter:
    """A binary stream for collectors: each `write()` is one page, flushed at once; `.gz`
    paths get one gzip member per page. `resume_offset` truncates an existing file there."""

    def __init__(self, path: Path, *, resume_offset: int | None = None) -> None:
        self.path = Path(path)
        self.compress = self.path.name.endswith(".gz")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_offset is None:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        else:
            size = self.path.stat().st_size if self.path.exists() else -1
            if size < resume_offset:
                raise ResumeStateError(
                    f"{self.path} is shorter ({max(size, 0)} bytes) than the resume state "
                    f"records ({resume_offset}); start again with --overwrite"
                )
            self._file = open(self.path, "r+b")  # noqa: SIM115
            self._file.truncate(resume_offset)
            self._file.seek(resume_offset)

    def write(self, data: bytes) -> int:
        """Write one page (empty pages write nothing); return the uncompressed byte count."""
        if not data:
            return 0
        self._file.write(gzip.compress(data, mtime=0) if self.compress else data)
        self._file.flush()
        return len(data)

    def tell(self) -> int:
        """Bytes on disk so far: the offset to resume from after the last page."""
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_for_collection(
    output: Path, kind: str, query: dict[str, Any], *, resume: bool, overwrite: bool
) -> tuple[PageWriter, ResumeState]:
    """Open `output` fresh, or at the saved offset when resuming; check the sidecar matches.

    Refuses to silently restart over an unfinished collection: without `--resume` or
    `--overwrite`, an existing sidecar is an error that says which flag to use.
    """
    state = load_state(output)
    if resume:
        if state is None:
            raise ResumeStateError(
                f"nothing to resume: no {sidecar_path(output).name} next to {output}"
            )
        if state.kind != kind:
            raise ResumeStateError(
                f"{sidecar_path(output)} belongs to `collect {state.kind}`, not `collect {kind}`"
            )
        clashes = [k for k, v in query.items() if v is not None and state.query.get(k) != v]
        if clashes:
            raise ResumeStateError(
                f"--resume continues the saved collection; {', '.join(sorted(clashes))} "
                f"differ from {sidecar_path(output).name} (drop them or use --overwrite)"
            )
        return PageWriter(output, resume_offset=state.offset), state
    if state is not None and not overwrite:
        raise ResumeStateError(
            f"{output} holds an unfinished collection: pass --resume to continue it or "
            "--overwrite to start again"
        )
    state = ResumeState(kind=kind, query=dict(query))
    writer = PageWriter(output)
    save_state(output, state)
    return writer, state
