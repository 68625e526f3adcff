"""Internal events -> Anthropic Messages stream events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coderouter.wire import model as ir
from coderouter.wire.anthropic.common import (
    message_id,
    safe_tool_id,
    sse_frame,
    stop_in,
    tool_id,
)
from coderouter.wire.anthropic.errors import stream_error
from coderouter.wire.anthropic.responses import usage_to_anthropic
from coderouter.wire.anthropic.stream_decode import AnthropicStreamDecoder

# --- stream decoding ----------------------------------------------------------------------------


def _start_shape(block: ir.Block) -> ir.Block:
    """A ``content_block_start`` block as Anthropic sends it (empty content, full keys)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "tool_use":
        return {
            "type": "tool_use",
            "id": safe_tool_id(block.get("id") or tool_id()),
            "name": block.get("name", ""),
            "input": {},
        }
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    return block


class AnthropicStreamEncoder:
    """Internal events -> Anthropic SSE that the strictest clients accept.

    Every frame has an ``event:`` line; ``message_start`` carries ``usage`` and is followed by
    a ``ping``; every block is opened and closed (a delta for an unopened block opens one, a
    message end closes what is still open); block indices are renumbered 0, 1, 2, ... (the SDK
    accumulator indexes a list); a text block opens only at its first non-empty text, so empty
    text blocks never reach the client; ``message_delta`` always carries ``usage`` and a stop
    reason (``tool_use`` when a tool was called).
    """

    __slots__ = (
        "_delta_sent",
        "_model",
        "_next",
        "_open",
        "_pending",
        "_source",
        "_started",
        "_stopped",
        "_tool_used",
        "_usage",
    )

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._open: dict[int, int] = {}
        self._pending: dict[int, ir.Block] = {}
        self._next = 0
        self._usage = ir.Usage()
        self._tool_used = False
        self._delta_sent = False
        self._stopped = False
        self._source: AnthropicStreamDecoder | None = None

    def follow(self, decoder: AnthropicStreamDecoder) -> None:
        """Re-encode an Anthropic stream: ``message_start`` and ``message_delta`` keep the
        upstream's message (id, model, usage, any other field) and delta fields; the
        content, and the stop reason when the transforms changed it, are the encoder's."""
        self._source = decoder

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[bytes] = []
        for event in events:
            handler = _ENCODERS.get(type(event))
            if handler is not None:
                handler(self, event, out)
        return b"".join(out)

    def prime(self, events: list[ir.Event]) -> None:
        """Take ``events`` as already sent to the client, exactly as they are (a resumed
        stream goes on where another one stopped): a text block they start is open even while
        empty."""
        sent: list[bytes] = []
        for event in events:
            if (
                isinstance(event, ir.BlockStart)
                and event.block.get("type") == "text"
                and event.index not in self._open
            ):
                self._open_block(event.index, event.block, sent)
            else:
                self.encode([event])

    def _message_start(self, event: ir.MessageStart, out: list[bytes]) -> None:
        self._usage.merge(event.usage)
        if self._started:
            return
        self._started = True
        source = self._source.message if self._source is not None else None
        if source is not None:
            out.append(sse_frame("message_start", {"type": "message_start", "message": source}))
            out.append(sse_frame("ping", {"type": "ping"}))
            return
        out.append(
            sse_frame(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id(event.id),
                        "type": "message",
                        "role": "assistant",
                        "model": self._model or event.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": usage_to_anthropic(self._usage),
                    },
                },
            )
        )
        out.append(sse_frame("ping", {"type": "ping"}))

    def _ensure_started(self, out: list[bytes]) -> None:
        if not self._started:
            self._message_start(ir.MessageStart("", ""), out)

    def _open_block(self, index: int, block: ir.Block, out: list[bytes]) -> int:
        self._ensure_started(out)
        self._pending.pop(index, None)
        position = self._next
        self._next += 1
        self._open[index] = position
        shape = _start_shape(block)
        if shape.get("type") == "tool_use":
            self._tool_used = True
        out.append(
            sse_frame(
                "content_block_start",
                {"type": "content_block_start", "index": position, "content_block": shape},
            )
        )
        return position

    def _position(self, index: int, default: ir.Block, out: list[bytes]) -> int:
        position = self._open.get(index)
        if position is None:
            position = self._open_block(index, self._pending.get(index, default), out)
        return position

    def _delta(
        self, index: int, default: ir.Block, delta: dict[str, Any], out: list[bytes]
    ) -> None:
        position = self._position(index, default, out)
        out.append(
            sse_frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": position, "delta": delta},
            )
        )

    def text_literal(self, index: int, literal: bytes) -> bytes | None:
        """The ``text_delta`` frame for text given as a JSON string literal into block
        ``index`` (a text block, as the decoder that found the literal knows); ``None`` while
        that block is not open (encode the decoded events then)."""
        position = self._open.get(index)
        if position is None:
            return None
        return (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
            b'"delta":{"type":"text_delta","text":%b}}\n\n' % (position, literal)
        )

    def _block_start(self, event: ir.BlockStart, out: list[bytes]) -> None:
        if event.index in self._open:
            return
        if event.block.get("type") == "text":
            self._ensure_started(out)
            self._pending[event.index] = event.block
        else:
            self._open_block(event.index, event.block, out)

    def _text(self, event: ir.TextDelta, out: list[bytes]) -> None:
        if event.text:
            self._delta(
                event.index, {"type": "text"}, {"type": "text_delta", "text": event.text}, out
            )

    def _thinking(self, event: ir.ThinkingDelta, out: list[bytes]) -> None:
        if event.thinking:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "thinking_delta", "thinking": event.thinking},
                out,
            )

    def _signature(self, event: ir.SignatureDelta, out: list[bytes]) -> None:
        if event.signature:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "signature_delta", "signature": event.signature},
                out,
            )

    def _tool_args(self, event: ir.ToolArgsDelta, out: list[bytes]) -> None:
        if event.partial_json:
            self._delta(
                event.index,
                {"type": "tool_use"},
                {"type": "input_json_delta", "partial_json": event.partial_json},
                out,
            )

    def _block_stop(self, event: ir.BlockStop, out: list[bytes]) -> None:
        self._pending.pop(event.index, None)
        position = self._open.pop(event.index, None)
        if position is not None:
            out.append(
                sse_frame("content_block_stop", {"type": "content_block_stop", "index": position})
            )

    def _close_all(self, out: list[bytes]) -> None:
        self._pending.clear()
        for position in sorted(self._open.values()):
            out.append(
                sse_frame("content_block_stop", {"type": "content_block_stop", "index": position})
            )
        self._open.clear()

    def _message_delta(self, event: ir.MessageDelta, out: list[bytes]) -> None:
        self._ensure_started(out)
        self._close_all(out)
        self._usage.merge(event.usage)
        stop = event.stop_reason or "end_turn"
        if stop == "end_turn" and self._tool_used:
            stop = "tool_use"
        self._delta_sent = True
        source = self._source.last_delta if self._source is not None else None
        if source is not None:
            out.append(sse_frame("message_delta", _kept_delta(source, stop)))
            return
        out.append(
            sse_frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": event.stop_sequence},
                    "usage": usage_to_anthropic(self._usage),
                },
            )
        )

    def _message_stop(self, event: ir.MessageStop, out: list[bytes]) -> None:
        if self._stopped:
            return
        if not self._delta_sent:
            self._message_delta(ir.MessageDelta(None), out)
        self._stopped = True
        out.append(sse_frame("message_stop", {"type": "message_stop"}))

    def _error(self, event: ir.StreamError, out: list[bytes]) -> None:
        out.append(stream_error(event.error_type, event.message))


def _kept_delta(source: dict[str, Any], stop: str) -> dict[str, Any]:
    """The upstream's ``message_delta`` with the stop reason ``stop`` when it is not the one
    the upstream's decodes to (a transform changed it)."""
    delta = source.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    if stop == (stop_in(delta.get("stop_reason")) or "end_turn"):
        return source
    return {**source, "delta": {**delta, "stop_reason": stop}}


_ENCODERS: dict[type, Callable[[AnthropicStreamEncoder, Any, list[bytes]], None]] = {
    ir.MessageStart: AnthropicStreamEncoder._message_start,
    ir.BlockStart: AnthropicStreamEncoder._block_start,
    ir.TextDelta: AnthropicStreamEncoder._text,
    ir.ThinkingDelta: AnthropicStreamEncoder._thinking,
    ir.SignatureDelta: AnthropicStreamEncoder._signature,
    ir.ToolArgsDelta: AnthropicStreamEncoder._tool_args,
    ir.BlockStop: AnthropicStreamEncoder._block_stop,
    ir.MessageDelta: AnthropicStreamEncoder._message_delta,
    ir.MessageStop: AnthropicStreamEncoder._message_stop,
    ir.StreamError: AnthropicStreamEncoder._error,
}
