"""What the client has received so far, read back from the bytes it was sent.

The relay keeps the client's bytes (a list append per chunk, so a stream that never breaks pays
almost nothing) and decodes them only when a stream breaks, with the client's own wire format:
the result is exactly what the client saw, whatever path produced it (byte relay or
translation, transforms or not).
"""

from __future__ import annotations

import attrs

from coderouter.sse import SSEParser, parse_frame
from coderouter.types import Usage
from coderouter.wire import model as ir
from coderouter.wire.base import WireFormat

__all__ = [
    "MAX_SENT_BYTES",
    "SentBlock",
    "SentLog",
    "SentState",
    "fold_sent",
    "implied_kind",
    "read_sent",
]

MAX_SENT_BYTES = 8 * 1024 * 1024
"""A longer answer is not kept: past this, a break ends the stream with the clean error."""


class SentLog:
    """The bytes one client stream has been sent, bounded by :data:`MAX_SENT_BYTES`."""

    __slots__ = ("chunks", "overflowed", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False

    def add(self, data: bytes) -> None:
        if self.overflowed:
            return
        self.size += len(data)
        if self.size > MAX_SENT_BYTES:
            self.overflowed = True
            self.chunks.clear()
            return
        self.chunks.append(data)


@attrs.define(slots=True)
class SentBlock:
    index: int
    kind: str
    head: ir.Block
    parts: list[str] = attrs.Factory(list)
    signature: str = ""
    closed: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def as_content(self) -> ir.Block | None:
        """The block as conversation content for a continuation request (None: leave out)."""
        if self.kind == "text":
            return {"type": "text", "text": self.text} if self.text else None
        if self.kind == "tool_use" and self.closed:
            return {
                "type": "tool_use",
                "id": self.head.get("id", ""),
                "name": self.head.get("name", ""),
                "input": ir.parse_tool_input(self.text),
            }
        return None


@attrs.define(slots=True)
class SentState:
    """The client's view of the answer: its events and the blocks they built."""

    events: list[ir.Event]
    blocks: list[SentBlock]
    usage: Usage
    message_started: bool
    message_ended: bool
    last_sequence: int | None = None
    """The last event number the client saw, in formats that number their events."""

    @property
    def open_block(self) -> SentBlock | None:
        for block in reversed(self.blocks):
            if not block.closed:
                return block
        return None

    @property
    def next_index(self) -> int:
        return max((b.index for b in self.blocks), default=-1) + 1

    def last_text(self) -> str:
        """The text of the last block when it is a text block (what a continuation may
        repeat)."""
        if self.blocks and self.blocks[-1].kind == "text":
            return self.blocks[-1].text
        return ""

    def prefill(self) -> list[ir.Block]:
        """The answer so far as assistant content: text and complete tool calls; thinking
        stays out (a continuation runs without it). Trailing whitespace is cut, as Anthropic
        refuses a final assistant turn that ends in whitespace."""
        content = [c for c in (b.as_content() for b in self.blocks) if c is not None]
        if content and content[-1]["type"] == "text":
            text = content[-1]["text"].rstrip()
            if text:
                content[-1] = {"type": "text", "text": text}
            else:
                content.pop()
        return content

    def has_answer(self) -> bool:
        return any(b.kind in ("text", "tool_use") and b.parts for b in self.blocks)

    def output_chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)


def read_sent(wire: WireFormat, log: SentLog) -> SentState:
    """Decode what the client was sent into events and blocks."""
    parser = SSEParser()
    decoder = wire.stream_decoder()
    events: list[ir.Event] = []
    for raw in parser.feed_raw(b"".join(log.chunks)):
        frame = parse_frame(raw)
        if frame is not None:
            events.extend(decoder.feed(frame))
    state = fold_sent(events)
    # A format whose stop reason arrives before its end (Chat's finish chunk) says so here.
    state.message_ended = state.message_ended or bool(decoder.finish())
    state.last_sequence = getattr(decoder, "last_sequence", None)
    return state


def fold_sent(events: list[ir.Event]) -> SentState:
    blocks: dict[int, SentBlock] = {}
    usage = Usage()
    started = ended = False
    for event in events:
        if isinstance(event, ir.BlockStart):
            kind = str(event.block.get("type") or "text")
            blocks[event.index] = SentBlock(event.index, kind, dict(event.block))
            continue
        if isinstance(event, ir.MessageStart):
            started = True
            usage.merge(event.usage)
            continue
        if isinstance(event, ir.MessageDelta):
            ended = ended or event.stop_reason is not None
            usage.merge(event.usage)
            continue
        index = getattr(event, "index", None)
        if index is None:
            continue
        block = blocks.get(index)
        if block is None:
            block = blocks[index] = SentBlock(index, implied_kind(event), {})
        _add_to_block(block, event)
    return SentState(events, [blocks[i] for i in sorted(blocks)], usage, started, ended)


def implied_kind(event: ir.Event) -> str:
    """The kind of block a delta belongs to when no block start was seen."""
    if isinstance(event, ir.ThinkingDelta | ir.SignatureDelta):
        return "thinking"
    if isinstance(event, ir.ToolArgsDelta):
        return "tool_use"
    return "text"


def _add_to_block(block: SentBlock, event: ir.Event) -> None:
    if isinstance(event, ir.TextDelta):
        block.parts.append(event.text)
    elif isinstance(event, ir.ThinkingDelta):
        block.parts.append(event.thinking)
    elif isinstance(event, ir.SignatureDelta):
        block.signature += event.signature
    elif isinstance(event, ir.ToolArgsDelta):
        block.parts.append(event.partial_json)
    elif isinstance(event, ir.BlockStop):
        block.closed = True
