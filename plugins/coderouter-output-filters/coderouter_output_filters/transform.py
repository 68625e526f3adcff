"""The stream transform: filters text blocks, drops reasoning-field blocks, renumbers blocks."""

from __future__ import annotations

from collections import Counter

from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    SignatureDelta,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    with_index,
)
from coderouter_output_filters.text import Patterns, TextFilter

__all__ = ["OutputFilterTransform"]


class OutputFilterTransform:
    """One attempt's filter.

    Text blocks open lazily, at their first character that survives the filters, so an answer
    made only of a think block leaves no empty text block behind. Blocks the client sees are
    numbered 0, 1, 2 ... in the order they open, whatever was removed before them.
    """

    __slots__ = (
        "_dropped",
        "_next",
        "_out",
        "_quiet",
        "_shifted",
        "_text",
        "_triggers",
        "counts",
        "drop_reasoning",
        "patterns",
    )

    def __init__(
        self, patterns: Patterns | None, *, drop_reasoning: bool, counts: Counter[str] | None = None
    ) -> None:
        self.patterns = None if patterns is None or patterns.empty else patterns
        self.drop_reasoning = drop_reasoning
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._out: dict[int, int] = {}
        self._text: dict[int, TextFilter] = {}
        self._dropped: set[int] = set()
        self._next = 0
        self._shifted = False
        self._quiet = True
        # What in an encoded frame could be, or hide, the start of something removed: a
        # pattern's first character, a JSON escape, a reasoning field.
        firsts = () if self.patterns is None else sorted(self.patterns.first_chars)
        # Substring tests, not one regex: ``bytes.find`` is a memchr-fast scan each (``in``
        # on bytes first tries its operand as an integer and formats the error it drops).
        self._triggers = (b"\\u", b'"reasoning', *(c.encode() for c in firsts))

    def _open(self, index: int) -> int:
        out = self._out[index] = self._next
        self._next += 1
        if out != index:
            self._shifted = True
        return out

    def passes(self, raw: bytes) -> bool:
        """Whether ``raw`` (a content frame, or a whole answer, as the upstream encoded it)
        would come out of this transform unchanged, so it may reach the client undecoded:
        no block renumbered, every text block open and idle, and nothing in the bytes that
        could begin a pattern or a reasoning field."""
        if not self._quiet:
            return False
        for trigger in self._triggers:  # noqa: SIM110 - once per frame, no generator
            if raw.find(trigger) >= 0:
                return False
        return True

    def _settle(self) -> None:
        """Whether the state after the latest event lets undecoded frames through (checked
        once per decoded event, not once per frame)."""
        quiet = not self._shifted
        if quiet:
            for index, text in self._text.items():
                if index not in self._out or not text.idle:
                    quiet = False
                    break
        self._quiet = quiet

    def _moved(self, event: Event, index: int) -> list[Event]:
        out = self._out.get(index, index)
        return [event] if out == index else [with_index(event, out)]

    def _text_out(self, index: int, text: str) -> list[Event]:
        if not text:
            return []
        out = self._out.get(index)
        if out is None:
            out = self._open(index)
            return [BlockStart(out, {"type": "text"}), TextDelta(out, text)]
        return [TextDelta(out, text)]

    def _start(self, event: BlockStart) -> list[Event]:
        kind = event.block.get("type")
        if kind == "text" and self.patterns is not None:
            self._text[event.index] = TextFilter(self.patterns, self.counts)
            return []
        if (
            kind == "thinking"
            and self.drop_reasoning
            and event.block.get("origin") == "reasoning_field"
        ):
            self._dropped.add(event.index)
            self.counts["reasoning_blocks"] += 1
            return []
        out = self._open(event.index)
        return [event] if out == event.index else [BlockStart(out, event.block)]

    def _stop(self, event: BlockStop) -> list[Event]:
        index = event.index
        flt = self._text.pop(index, None)
        if flt is not None:
            events = self._text_out(index, flt.finish())
            out = self._out.get(index)
            if out is not None:
                events.append(BlockStop(out))
            return events
        if index in self._dropped:
            return []
        return self._moved(event, index)

    def feed(self, event: Event) -> list[Event]:
        events = self._feed(event)
        self._settle()
        return events

    def _feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            flt = self._text.get(event.index)
            if flt is not None:
                return self._text_out(event.index, flt.feed(event.text))
        elif isinstance(event, BlockStart):
            return self._start(event)
        elif isinstance(event, BlockStop):
            return self._stop(event)
        elif not isinstance(event, ThinkingDelta | SignatureDelta | ToolArgsDelta):
            return [event]
        if event.index in self._dropped:
            return []
        return self._moved(event, event.index)

    def flush(self) -> list[Event]:
        events: list[Event] = []
        for index in list(self._text):
            events += self._stop(BlockStop(index))
        self._settle()
        return events
