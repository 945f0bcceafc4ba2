"""The report contract's JSON written in pieces: byte for byte `json.dumps(doc, indent=indent,
allow_nan=False)`, but the long lists of records (a million invocations, tens of thousands of
findings) are encoded column by column and written a batch of rows at a time.

Python's `json` indents with its pure-Python encoder (the C one does not indent): a generator
call per value, and the whole text held in memory before it is written. Here a list of records
is a `Rows` (its columns, not a dict per row); each column is turned into JSON texts in one
pass (numbers by their `repr`, text by the C string encoder, as `json` does), and each row's
text is filled into one template of its keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from json.encoder import encode_basestring_ascii
from typing import IO

import numpy as np
import pandas as pd

BATCH = 20_000
"""Rows encoded and written at a time (the text of one batch is held, not the whole list)."""


class Rows:
    """A list of dicts that all have the same keys (`names`, in order), given as columns: each
    column is a list of JSON-ready values, or a callable giving a batch (`start`, `stop`) of
    them as JSON texts at an indentation level (`FrameRows` makes those from a DataFrame)."""

    def __init__(self, names: Sequence[str], length: int,
                 columns: Sequence[Sequence[object] | Callable[[int, int, int, int], list[str]]]
                 ) -> None:
        self.names = list(names)
        self.length = length
        self.columns = list(columns)

    def texts(self, index: int, start: int, stop: int, level: int, indent: int) -> list[str]:
        """The JSON texts of column `index`, rows `start` to `stop`, as values at `level`."""
        column = self.columns[index]
        if callable(column):
            return column(start, stop, level, indent)
        return texts_of(column[start:stop], level, indent)


def frame_rows(frame: pd.DataFrame) -> Rows:
    """The rows of `frame` as `model.frame_records` makes them (timestamps ISO-8601 UTC to the
    millisecond, NaN/NA and infinities as null, numpy scalars as Python's), column by column."""
    columns = [_frame_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return Rows([str(name) for name in frame.columns], len(frame), columns)


def _frame_column(series: pd.Series) -> Callable[[int, int, int, int], list[str]]:
    """A column's batches of JSON texts (what `frame_records` gives, then `json` writes)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        if len(values) and np.isnan(values).all():
            return lambda start, stop, level, indent: ["null"] * (stop - start)
        return lambda start, stop, level, indent: _float_texts(values[start:stop])
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        values = series.to_numpy()
        return lambda start, stop, level, indent: list(map(int.__repr__,
                                                           values[start:stop].tolist()))
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        values = series.to_numpy()
        words = np.array(["false", "true"], dtype=object)
        return lambda start, stop, level, indent: words[values[start:stop].view(np.uint8)
                                                        ].tolist()
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _time_column(series)
    values = series.to_numpy(dtype=object)
    missing = series.isna().to_numpy(dtype=bool)

    def texts(start: int, stop: int, level: int, indent: int) -> list[str]:
        part, absent = values[start:stop], missing[start:stop]
        encode = encode_basestring_ascii
        if not absent.any():  # (text inline, anything else by `cell_text`)
            return [encode(value) if type(value) is str else cell_text(value, level, indent)
                    for value in part]
        return ["null" if none else encode(value) if type(value) is str
                else cell_text(value, level, indent)
                for value, none in zip(part, absent.tolist(), strict=True)]

    return texts


def _float_texts(values: np.ndarray) -> list[str]:
    """`json` texts of floats, non-finite ones as null (`frame_records` makes them None). A
    column of few distinct values (sizes, whole milliseconds) has each written once."""
    if len(values) > 64 and not (np.signbit(values) & (values == 0)).any():  # (-0.0 is 0.0
        # to `np.unique`, not to `repr`)
        distinct, inverse = np.unique(values, return_inverse=True)
        if len(distinct) * 4 < len(values):
            texts = np.array(_float_texts(distinct), dtype=object)
            return texts[inverse].tolist()
    out = list(map(float.__repr__, values.tolist()))
    for row in np.flatnonzero(~np.isfinite(values)):
        out[row] = "null"
    return out


def _time_column(series: pd.Series) -> Callable[[int, int, int, int], list[str]]:
    """Timestamps as `frame_records` writes them: `strftime("%Y-%m-%dT%H:%M:%S.%fZ")` cut to
    the millisecond, plus "Z" (numpy's ISO text of the UTC instant at millisecond precision
    is that text, for years 1000-9999 and instants after 1970; else pandas makes it)."""
    utc = series.array._ndarray  # the UTC instants, datetime64 of the column's unit
    known = utc[~np.isnat(utc)]
    years = known[[known.argmin(), known.argmax()]].astype("datetime64[Y]").astype(np.int64) \
        + 1970 if len(known) else np.array([1970])
    if years.min() < 1970 or years.max() > 9999:
        texts = (series.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.slice(0, 23) + "Z")
        shown = [None if not isinstance(text, str) else encode_basestring_ascii(text)
                 for text in texts.to_numpy(dtype=object)]
        return lambda start, stop, level, indent: [
            "null" if text is None else text for text in shown[start:stop]]

    def texts(start: int, stop: int, level: int, indent: int) -> list[str]:
        part = utc[start:stop]
        out = ['"' + text + 'Z"' for text in np.datetime_as_string(part, unit="ms").tolist()]
        for row in np.flatnonzero(np.isnat(part)):
            out[row] = "null"
        return out

    return texts


def cell_text(value: object, level: int, indent: int) -> str:
    """One table cell as `frame_records` gives it (numpy scalars as Python's, NaN/NA and
    infinities as null) in JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "null"  # (where `value_text` refuses them: a table's cell has none)
    return value_text(value, level, indent)


def texts_of(values: Sequence[object], level: int, indent: int) -> list[str]:
    """`value_text` of each value, the usual kinds (text, None, lists of text) inline."""
    encode = encode_basestring_ascii
    inner = "\n" + " " * (indent * (level + 1))
    between, close = "," + inner, "\n" + " " * (indent * level) + "]"
    out = []
    add = out.append
    for value in values:
        kind = type(value)
        if kind is str:
            add(encode(value))
        elif value is None:
            add("null")
        elif kind is float and math.isfinite(value):
            add(float.__repr__(value))
        elif kind is list and value:
            try:  # (the C encoder takes text only: anything else is written by `value_text`)
                add("[" + inner + between.join(map(encode, value)) + close)
            except TypeError:
                add(value_text(value, level, indent))
        elif kind is list:
            add("[]")
        else:
            add(value_text(value, level, indent))
    return out


def value_text(value: object, level: int, indent: int) -> str:
    """`json.dumps(value, indent=indent, allow_nan=False)` as written at nesting `level` (every
    line after the first indented by the level), with the usual values (text, None, numbers,
    lists of text) done here."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is list and all(type(item) is str for item in value):
        if not value:
            return "[]"
        inner = "\n" + " " * (indent * (level + 1))
        return ("[" + inner + ("," + inner).join(map(encode_basestring_ascii, value))
                + "\n" + " " * (indent * level) + "]")
    text = json.dumps(value, indent=indent, allow_nan=False)
    return text.replace("\n", "\n" + " " * (indent * level)) if level else text


def write(doc: object, out: IO[str], indent: int = 2) -> None:
    """Write `doc` (JSON-ready values, with `Rows` for lists of records) to `out` as
    `json.dumps(doc, indent=indent, allow_nan=False)` would give it."""
    for piece in _pieces(doc, 0, indent):
        out.write(piece)


def _pieces(value: object, level: int, indent: int) -> Iterator[str]:
    if isinstance(value, Rows):
        yield from _rows(value, level, indent)
    elif type(value) is dict and value and any(_holds_rows(v) for v in value.values()):
        inner = "\n" + " " * (indent * (level + 1))
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str here, not {type(key).__name__}")
            yield ("," if i else "") + inner + encode_basestring_ascii(key) + ": "
            yield from _pieces(item, level + 1, indent)
        yield "\n" + " " * (indent * level) + "}"
    else:
        yield value_text(value, level, indent)


def _holds_rows(value: object) -> bool:
    return isinstance(value, Rows) or type(value) is dict and any(
        _holds_rows(v) for v in value.values())


def _rows(rows: Rows, level: int, indent: int) -> Iterator[str]:
    """A `Rows` as the JSON list of its dicts, a batch of rows at a time. Each batch's rows are
    filled into one template of the keys, in which a column with the same text in every row of
    the batch (a source the input does not have: null throughout) is written once."""
    if rows.length == 0:
        yield "[]"
        return
    row_pad = "\n" + " " * (indent * (level + 1))
    heads = ["\n" + " " * (indent * (level + 2)) + encode_basestring_ascii(name) + ": "
             for name in rows.names]
    yield "["
    for start in range(0, rows.length, BATCH):
        stop = min(start + BATCH, rows.length)
        parts, varying = [], []
        for i, head in enumerate(heads):
            texts = rows.texts(i, start, stop, level + 2, indent)
            if texts.count(texts[0]) == len(texts):
                parts.append((head + texts[0]).replace("%", "%%"))
            else:
                parts.append(head.replace("%", "%%") + "%s")
                varying.append(texts)
        template = "{" + ",".join(parts) + row_pad + "}" if parts else "{}"
        filled = ([template % values for values in zip(*varying, strict=True)] if varying
                  else [template % ()] * (stop - start))
        yield ("," if start else "") + row_pad + ("," + row_pad).join(filled)
    yield "\n" + " " * (indent * level) + "]"
