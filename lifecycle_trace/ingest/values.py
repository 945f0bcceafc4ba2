"""Small value parsers shared by the container readers: times, stream names, colour codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
"""ANSI colour/style escape (aws logs tail --color on, sam logs)."""

STREAM_NAME = re.compile(r"^\d{4}/[01]\d/[0-3]\d/[^/\s]{0,75}\[[^\]\s]{1,129}\][0-9a-f]{32}$")
"""A Lambda log stream name (`YYYY/MM/DD/[$LATEST]<32 hex>`, or with a function name in a
custom log group); see reference §4.7."""

_STREAM_IN_NAME = re.compile(
    r"(\d{4})[/_.-]([01]\d)[/_.-]([0-3]\d)[/_.-]([\w.$-]{0,75}\[[^\]\s/]{1,129}\][0-9a-f]{32})"
)


def strip_ansi(text: str) -> str:
    """Remove colour codes."""
    return ANSI.sub("", text) if "\x1b" in text else text


def iso_to_ms(text: str) -> float:
    """Epoch milliseconds of an ISO-8601 time; a time without zone is UTC (AWS tools print UTC).

    Accepts `2026-07-22T03:52:30.669000+00:00`, `...Z`, `2022-05-02 20:58:14.456` (Insights).
    Raises ValueError on anything else.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds / 1000


def number_ms(value: object) -> float:
    """A JSON epoch-ms timestamp (int, float or numeric string) as float; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            raise ValueError(f"not a number: {value!r}")
    except OverflowError:
        raise ValueError("number out of range") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {value!r}")
    return result


def any_time_ms(value: object) -> float:
    """Epoch ms from a number or an ISO string (JSON log lines, console CSV)."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return iso_to_ms(value)
    return number_ms(value)


def stream_from_name(path: Path | None) -> str | None:
    """The log stream a file is named after (`get-log-events` saved per stream), or None.

    File names cannot hold `/`, so `2024/05/09/[$LATEST]abc…` arrives as `2024-05-09-[$LATEST]abc…`,
    `2024_05_09_…`, URL-encoded, or as folders `2024/05/09/[$LATEST]abc….json`.
    """
    if path is None:
        return None
    tail = "/".join(path.parts[-4:])
    for candidate in (unquote(path.name), unquote(tail)):
        match = _STREAM_IN_NAME.search(candidate)
        if match:
            name = "/".join(match.groups())
            if STREAM_NAME.match(name):
                return name
    return None


def stream_from_export_path(path: Path | None) -> str | None:
    """The log stream of a CloudWatch export object `<task>/<stream>/000000.gz`.

    Stream names hold `/` (`2020/06/09/[$LATEST]b24…`), so the key spreads over four folders;
    they are joined back. Other layouts give the parent folder name.
    """
    if path is None:
        return None
    folders = path.absolute().parent.parts
    if len(folders) >= 4:
        joined = "/".join(folders[-4:])
        if STREAM_NAME.match(joined):
            return joined
    return folders[-1] if folders and folders[-1] not in ("", ".", "/") else None
