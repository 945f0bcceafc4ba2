"""Read JSON values one at a time from a text stream, holding only what the current value needs.

CloudWatch containers are JSON in every shape: one document (`filter-log-events` output, which
the CLI writes as one object holding every page's events), pages concatenated with or without
newlines (`{...}{...}`, Firehose), one object per line, or a top-level array (Telemetry API). The
`walk` generator covers all of them: it steps through top-level values and, inside a top-level
object, streams the elements of the arrays named in `array_keys` instead of decoding the whole
document, so a multi-GB export is read in constant memory.

A malformed value is reported as a `Malformed` item (with its line) and skipped; the walk goes on
with the next value. A broken document structure resynchronises at the next object that starts a
line or directly follows a `}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 64 << 20
"""Longest single JSON value read whole (events, payloads, envelopes are far smaller; arrays of
events are streamed). A longer one is given up and counted, so memory stays bounded."""

_DECODER = json.JSONDecoder()
_NONSPACE = re.compile(r"\S")
_SEPARATORS = re.compile(r"[\s,]*")
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]*")
_STRUCTURE = re.compile(r'["{}\[\]]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_TOKEN = re.compile(r'[^,\]\}\[\{"\s]*')
_CLOSES = {"}": "{", "]": "["}
_RESYNC = re.compile(r"(?:(?<=\n)|(?<=\}))[ \t]*\{")


@dataclass(frozen=True, slots=True)
class Malformed:
    """A value that could not be decoded (already skipped)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Element:
    """One decoded value: an element of a streamed array (`key` names the array, None for a
    top-level array) or a whole top-level value that is not an object (`key` is None)."""

    line: int
    key: str | None
    value: object


@dataclass(frozen=True, slots=True)
class Field:
    """A key of a top-level object that is not streamed, decoded whole."""

    line: int
    key: str
    value: object


@dataclass(frozen=True, slots=True)
class DocumentStart:
    line: int


@dataclass(frozen=True, slots=True)
class DocumentEnd:
    line: int


Item = Malformed | Element | Field | DocumentStart | DocumentEnd


class _Broken(Exception):
    """The structure of the current document is broken; resynchronise."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _value_end(buffer: str, pos: int) -> int | None:
    """End of the JSON-looking value at `pos` (bracket and string aware, not validating), or None
    when the buffer ends first."""
    char = buffer[pos]
    if char == '"':
        match = _STRING_REST.match(buffer, pos + 1)
        return match.end() if match else None
    if char not in "{[":
        end = _TOKEN.match(buffer, pos).end()
        if end == pos:
            return pos + 1
        return end if end < len(buffer) else None
    openers: list[str] = []
    index = pos
    while True:
        match = _STRUCTURE.search(buffer, index)
        if match is None:
            return None
        index = match.end()
        found = match.group()
        if found == '"':
            rest = _STRING_REST.match(buffer, index)
            if rest is None:
                return None
            index = rest.end()
        elif found in "{[":
            openers.append(found)
        elif _CLOSES[found] == openers[-1]:  # a stray closer of the other kind is ignored
            openers.pop()
            if not openers:
                return index


class JsonStream:
    """A cursor over a text stream of JSON; tracks 1-based line numbers for error messages."""

    def __init__(self, text: TextIO, chunk_chars: int = CHUNK_CHARS) -> None:
        self._text = text
        self._chunk = chunk_chars
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._line = 1
        self._line_pos = 0

    def _fill(self, size: int | None = None) -> bool:
        """Append one more chunk, dropping what was consumed; False at end of input."""
        if self._eof:
            return False
        data = self._text.read(size or self._chunk)
        if not data:
            self._eof = True
            return False
        if self._pos:
            self._line += self._buffer.count("\n", self._line_pos, self._pos)
            self._buffer = self._buffer[self._pos :]
            self._pos = 0
            self._line_pos = 0
        self._buffer += data
        return True

    def line(self) -> int:
        """Line number at the cursor."""
        self._line += self._buffer.count("\n", self._line_pos, self._pos)
        self._line_pos = self._pos
        return self._line

    def peek(self) -> str | None:
        """The next non-blank character (not consumed), or None at end of input."""
        while True:
            match = _NONSPACE.search(self._buffer, self._pos)
            if match:
                self._pos = match.start()
                return self._buffer[self._pos]
            self._pos = len(self._buffer)
            if not self._fill():
                return None

    def skip_separators(self) -> str | None:
        """Skip blanks and commas; the next character (not consumed), or None at end of input."""
        while True:
            self._pos = _SEPARATORS.match(self._buffer, self._pos).end()
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return None

    def advance(self) -> None:
        """Consume the character `peek` returned."""
        self._pos += 1

    def value(self, *, positioned: bool = False) -> tuple[int, object]:
        """Decode the next value: (line, value). A malformed value is skipped and raised as
        `MalformedValue`. `positioned`: the cursor is already on the value's first character."""
        if not positioned:
            self.peek()
        line = self.line()
        size = self._chunk
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                reason = f"invalid JSON ({error.msg})"
            except (ValueError, RecursionError) as error:  # 4300+ digit ints, deep nesting
                reason = f"invalid JSON ({type(error).__name__}: {str(error)[:60]})"
            else:
                # A number cut by the chunk end decodes too early (`1.` of `1.5`): read on.
                cut = type(value) in (int, float) and (
                    _NUMBER_CHARS.match(self._buffer, end).end() == len(self._buffer)
                )
                if not cut or not self._fill(size):
                    self._pos = end
                    return line, value
                size *= 2
                continue
            end = _value_end(self._buffer, self._pos)
            if end is None and len(self._buffer) - self._pos > MAX_VALUE_CHARS:
                self._pos += 1  # give the value up; the caller resynchronises after its start
                raise MalformedValue(
                    line,
                    f"JSON value longer than {MAX_VALUE_CHARS} characters (unterminated?)",
                    resync=True,
                )
            if end is None and self._fill(size):
                size *= 2
                continue
            self._pos = len(self._buffer) if end is None else end
            if end is None:
                reason += " at end of input"
            raise MalformedValue(line, reason, resync=end is None)

    def resync(self) -> bool:
        """Skip to the next object that starts a line or follows a `}`; False at end of input."""
        while True:
            match = _RESYNC.search(self._buffer, self._pos + 1)
            if match:
                self._pos = match.end() - 1
                return True
            self._pos = max(self._pos, len(self._buffer) - 64)  # keep context for the lookbehind
            if not self._fill():
                self._pos = len(self._buffer)
                return False


