"""CloudWatch Logs Insights results and console CSV downloads (reference §4.3, §4.6).

A row with `@message` is a log event like any other. A row with only Lambda's discovered fields
(`@type`, `@requestId`, `@duration`, ...) is turned into a record directly, dialect INSIGHTS;
Insights returns memory in bytes (MB x 1 000 000, possibly as `"1.28E8"`), converted back to MB.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator

from lifecycle_trace import records
from lifecycle_trace.ingest.base import LogEvent, SourceStats
from lifecycle_trace.ingest.jsonstream import Element, Malformed, walk
from lifecycle_trace.ingest.opening import Opened
from lifecycle_trace.ingest.values import any_time_ms, iso_to_ms

Item = LogEvent | records.Record

_RESULTS = frozenset({"results"})
_BYTES_PER_MB = 1_000_000

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # CloudWatch events are up to 256 KB


class _BadRow(ValueError):
    pass


def _number(row: dict[str, str], name: str) -> float | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise _BadRow(f"{name} is not a number: {str(value)[:40]!r}") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise _BadRow(f"{name} is not a finite number: {value!r}")
    return result


def _megabytes(row: dict[str, str], name: str) -> int | None:
    value = _number(row, name)
    return None if value is None else round(value / _BYTES_PER_MB)


def _function(group: str | None) -> str | None:
    if group and group.startswith("/aws/lambda/"):
        return group[len("/aws/lambda/") :] or None
    return None


def row_item(row: dict[str, str], *, source: str, line: int, stats: SourceStats) -> Item | None:
    """One Insights row (field -> string value) as a LogEvent or a record; None when counted."""
    try:
        stamp = row.get("@timestamp")
        timestamp_ms = iso_to_ms(stamp) if stamp else None
    except (TypeError, ValueError):
        stats.skip(line, f"@timestamp is not 'YYYY-MM-DD HH:MM:SS.mmm': {str(stamp)[:40]!r}")
        return None
    stream = row.get("@logStream") or None
    log = row.get("@log") or ""
    group = log.split(":", 1)[1] if ":" in log else (log or None)
    message = row.get("@message")
    if message is not None:
        return LogEvent(source, line, stream, timestamp_ms, str(message), group)
    kind = (row.get("@type") or "").strip().upper()
    common = dict(
        source=source,
        line=line,
        environment=stream,
        timestamp_ms=timestamp_ms,
        request_id=row.get("@requestId") or None,
        function=_function(group),
        dialect=records.INSIGHTS,
    )
    try:
        if kind == "REPORT":
            return records.Report(
                **common,
                duration_ms=_number(row, "@duration"),
                billed_ms=_number(row, "@billedDuration"),
                memory_mb=_megabytes(row, "@memorySize"),
                max_memory_mb=_megabytes(row, "@maxMemoryUsed"),
                init_ms=_number(row, "@initDuration"),
                trace_id=row.get("@xrayTraceId") or None,
                segment_id=row.get("@xraySegmentId") or None,
            )
    except _BadRow as error:
        stats.skip(line, str(error))
        return None
    if kind == "START":
        return records.Start(**common)
    if kind == "END":
        return records.End(**common)
    stats.skip(line, "row has neither @message nor a Lambda @type (START/END/REPORT)")
    return None


def _row_dict(value: object) -> dict[str, str] | None:
    """`[{"field": "@timestamp", "value": "..."}, ...]` (API) or `{"@timestamp": "...", ...}`
    (console JSON download) -> {field: value}; None otherwise."""
    if isinstance(value, dict):
        return {str(key): cell if isinstance(cell, str) else str(cell)
                for key, cell in value.items()}
    if not isinstance(value, list):
        return None
    row: dict[str, str] = {}
    for cell in value:
        if not isinstance(cell, dict) or not isinstance(cell.get("field"), str):
            return None
        cell_value = cell.get("value")
        row[cell["field"]] = cell_value if isinstance(cell_value, str) else str(cell_value)
    return row


def read_insights_json(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """`aws logs get-query-results` output (`{"results": [[{field, value}, ...], ...]}`), also a
    bare list of rows (`--query results`)."""
    for item in walk(opened.text(), _RESULTS):
        if isinstance(item, Malformed):
            stats.skip(item.line, item.reason)
        elif isinstance(item, Element):
            row = _row_dict(item.value)
            if row is None:
                stats.skip(item.line, "Insights row is neither a list of {field, value} nor an "
                                      "object of fields")
                continue
            result = row_item(row, source=opened.name, line=item.line, stats=stats)
            if result is not None:
                yield result


def _csv_rows(opened: Opened, stats: SourceStats) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank CSV row; a row the csv module rejects is counted as
    skipped at its line and reading goes on."""
    reader = csv.reader(opened.text())
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = reader.line_num
            stats.skip(start, f"bad CSV ({error})")
            continue
        line = reader.line_num
        if any(cell.strip() for cell in cells):
            yield start, cells


def read_insights_csv(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """Insights results exported as CSV: a header row of field names, then one row per result."""
    header: list[str] | None = None
    for start, cells in _csv_rows(opened, stats):
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) != len(header):
            stats.skip(start, f"CSV row has {len(cells)} cells, header has {len(header)}")
            continue
        row = {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}
        result = row_item(row, source=opened.name, line=start, stats=stats)
        if result is not None:
            yield result


def read_console_csv(opened: Opened, stats: SourceStats) -> Iterator[Item]:
    """The CloudWatch console's "download CSV": `timestamp,message`, messages quoted (their
    trailing newline kept inside the quotes). Timestamps are epoch ms or ISO."""
    seen_header = False
    for start, cells in _csv_rows(opened, stats):
        if not seen_header:
            seen_header = True
            if [cell.strip().lower() for cell in cells] == ["timestamp", "message"]:
                continue
        if len(cells) != 2:
            stats.skip(start, f"expected 2 cells (timestamp, message), found {len(cells)}")
            continue
        try:
            timestamp_ms = any_time_ms(cells[0])
        except (ValueError, OverflowError):
            stats.skip(start, f"timestamp is neither epoch ms nor ISO: {cells[0][:40]!r}")
            continue
        yield LogEvent(opened.name, start, None, timestamp_ms, cells[1])
