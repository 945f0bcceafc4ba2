"""Time ranges for collection: `--since 2h` or `--start/--end`, as epoch milliseconds (UTC)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lifecycle_trace.errors import ConfigError

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open `[start_ms, end_ms)` in epoch milliseconds."""

    start_ms: int
    end_ms: int

    def describe(self) -> str:
        """`2024-05-09 10:00:00 to 2024-05-09 12:00:00 UTC`, for messages."""
        return f"{_iso(self.start_ms)} to {_iso(self.end_ms)} UTC"


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_duration_s(text: str) -> float:
    """`90s`, `30m`, `2h`, `1d`, `1w` -> seconds; ConfigError naming the expected form."""
    match = _SINCE.match(text or "")
    if not match:
        raise ConfigError(f"--since {text!r}: expected a number and a unit, like 30m, 2h or 7d")
    return float(match.group(1)) * _UNITS_S[match.group(2).lower()]


def parse_instant_ms(text: str, *, option: str = "--start") -> int:
    """ISO 8601 (naive = UTC), a date, epoch seconds or milliseconds, or `now` -> epoch ms."""
    value = (text or "").strip()
    if value.lower() == "now":
        return int(time.time() * 1000)
    if re.fullmatch(r"\d{9,13}", value):
        number = int(value)
        return number if len(value) >= 12 else number * 1000
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: expected ISO 8601 (2024-05-09T10:00:00Z), a date, "
            "epoch seconds/milliseconds or 'now'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def resolve_range(
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    *,
    now_ms: int | None = None,
    default_since: str = "1h",
) -> TimeRange:
    """One `TimeRange` from the CLI's options: `--since` XOR `--start` (with optional `--end`)."""
    if since and start:
        raise ConfigError("give either --since or --start/--end, not both")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    end_ms = parse_instant_ms(end, option="--end") if end else now_ms
    if start:
        start_ms = parse_instant_ms(start, option="--start")
    else:
        start_ms = end_ms - int(parse_duration_s(since or default_since) * 1000)
    if start_ms >= end_ms:
        raise ConfigError(f"the time range is empty: start {_iso(start_ms)} is not before end "
                          f"{_iso(end_ms)} (UTC)")
    return TimeRange(start_ms, end_ms)
