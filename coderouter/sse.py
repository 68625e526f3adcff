"""Incremental Server-Sent Events parsing and encoding.

Upstream bodies arrive in arbitrary chunks; :class:`SSEParser` turns them into whole frames and
keeps each frame's original bytes so an unchanged frame can be relayed byte for byte.
"""

from __future__ import annotations

import attrs

__all__ = ["Frame", "SSEParser", "encode_frame", "parse_frame"]


@attrs.define(slots=True)
class Frame:
    event: str | None
    data: str
    raw: bytes


class SSEParser:
    """Feed bytes, get complete frames. Handles ``\\n``, ``\\r\\n`` and split chunks."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

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
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        raws: list[bytes] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            raws.append(buffer[start : end + 2])
            start = end + 2
        self._buffer = buffer[start:]
        return raws

    def flush(self) -> list[Frame]:
        """A final frame without its blank line (tolerated, as the SDKs tolerate it)."""
        rest, self._buffer = self._buffer, b""
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
