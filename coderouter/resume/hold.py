"""Tool calls held back until complete, so a stream that breaks inside one can have the call
made again, whole, by the next provider (``router.resume = "all"``).

A tool call is small next to the text around it, and a client cannot use half of one, so
holding it costs the client nothing it could have used.
"""

from __future__ import annotations

from coderouter.wire.model import BlockStart, BlockStop, Event

__all__ = ["ToolHolder"]

_TOOL_CALLS = b'"tool_calls"'


def _starts_tool(event: Event) -> bool:
    return isinstance(event, BlockStart) and event.block.get("type") == "tool_use"


class ToolHolder:
    """Holds every event (or relayed frame) from a tool call's start to its stop.

    :meth:`feed` serves a stream that is decoded and encoded; :meth:`frame` a byte relay,
    where frames the relay does not decode are held by position. :attr:`released` turns true
    when held content was let go (the relay's commit then happens).
    """

    __slots__ = ("_events", "_frames", "_open", "released")

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._events: list[Event] = []
        self._frames: list[bytes] = []
        self.released = False

    @property
    def holding(self) -> bool:
        return bool(self._open)

    def _track(self, event: Event) -> bool:
        """Note a tool start or stop; True when the last open tool call just completed."""
        if _starts_tool(event):
            self._open.add(event.index)  # type: ignore[union-attr]
        elif isinstance(event, BlockStop) and event.index in self._open:
            self._open.discard(event.index)
            return not self._open
        return False

    def feed(self, events: list[Event]) -> list[Event]:
        if not self._open and not any(_starts_tool(e) for e in events):
            return events
        out: list[Event] = []
        for event in events:
            was_open = bool(self._open)
            done = self._track(event)
            if not was_open and not self._open:
                out.append(event)
                continue
            self._events.append(event)
            if done:
                out.extend(self._events)
                self._events.clear()
                self.released = True
        return out

    @staticmethod
    def may_start(raw: bytes) -> bool:
        """Whether a frame a byte relay would pass on undecoded could open a tool call (Chat
        Completions carries tool calls in plain content chunks)."""
        return _TOOL_CALLS in raw

    def frame(self, data: bytes, events: list[Event] | None) -> bytes:
        """The bytes to send for one relayed frame: ``b""`` while a tool call is open, the
        whole call when it completes. ``events`` is None for a frame left undecoded."""
        if events is None:
            if self._open:
                self._frames.append(data)
                return b""
            return data
        was_open = bool(self._open)
        done = False
        for event in events:
            done = self._track(event) or done
        if not was_open and not self._open:
            return data
        self._frames.append(data)
        if not done or self._open:
            return b""
        self.released = True
        out = b"".join(self._frames)
        self._frames.clear()
        return out

    def flush_events(self) -> list[Event]:
        held, self._events = self._events, []
        self._open.clear()
        return held

    def flush_frames(self) -> bytes:
        held = b"".join(self._frames)
        self._frames.clear()
        self._open.clear()
        return held
