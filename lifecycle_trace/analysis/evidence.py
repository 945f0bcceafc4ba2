"""Quote records as evidence: `file:line: <the line>`.

Lines with free text (timeouts, crashes, function output, markers) are quoted as read; platform
lines are rebuilt from their fields in AWS's text layout (the parsers keep fields, not bytes), so
a JSON-format `platform.report` is quoted as the equivalent REPORT line with its dialect noted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

EVIDENCE_KINDS = (
    "InitStart", "InitReport", "InitRuntimeDone", "RestoreReport", "Start", "Report",
    "RuntimeDone", "TimedOut", "RuntimeExit", "StuckMarker", "WrapperInvocation", "PhaseSpan",
)
MAX_EVIDENCE = 6
RENDERED = (
    "seq", "source", "line", "request_id", "text", "duration_ms", "billed_ms", "memory_mb",
    "max_memory_mb", "init_ms", "restore_ms", "billed_restore_ms", "status", "error_type", "phase",
    "runtime_version", "initialization_type", "outcome", "poll_wait_ms", "handler_ms",
    "response_ms", "post_response_ms", "version", "kind", "elapsed_ms", "dialect",
)
"""The fields `render` reads (`collect` passes only these)."""


def _num(value: object, digits: int = 2) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    number = float(value)  # type: ignore[arg-type]
    return f"{number:.{digits}f}" if digits else f"{number:g}"


def _fields(pairs: Iterable[tuple[str, str | None, str]]) -> str:
    return "\t".join(f"{key}: {value}{unit}" for key, value, unit in pairs if value is not None)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def render(kind: str, row: dict) -> str:
    """One record as the line it stands for."""
    get = row.get
    rid = get("request_id")
    if kind in ("TimedOut", "RuntimeExit", "StuckMarker") and _present(get("text")):
        text = str(get("text"))
    elif kind == "Report":
        fields = (_field_texts(label, [get(name)], digits, unit)[0]
                  for label, name, digits, unit in REPORT_FIELDS)
        text = "REPORT " + "\t".join(field for field in fields if field is not None)
    elif kind == "InitReport":
        text = "INIT_REPORT " + _fields([
            ("Init Duration", _num(get("duration_ms")), " ms"),
            ("Phase", get("phase") if _present(get("phase")) else None, ""),
            ("Status", get("status") if _present(get("status")) else None, ""),
            ("Error Type", get("error_type") if _present(get("error_type")) else None, ""),
        ])
    elif kind == "InitStart":
        text = "INIT_START " + _fields([
            ("Runtime Version", get("runtime_version") if _present(get("runtime_version"))
             else None, ""),
            ("Initialization Type", get("initialization_type")
             if _present(get("initialization_type")) else None, ""),
        ])
    elif kind == "RestoreReport":
        text = "RESTORE_REPORT " + _fields([
            ("Restore Duration", _num(get("duration_ms")), " ms"),
            ("Status", get("status") if _present(get("status")) else None, ""),
            ("Error Type", get("error_type") if _present(get("error_type")) else None, ""),
        ])
    elif kind == "PhaseSpan":
        text = (f"span {get('phase')} {_num(get('duration_ms'), 3)} ms"
                + (f" outcome {get('outcome')}" if _present(get("outcome")) else "")
                + f" request {rid}")
    elif kind == "WrapperInvocation":
        phases = ", ".join(f"{name} {_num(get(name + '_ms'), 1)} ms" for name in
                           ("poll_wait", "handler", "response", "post_response")
                           if _present(get(name + "_ms")))
        text = f"lctrace invocation {rid}: {phases} outcome {get('outcome')}"
    elif kind == "Start":
        text = f"START RequestId: {rid} Version: {get('version')}"
    elif kind == "StuckMarker":
        text = (f'{{"lctrace": "stuck", "kind": "{get("kind")}", "request_id": "{rid}", '
                f'"elapsed_ms": {_num(get("elapsed_ms"), 0)}}}')
    else:
        text = f"{kind} " + _fields([("RequestId", rid, ""), ("Status", get("status"), "")])
    return _located(get("source"), get("line"), text, get("dialect"))


def _located(source: object, line: object, text: str, dialect: object) -> str:
    """The quoted line: where it is, what it says, and its dialect unless plain text."""
    return f"{source}:{line}: {text.rstrip()}{_note(dialect)}"


def _note(dialect: object) -> str:
    """What follows a quoted line: its dialect, unless plain text."""
    return f" [{dialect}]" if _present(dialect) and dialect not in ("text", "rie") else ""


def collect(
    frames: dict[str, pd.DataFrame], key: str, wanted: set, kinds: Iterable[str] = EVIDENCE_KINDS
) -> dict[object, list[tuple[int, str]]]:
    """Rendered evidence for every record whose `key` column (owner or env) is in `wanted`,
    as (seq, line) lists so callers can keep file order."""
    out: dict[object, list[tuple[int, str]]] = defaultdict(list)
    if not wanted:
        return out
    for kind in kinds:
        frame = frames.get(kind)
        if frame is None or frame.empty or key not in frame:
            continue
        hit = _members(frame[key], wanted)
        if not len(hit):
            continue
        for owner, seq, line in _rendered(kind, frame, key, hit):
            out[owner].append((seq, line))
    return out


def collect_owned(frames: dict[str, pd.DataFrame], owners: np.ndarray, wanted: set,
                  kinds: Iterable[str] = EVIDENCE_KINDS
                  ) -> dict[object, list[tuple[int, str]]] | None:
    """`collect(frames, "owner", wanted)` for the invocations whose keys are `wanted` and
    owner codes `owners`: records are found by their integer `owner_code` (no hashing of a
    million key strings per record type). None when a record found that way is not owned by
    one of `wanted` (codes that do not match the keys: `collect` by key instead)."""
    out: dict[object, list[tuple[int, str]]] = defaultdict(list)
    if not wanted:
        return out
    table = np.zeros(int(owners.max(initial=-1)) + 2, dtype=bool)  # the last slot: no owner
    table[owners] = True
    last = len(table) - 1
    for kind in kinds:
        frame = frames.get(kind)
        if frame is None or frame.empty or "owner" not in frame:
            continue
        if "owner_code" not in frame:
            return None
        codes = frame["owner_code"].to_numpy()
        hit = np.flatnonzero(table[np.where((codes < 0) | (codes > last), last, codes)])
        if not len(hit):
            continue
        for owner, seq, line in _rendered(kind, frame, "owner", hit):
            if owner not in wanted:
                return None
            out[owner].append((seq, line))
    return out


def _members(column: pd.Series, wanted: set) -> np.ndarray:
    """Positions of the rows whose value is in `wanted` (`column.isin(wanted)`). With no
    missing value among `wanted`, asked of the set itself: the keys' string hashes are cached,
    so this is a third of the time of pandas' hashing of a million strings."""
    if any(value is None or value != value for value in wanted):
        return np.flatnonzero(column.isin(wanted).to_numpy())
    values = column.to_numpy(dtype=object)
    try:
        found = np.fromiter(map(wanted.__contains__, values), dtype=bool, count=len(values))
    except TypeError:  # an unhashable value: pandas compares it
        return np.flatnonzero(column.isin(wanted).to_numpy())
    return np.flatnonzero(found)


