"""The stream transform: text blocks through the scanner, recovered calls out as tool_use
blocks, blocks renumbered, the stop reason set to ``tool_use``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import attrs

from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStop,
    SignatureDelta,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    with_index,
)
from coderouter_tool_repair.calls import Call, ToolSet
from coderouter_tool_repair.scanner import CODE_CONTEXT, Recovered, TextScanner

__all__ = ["Outcome", "ToolRepairTransform", "new_call_id"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_CALL_START = re.compile(rb"[{\[<`]|\\u")
"""A byte that could begin a call, or a ``\\u`` escape (it could hide one)."""
_CODE_CONTEXT_BYTES = CODE_CONTEXT.encode()


def new_call_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


@attrs.define
class Outcome:
    """What one attempt's repair did (filled in when the message ends)."""

    calls: list[Call] = attrs.Factory(list)
    ignored: int = 0
    overflows: int = 0


class _TextBlock:
    """A text block under repair: its scanner and the whitespace around removed spans.

    Whitespace right after a removed span is dropped, and trailing whitespace is held until
    more text follows, so that removing a call at the end leaves no dangling blank lines.
    """

    __slots__ = ("after_call", "held_ws", "scanner", "skip_ws")

    def __init__(self, scanner: TextScanner) -> None:
        self.scanner = scanner
        self.held_ws = ""
        self.skip_ws = False
        self.after_call = False

    def text(self, piece: str) -> str:
        if self.skip_ws:
            piece = piece.lstrip()
            if not piece:
                return ""
            self.skip_ws = False
        body = piece.rstrip()
        if not body:
            self.held_ws += piece
            return ""
        out = self.held_ws + body
        self.held_ws = piece[len(body) :]
        self.after_call = False
        return out

    @property
    def settled(self) -> bool:
        """Text passes this block unchanged: no whitespace held or to skip, scanner settled."""
        return not self.held_ws and not self.skip_ws and self.scanner.settled

    def call(self) -> None:
        self.skip_ws = True
        self.after_call = True

    def end(self) -> str:
        tail, self.held_ws = self.held_ws, ""
        return "" if self.after_call else tail


