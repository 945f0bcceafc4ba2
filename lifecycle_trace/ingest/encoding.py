"""UTF-16 inputs re-encoded as UTF-8, so every reader (and the trace parsers) sees UTF-8.

Windows PowerShell 5 writes `aws logs tail ... > out.txt` as UTF-16LE with a BOM; without this,
such a capture would be "no known format". Detected by the BOM only (UTF-16 without a BOM is
not guessed).
"""

from __future__ import annotations

import io

from lifecycle_trace.ingest.opening import HEAD_BYTES, Opened, _read_head, _Replay

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _Utf8(io.RawIOBase):
    """A raw byte reader over a text stream, encoding it as UTF-8 chunk by chunk."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._text.read(max(len(buffer) // 4, 1))
            if not chunk:
                return 0
            self._pending = chunk.encode("utf-8", "replace")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def as_utf8(opened: Opened) -> Opened:
    """`opened` itself, its content re-encoded to UTF-8 when it starts with a UTF-16 BOM."""
    if not opened.head.startswith(UTF16_BOMS):
        return opened
    text = io.TextIOWrapper(opened.binary, encoding="utf-16", errors="replace", newline="")
    encoded = io.BufferedReader(_Utf8(text), buffer_size=HEAD_BYTES)
    head = _read_head(encoded, HEAD_BYTES)
    opened.head = head
    opened.binary = io.BufferedReader(_Replay(head, encoded), buffer_size=HEAD_BYTES)
    opened._closers.append(text)
    return opened