def _records(frame: pd.DataFrame, names: list[str], rows: np.ndarray | None = None
             ) -> list[dict]:
    """`frame.iloc[rows][names].to_dict("records")` (plain Python numbers, missing text as
    NaN), without its per-value boxing of text columns or a copy of the other columns."""
    columns = _columns(frame, names, rows)
    return [dict(zip(names, values, strict=True))
            for values in zip(*(columns[name] for name in names), strict=True)]


def _columns(frame: pd.DataFrame, names: list[str], rows: np.ndarray | None = None
             ) -> dict[str, list]:
    """The `rows` of each column as a list (what `_records` puts in its dicts)."""
    columns = {}
    for name in names:
        column = frame[name]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
            values = column.to_numpy()
        else:
            values = column.to_numpy(dtype=object)
        columns[name] = (values if rows is None else values[rows]).tolist()
    return columns


REPORT_FIELDS = (
    ("RequestId", "request_id", None, ""), ("Duration", "duration_ms", 2, " ms"),
    ("Billed Duration", "billed_ms", 0, " ms"), ("Memory Size", "memory_mb", 0, " MB"),
    ("Max Memory Used", "max_memory_mb", 0, " MB"), ("Init Duration", "init_ms", 2, " ms"),
    ("Restore Duration", "restore_ms", 2, " ms"),
    ("Billed Restore Duration", "billed_restore_ms", 0, " ms"),
    ("Status", "status", -1, ""), ("Error Type", "error_type", -1, ""),
)
"""The REPORT line's fields as `render` writes them: label, column, digits (None: as is,
-1: text when present) and unit."""