class ToolRepairTransform:
    """One attempt's repair. Recovered calls are emitted when the message ends (after every
    upstream block), and only when the upstream made no structured call itself; otherwise the
    removed spans come back as a text block and nothing is repaired."""

    __slots__ = (
        "_closed",
        "_done",
        "_next",
        "_out",
        "_recovered",
        "_structured",
        "_text",
        "max_hold",
        "new_id",
        "on_done",
        "outcome",
        "tools",
    )

    def __init__(
        self,
        tools: ToolSet,
        *,
        max_hold: int = 16384,
        new_id: Callable[[], str] | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.tools = tools
        self.max_hold = max_hold
        self.new_id = new_id or (lambda: new_call_id("call_"))
        self.on_done = on_done
        self.outcome = Outcome()
        self._out: dict[int, int] = {}
        self._text: dict[int, _TextBlock] = {}
        self._closed: set[int] = set()
        self._recovered: list[Recovered] = []
        self._structured = False
        self._done = False
        self._next = 0

    # --- block numbering -------------------------------------------------------------------

    def _open(self, index: int | None) -> int:
        out = self._next
        self._next += 1
        if index is not None:
            self._out[index] = out
        return out

    def _moved(self, event: Event, index: int) -> list[Event]:
        out = self._out.get(index, index)
        return [event] if out == index else [with_index(event, out)]

    # --- text ------------------------------------------------------------------------------

    def _pieces(
        self, index: int, block: _TextBlock, pieces: list[Recovered | str], out: list[Event]
    ) -> None:
        for piece in pieces:
            if isinstance(piece, Recovered):
                block.call()
                self._recovered.append(piece)
            else:
                self._emit_text(index, block.text(piece), out)

    def _emit_text(self, index: int, text: str, out: list[Event]) -> None:
        if not text:
            return
        target = self._out.get(index)
        if target is None:
            target = self._open(index)
            out.append(BlockStart(target, {"type": "text"}))
        out.append(TextDelta(target, text))

    def _close_text(self, index: int) -> list[Event]:
        block = self._text.pop(index)
        self._closed.add(index)
        out: list[Event] = []
        self._pieces(index, block, block.scanner.finish(), out)
        self._emit_text(index, block.end(), out)
        self.outcome.overflows += block.scanner.overflows
        target = self._out.get(index)
        if target is not None:
            out.append(BlockStop(target))
        return out

    # --- the undecoded path ---------------------------------------------------------------

    def passes_text(self, index: int, literal: bytes) -> bool:
        """Whether text given as the JSON string literal the upstream wrote (quotes included)
        for block ``index`` would come out of this transform unchanged and leave its state as
        it was, so the frame carrying it may reach the client undecoded: the block is open
        under its own number with nothing held, and the text has no character that could
        begin a call (``{ [ < `` and a backtick, or a ``\\u`` escape that could hide one) and ends
        in a printable character other than ``= ( ,`` (trailing whitespace is held; those
        three make the next object code)."""
        if self._done or self._out.get(index) != index:
            return False
        block = self._text.get(index)
        if block is None or not block.settled or len(literal) < 3:
            return False
        last = literal[-2]
        if not 0x21 <= last <= 0x7E or last in _CODE_CONTEXT_BYTES or literal[-3] == 0x5C:
            return False
        return _CALL_START.search(literal) is None

    # --- events ----------------------------------------------------------------------------

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            block = self._text.get(event.index)
            if block is None:
                return self._moved(event, event.index)
            out: list[Event] = []
            self._pieces(event.index, block, block.scanner.feed(event.text), out)
            return out
        if isinstance(event, BlockStart):
            return self._start(event)
        if isinstance(event, BlockStop):
            if event.index in self._text:
                return self._close_text(event.index)
            if event.index in self._closed:
                return []
            return self._moved(event, event.index)
        if isinstance(event, ThinkingDelta | SignatureDelta | ToolArgsDelta):
            return self._moved(event, event.index)
        if isinstance(event, MessageDelta):
            return self._finish(event)
        if isinstance(event, MessageStop) and not self._done:
            return [*self._finish(None), event]
        if isinstance(event, StreamError) and not self._done:
            # A broken answer is not acted on: held spans go back as text.
            self._structured = True
            return [*self._finish(None), event]
        return [event]

    def _start(self, event: BlockStart) -> list[Event]:
        kind = event.block.get("type")
        if kind == "text" and not self._done:
            self._text[event.index] = _TextBlock(TextScanner(self.tools, self.max_hold))
            return []
        if kind == "tool_use":
            self._structured = True
        out = self._open(event.index)
        return [event] if out == event.index else [BlockStart(out, event.block)]

    def flush(self) -> list[Event]:
        return [] if self._done else self._finish(None)

    def _finish(self, delta: MessageDelta | None) -> list[Event]:
        if self._done:
            return [] if delta is None else [delta]
        self._done = True
        out: list[Event] = []
        for index in list(self._text):
            out += self._close_text(index)
        if self._recovered and self._structured:
            self.outcome.ignored = sum(len(r.calls) for r in self._recovered)
            target = self._open(None)
            out += [
                BlockStart(target, {"type": "text"}),
                TextDelta(target, "\n\n".join(r.text for r in self._recovered)),
                BlockStop(target),
            ]
        elif self._recovered:
            for recovered in self._recovered:
                for call in recovered.calls:
                    out += self._call_events(call)
            if delta is not None:
                delta = MessageDelta("tool_use", delta.usage, None)
        if delta is not None:
            out.append(delta)
        if self.on_done is not None:
            self.on_done(self.outcome)
        return out

    def _call_events(self, call: Call) -> list[Event]:
        self.outcome.calls.append(call)
        target = self._open(None)
        return [
            BlockStart(target, {"type": "tool_use", "id": self.new_id(), "name": call.name}),
            ToolArgsDelta(target, _dumps(call.arguments)),
            BlockStop(target),
        ]