class MalformedValue(Exception):
    """Raised by `JsonStream.value` after skipping an undecodable value."""

    def __init__(self, line: int, reason: str, *, resync: bool = False) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.resync = resync  # the cursor is not after the value: find the next object


def walk(
    text: TextIO,
    array_keys: frozenset[str] | None = frozenset(),
    *,
    chunk_chars: int = CHUNK_CHARS,
) -> Iterator[Item]:
    """Walk every top-level JSON value in `text` (see the module docstring). With `array_keys`
    None, top-level objects are decoded whole (as `Element`s) instead of walked."""
    stream = JsonStream(text, chunk_chars)
    while (char := stream.peek()) is not None:
        if char in ",]}":
            line = stream.line()
            stream.advance()
            if char != ",":
                yield Malformed(line, f"unexpected '{char}' between JSON values")
            continue
        try:
            if char == "{" and array_keys is not None:
                yield from _walk_object(stream, array_keys)
            elif char == "[":
                stream.advance()
                yield from _walk_array(stream, None)
            else:
                line, value = stream.value()
                yield Element(line, None, value)
        except MalformedValue as error:
            yield Malformed(error.line, error.reason)
            if error.resync and not stream.resync():
                return
        except _Broken as error:
            yield Malformed(error.line, error.reason)
            if not stream.resync():
                return


def _walk_object(stream: JsonStream, array_keys: frozenset[str]) -> Iterator[Item]:
    """One top-level object: fields decoded whole, `array_keys` arrays streamed."""
    start = stream.line()
    stream.advance()
    yield DocumentStart(start)
    while True:
        char = stream.peek()
        if char is None:
            raise _Broken(stream.line(), "JSON document truncated (missing '}')")
        if char == "}":
            line = stream.line()
            stream.advance()
            yield DocumentEnd(line)
            return
        if char == ",":
            stream.advance()
            continue
        if char != '"':
            raise _Broken(stream.line(), f"expected a key in JSON object, found '{char}'")
        try:
            line, key = stream.value()
        except MalformedValue as error:
            raise _Broken(error.line, f"{error.reason} in a key") from None
        if stream.peek() != ":":
            raise _Broken(stream.line(), f"expected ':' after key {key!r}")
        stream.advance()
        if stream.peek() is None:
            raise _Broken(stream.line(), "JSON document truncated")
        if key in array_keys and stream.peek() == "[":
            stream.advance()
            yield from _walk_array(stream, key)
            continue
        try:
            line, value = stream.value()
        except MalformedValue as error:
            raise _Broken(error.line, f"{error.reason} in field {key!r}") from None
        yield Field(line, str(key), value)


def _walk_array(stream: JsonStream, key: str | None) -> Iterator[Item]:
    """The elements of an array whose '[' was consumed; bad elements are skipped one by one."""
    while True:
        char = stream.skip_separators()
        if char is None:
            raise _Broken(stream.line(), "JSON array truncated (missing ']')")
        if char == "]":
            stream.advance()
            return
        try:
            line, value = stream.value(positioned=True)
        except MalformedValue as error:
            if error.resync:
                raise _Broken(error.line, error.reason) from None
            yield Malformed(error.line, error.reason)
            continue
        yield Element(line, key, value)