def _rendered(kind: str, frame: pd.DataFrame, key: str, rows: np.ndarray
              ) -> list[tuple[object, int, str]]:
    """(key, seq, line) of the records at `rows`: `render` of each row's dict, worked column
    by column for the two kinds most quoted (START and REPORT lines, one each per
    invocation; no dict per record)."""
    names = [key, *(name for name in RENDERED if name in frame and name != key)]
    columns = _columns(frame, names, rows)
    n = len(rows)
    if kind == "Start":
        version = columns.get("version", [None] * n)
        texts = [f"START RequestId: {rid} Version: {v}"
                 for rid, v in zip(columns.get("request_id", [None] * n), version, strict=True)]
    elif kind == "Report":
        parts = [_field_texts(label, columns.get(name, [None] * n), digits, unit,
                              _is_numeric(frame, name))
                 for label, name, digits, unit in REPORT_FIELDS]
        texts = ["REPORT " + "\t".join(part for part in row if part is not None)
                 for row in zip(*parts, strict=True)]
    else:
        return [(row[key], int(row["seq"]), render(kind, row)) for row in (
            dict(zip(names, values, strict=True))
            for values in zip(*(columns[name] for name in names), strict=True))]
    dialects = columns.get("dialect", [None] * n)
    notes = {dialect: _note(dialect) for dialect in set(dialects) if isinstance(dialect, str)}
    return [(owner, int(seq), f"{source}:{line}: {text.rstrip()}"
             f"{notes[dialect] if type(dialect) is str else _note(dialect)}")
            for owner, seq, source, line, text, dialect in zip(
                columns[key], columns["seq"], columns.get("source", [None] * n),
                columns.get("line", [None] * n), texts, dialects, strict=True)]


def _is_numeric(frame: pd.DataFrame, name: str) -> bool:
    """A numpy int or float column (its values come out as Python ints and floats)."""
    dtype = frame[name].dtype if name in frame else None
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _field_texts(label: str, values: list, digits: int | None, unit: str,
                 numeric: bool = False) -> list[str | None]:
    """`<label>: <value><unit>` per row (None where `_fields` leaves the field out). Values of
    a `numeric` column (Python ints and floats) are formatted as `_num` formats them, without
    a call per value."""
    if digits is None:
        return [None if value is None else f"{label}: {value}{unit}" for value in values]
    if digits < 0:
        return [f"{label}: {value}{unit}" if _present(value) else None for value in values]
    if numeric and digits == 2:  # (a fixed format spec: twice as fast as a computed one)
        return [None if value != value else f"{label}: {value:.2f}{unit}" for value in values]
    if numeric and digits == 0:
        return [None if value != value else f"{label}: {value:g}{unit}" for value in values]
    numbers = map(_num, values, [digits] * len(values))
    return [None if number is None else f"{label}: {number}{unit}" for number in numbers]


def pick(lines: list[tuple[int, str]], limit: int = MAX_EVIDENCE) -> list[str]:
    """Evidence in file order, capped, saying how many more there were."""
    ordered = [text for _, text in sorted(set(lines))]
    if len(ordered) > limit:
        return [*ordered[:limit], f"... and {len(ordered) - limit} more lines"]
    return ordered
