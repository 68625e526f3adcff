"""Incremental Server-Sent Events parsing and encoding.

Upstream bodies arrive in arbitrary chunks; :class:`SSEParser` turns them into whole frames and
keeps each frame's original bytes so an unchanged frame can be relayed byte for byte.
"""

from __future__ import annotations

import attrs

__all__ = ["Frame", "SSEError", "SSEParser", "encode_frame", "parse_frame"]


@attrs.define(slots=True)
class Frame:
    event: str | None
    data: str
    raw: bytes


DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEError(ValueError):
    """The stream broke a limit: an event over its size cap."""


class SSEParser:
    """Feed bytes, get complete frames. Handles ``\\n``, ``\\r\\n`` and split chunks.

    Linear in the bytes fed: an unfinished frame waits in a buffer that grows by appending,
    and each search for the blank line that ends it starts where the last one stopped. An
    unfinished frame over ``max_event_bytes`` raises :class:`SSEError` (each line is within
    its frame, so this bounds lines too).
    """

    __slots__ = ("_buffer", "_scanned", "max_event_bytes")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for raw in self.feed_raw(chunk):
            frame = parse_frame(raw)
            if frame is not None:
                frames.append(frame)
        return frames

    def feed_raw(self, chunk: bytes) -> list[bytes]:
        """Feed bytes, get each complete frame's bytes (line ends normalised to ``\\n``, the
        blank line included), unparsed: a relay looks inside only the frames it must."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        buffer = self._buffer
        if not buffer:
            return self._split(chunk, 0)
        if buffer[-1] == 13 and chunk[:1] == b"\n":  # a CRLF split between two chunks
            del buffer[-1]
        # Searched up to here already; a blank line may straddle the old and the new bytes.
        start = max(0, min(self._scanned, len(buffer)) - 1)
        buffer += chunk
        end = buffer.find(b"\n\n", start)
        if end < 0:
            self._scanned = len(buffer)
            self._check(len(buffer))
            return []
        whole = bytes(buffer)
        buffer.clear()
        self._scanned = 0
        return self._split(whole, 0, end)

    def _split(self, data: bytes, start: int, end: int = -2) -> list[bytes]:
        """The frames of ``data`` from ``start``; ``end``: where the first blank line is, when
        known. The unfinished rest goes to the buffer."""
        raws: list[bytes] = []
        if end == -2:
            end = data.find(b"\n\n", start)
        while end >= 0:
            raws.append(data[start : end + 2])
            start = end + 2
            end = data.find(b"\n\n", start)
        if start < len(data):
            self._check(len(data) - start)
            self._buffer += memoryview(data)[start:]
            self._scanned = len(self._buffer)
        return raws

    def _check(self, pending: int) -> None:
        if pending > self.max_event_bytes:
            self._buffer.clear()
            self._scanned = 0
            raise SSEError(f"an event over {self.max_event_bytes} bytes (max_sse_event_bytes)")

    def flush(self) -> list[Frame]:
        """A final frame without its blank line (tolerated, as the SDKs tolerate it)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._scanned = 0
        if not rest.strip():
            return []
        frame = parse_frame(rest + b"\n\n" if not rest.endswith(b"\n") else rest + b"\n")
        return [frame] if frame is not None else []


def parse_frame(raw: bytes) -> Frame | None:
    """One frame's fields; None for a frame of comments only."""
    event: str | None = None
    data_lines: list[str] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data_lines.append(value)
        elif field == "event":
            event = value
    if not data_lines and event is None:
        return None
    return Frame(event, "\n".join(data_lines), raw)


def encode_frame(data: str, event: str | None = None) -> bytes:
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()
