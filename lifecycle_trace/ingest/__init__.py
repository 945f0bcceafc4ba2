"""Ingest: every log/trace container lctrace reads, turned into records.

`read_sources(paths)` is what `lctrace analyze` calls. For each input the format is sniffed from
its content (or forced with `input_format`), a container reader turns the bytes into CloudWatch
`LogEvent`s (or records, for formats that carry structured fields), and the message parser
(`ingest.platform.parse_event`) turns each event into records. Malformed records are counted in
`SourceStats`; an input in no known format raises `InputFormatError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lifecycle_trace import records
from lifecycle_trace.errors import ConfigError, InputFormatError, InputReadError
from lifecycle_trace.ingest import containers, insights, textlogs
from lifecycle_trace.ingest.base import LogEvent, ParsedSource, SourceStats
from lifecycle_trace.ingest.detect import sniff
from lifecycle_trace.ingest.encoding import as_utf8
from lifecycle_trace.ingest.opening import Opened, open_input

__all__ = ["FORMATS", "FORMAT_DESCRIPTIONS", "read_container", "read_source", "read_sources"]

Item = LogEvent | records.Record
Reader = Callable[[Opened, SourceStats], Iterator[Item]]

_READERS: dict[str, Reader] = {
    "filter-log-events": containers.read_events_document,
    "get-log-events": containers.read_events_document,
    "events-jsonl": containers.read_events_jsonl,
    "tail": textlogs.read_tail,
    "sam-logs": textlogs.read_sam_logs,
    "subscription": containers.read_subscription,
    "lambda-trigger": containers.read_subscription,
    "kinesis": containers.read_subscription,
    "firehose": containers.read_subscription,
    "s3-export": textlogs.read_s3_export,
    "insights-json": insights.read_insights_json,
    "insights-csv": insights.read_insights_csv,
    "console-csv": insights.read_console_csv,
    "plain-text": textlogs.read_plain_text,
    "rie": textlogs.read_rie,
    "telemetry": containers.read_telemetry,
    "json-log-lines": textlogs.read_json_log_lines,
    "invoke-log-result": containers.read_invoke_result,
}
_EXTERNAL = {"otlp-json": "lifecycle_trace.ingest.otlp", "xray": "lifecycle_trace.ingest.xray"}

FORMATS: tuple[str, ...] = (*_READERS, *_EXTERNAL)
"""Every input format name `--input-format` accepts, in detection-report order."""

FORMAT_DESCRIPTIONS: dict[str, str] = {
    "filter-log-events": "aws logs filter-log-events JSON (pages concatenated; --query events)",
    "get-log-events": "aws logs get-log-events JSON (stream taken from the file name)",
    "events-jsonl": "one CloudWatch event object per line (lctrace collect, sam logs --output "
    "json)",
    "tail": "aws logs tail output (detailed, short or --format json; colour codes stripped)",
    "sam-logs": "sam logs output (<stream> <time> <message>)",
    "subscription": "decoded CloudWatch Logs subscription payload(s)",
    "lambda-trigger": 'Lambda subscription trigger event {"awslogs": {"data": ...}}',
    "kinesis": "Kinesis event whose Records[].kinesis.data are subscription payloads",
    "firehose": "Firehose delivery (payloads concatenated, any delimiter) or transformation event",
    "s3-export": "CloudWatch Logs export-to-S3 object (<time> <message>; stream = folder)",
    "insights-json": "Logs Insights results JSON (get-query-results, --query results, console)",
    "insights-csv": "Logs Insights results exported as CSV",
    "console-csv": "CloudWatch console log events download (timestamp,message CSV)",
    "plain-text": "platform and app lines pasted from the console (no stream)",
    "rie": "Runtime Interface Emulator stdout (one file = one environment)",
    "telemetry": "Telemetry API / Logs API batches (JSON arrays of {time, type, record})",
    "json-log-lines": "CloudWatch JSON-log-format lines, one event per line",
    "invoke-log-result": "aws lambda invoke --log-type Tail output (base64 LogResult)",
    "otlp-json": "OTLP/JSON trace lines (lctrace jsonl exporter, Collector file exporter)",
    "xray": "X-Ray batch-get-traces output or segment documents",
}
"""One line per format, for help texts and docs."""

_SKIPPED_FILES = frozenset({"aws-logs-write-test"})  # CloudWatch export's permission probe
_PARSER_FAULTS = (ValueError, OverflowError, TypeError, KeyError, IndexError, AttributeError,
                  RecursionError)
"""Errors the message layer may raise on a message it did not foresee: counted, not fatal."""


def _external_module(name: str):
    """The OTLP-JSON / X-Ray module (owned elsewhere), or None while it is not there."""
    import importlib

    try:
        return importlib.import_module(_EXTERNAL[name])
    except ImportError:
        return None


def _external_detectors() -> dict[str, Callable[[bytes], bool]]:
    found = {}
    for name in _EXTERNAL:
        module = _external_module(name)
        if module is not None and hasattr(module, "detect"):
            found[name] = module.detect
    return found


def _external_reader(name: str) -> Reader:
    module = _external_module(name)
    if module is None or not hasattr(module, "parse"):
        raise InputFormatError(f"input format {name!r} is not available in this installation")

    def read(opened: Opened, stats: SourceStats) -> Iterator[Item]:
        try:
            yield from module.parse(opened.read_all(), opened.name, stats)
        except _PARSER_FAULTS as error:  # what it read so far is kept; the fault is counted
            stats.skip(0, f"{name} parser stopped ({type(error).__name__}: {str(error)[:80]})")

    return read


def _check_format(input_format: str | None) -> None:
    if input_format is not None and input_format not in FORMATS:
        raise ConfigError(
            f"--input-format {input_format!r} is not a known format; choose one of: "
            + ", ".join(FORMATS)
        )


def _iter_container(opened: Opened, input_format: str | None) -> tuple[SourceStats, Iterator[Item]]:
    name = input_format or sniff(opened.head, opened.path, _external_detectors())
    if name is None:
        raise InputFormatError(
            f"{opened.name}: not a Lambda log or trace format lctrace knows "
            f"(tried: {', '.join(FORMATS)}); force one with --input-format"
        )
    stats = SourceStats(path=opened.name, format=name)
    if name == "empty":
        return stats, iter(())
    reader = _READERS.get(name) or _external_reader(name)
    return stats, reader(opened, stats)


def read_container(
    path: str | os.PathLike, *, input_format: str | None = None
) -> tuple[SourceStats, list[Item]]:
    """The container level only: the LogEvents (and direct records) of one input, in file order,
    before message parsing. For tests and tools that want CloudWatch events, not records."""
    _check_format(input_format)
    opened = as_utf8(open_input(path))
    try:
        stats, items = _iter_container(opened, input_format)
        result = list(items)
        if opened.read_error:
            stats.skip(0, opened.read_error)
    finally:
        opened.close()
    return stats, result


def _message_parsers() -> tuple[Callable, Callable[[list], list]]:
    """`platform.parse_event` and `platform.attribute_app_lines` (the message layer)."""
    from lifecycle_trace.ingest import platform

    return platform.parse_event, platform.attribute_app_lines


def read_source(path: str | os.PathLike, *, input_format: str | None = None) -> ParsedSource:
    """Read one input (`-` = stdin, `.gz` transparently) into records, in file order.

    Raises InputFormatError when the input is in no known format (or, with `input_format`, when
    nothing in it could be read as that format), InputReadError when it cannot be opened.
    """
    _check_format(input_format)
    parse_event, attribute_app_lines = _message_parsers()
    opened = as_utf8(open_input(path))
    try:
        stats, items = _iter_container(opened, input_format)
        result: list[records.Record] = []
        for item in items:
            if isinstance(item, LogEvent):
                try:
                    result.extend(parse_event(item, stats))
                except _PARSER_FAULTS as error:  # one odd message must not end a GB file
                    stats.skip(item.line, f"message not parsed ({type(error).__name__}: "
                                          f"{str(error)[:80]})")
            else:
                result.append(item)
        if opened.read_error:
            stats.skip(0, opened.read_error)
    finally:
        opened.close()
    result = attribute_app_lines(result)
    stats.records = len(result)
    if input_format and not result and stats.skipped and not stats.control:
        raise InputFormatError(
            f"{stats.path}: nothing readable as {input_format} "
            f"({stats.skipped} malformed; first: {stats.errors[0]})"
        )
    return ParsedSource(stats=stats, records=result)


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[tuple[str, bool]]:
    """Inputs with directories replaced by their files (recursive, sorted; hidden files and the
    S3 export's `aws-logs-write-test` left out), each with whether it was found in a directory.
    `-` stays stdin."""
    expanded: list[tuple[str, bool]] = []
    for path in paths:
        if str(path) == "-" or not Path(path).is_dir():
            expanded.append((str(path), False))
            continue
        root = Path(path)
        found = sorted(
            str(candidate)
            for candidate in root.rglob("*")
            if candidate.is_file()
            and candidate.name not in _SKIPPED_FILES
            and not any(part.startswith(".") for part in candidate.relative_to(root).parts)
        )
        if not found:
            raise InputReadError(f"{path}: directory holds no files to read")
        expanded.extend((name, True) for name in found)
    return expanded


def read_sources(
    paths: Iterable[str | os.PathLike], *, input_format: str | None = None
) -> list[ParsedSource]:
    """Read every input (directories expand to their files, one source per file).

    A file named on the command line in no known format is an error (InputFormatError). A file
    found inside a directory in no known format (a README next to an export) is not fatal: it
    becomes a source of format "unknown" with one skip saying why, so the report shows it.
    """
    _check_format(input_format)
    parsed: list[ParsedSource] = []
    for path, from_directory in expand_paths(paths):
        try:
            parsed.append(read_source(path, input_format=input_format))
        except InputFormatError as error:
            if not from_directory:
                raise
            stats = SourceStats(path=path, format="unknown")
            stats.skip(0, str(error).removeprefix(f"{path}: "))
            parsed.append(ParsedSource(stats=stats))
    return parsed
