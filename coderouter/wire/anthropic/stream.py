"""Anthropic Messages streams: upstream SSE decoded into internal events, and internal events
encoded as the SSE Anthropic clients expect."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from coderouter.sse import Frame
from coderouter.types import Usage
from coderouter.wire.anthropic.common import (
    dumps,
    message_id,
    new_id,
    safe_tool_id,
    sse_frame,
    stop_in,
    tool_id,
)
from coderouter.wire.anthropic.errors import ERROR_TYPES_IN, stream_error
from coderouter.wire.anthropic.responses import usage_from_anthropic, usage_to_anthropic
from coderouter.wire.model import (
    Block,
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)

# --- stream decoding ----------------------------------------------------------------------------


def _start_events(index: int, block: Block) -> list[Event]:
    """A ``content_block_start`` as events; content already inside the start is kept."""
    kind = block.get("type")
    if kind == "text":
        events: list[Event] = [BlockStart(index, {"type": "text"})]
        if block.get("text"):
            events.append(TextDelta(index, block["text"]))
        return events
    if kind == "thinking":
        events = [BlockStart(index, {"type": "thinking"})]
        if block.get("thinking"):
            events.append(ThinkingDelta(index, block["thinking"]))
        if block.get("signature"):
            events.append(SignatureDelta(index, block["signature"]))
        return events
    if kind == "tool_use":
        events = [
            BlockStart(
                index,
                {"type": "tool_use", "id": block.get("id", ""), "name": block.get("name", "")},
            )
        ]
        if block.get("input"):
            events.append(ToolArgsDelta(index, dumps(block["input"])))
        return events
    return [BlockStart(index, dict(block))]


def _delta_event(index: int, delta: dict[str, Any]) -> Event | None:
    kind = delta.get("type")
    if kind == "text_delta":
        return TextDelta(index, delta.get("text", ""))
    if kind == "input_json_delta":
        part = delta.get("partial_json", "")
        return ToolArgsDelta(index, part) if part else None
    if kind == "thinking_delta":
        return ThinkingDelta(index, delta.get("thinking", ""))
    if kind == "signature_delta":
        return SignatureDelta(index, delta.get("signature", ""))
    return None


class AnthropicStreamDecoder:
    """Anthropic SSE frames -> internal events."""

    __slots__ = ("_stop_seen", "complete")

    def __init__(self) -> None:
        self.complete = False
        self._stop_seen = False

    def feed(self, frame: Frame) -> list[Event]:
        if self.complete or not frame.data:
            return []
        try:
            data = json.loads(frame.data)
        except ValueError:
            return [
                StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
            ]
        if not isinstance(data, dict):
            return []
        handler = _DECODERS.get(str(data.get("type") or frame.event))
        if handler is None:
            return []
        try:
            return handler(self, data)
        except (TypeError, ValueError, AttributeError):
            return [
                StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
            ]

    def _message_start(self, data: dict[str, Any]) -> list[Event]:
        message = data.get("message") or {}
        return [
            MessageStart(
                str(message.get("id") or new_id()),
                str(message.get("model") or ""),
                usage_from_anthropic(message.get("usage")),
            )
        ]

    def _block_start(self, data: dict[str, Any]) -> list[Event]:
        block = data.get("content_block")
        return _start_events(int(data.get("index", 0)), block if isinstance(block, dict) else {})

    def _block_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta")
        event = _delta_event(int(data.get("index", 0)), delta if isinstance(delta, dict) else {})
        return [event] if event is not None else []

    def _block_stop(self, data: dict[str, Any]) -> list[Event]:
        return [BlockStop(int(data.get("index", 0)))]

    def _message_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta") or {}
        stop = stop_in(delta.get("stop_reason"))
        self._stop_seen = self._stop_seen or stop is not None
        return [
            MessageDelta(stop, usage_from_anthropic(data.get("usage")), delta.get("stop_sequence"))
        ]

    def _message_stop(self, data: dict[str, Any]) -> list[Event]:
        self.complete = True
        return [MessageStop()]

    def _error(self, data: dict[str, Any]) -> list[Event]:
        err = data.get("error") or {}
        kind = ERROR_TYPES_IN.get(str(err.get("type")), "api_error")
        return [StreamError(kind, str(err.get("message") or "upstream stream error"))]

    def finish(self) -> list[Event]:
        """Upstream body ended. A stream that sent its stop reason but no ``message_stop`` is
        complete (the SDKs tolerate that too); one without a stop reason was cut."""
        if not self.complete and self._stop_seen:
            self.complete = True
            return [MessageStop()]
        return []


_DECODERS: dict[str, Callable[[AnthropicStreamDecoder, dict[str, Any]], list[Event]]] = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


# --- stream encoding ----------------------------------------------------------------------------


def _start_shape(block: Block) -> Block:
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
        "_started",
        "_stopped",
        "_tool_used",
        "_usage",
    )

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._open: dict[int, int] = {}
        self._pending: dict[int, Block] = {}
        self._next = 0
        self._usage = Usage()
        self._tool_used = False
        self._delta_sent = False
        self._stopped = False

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for event in events:
            handler = _ENCODERS.get(type(event))
            if handler is not None:
                handler(self, event, out)
        return b"".join(out)

    def _message_start(self, event: MessageStart, out: list[bytes]) -> None:
        self._usage.merge(event.usage)
        if self._started:
            return
        self._started = True
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
            self._message_start(MessageStart("", ""), out)

    def _open_block(self, index: int, block: Block, out: list[bytes]) -> int:
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

    def _position(self, index: int, default: Block, out: list[bytes]) -> int:
        position = self._open.get(index)
        if position is None:
            position = self._open_block(index, self._pending.get(index, default), out)
        return position

    def _delta(self, index: int, default: Block, delta: dict[str, Any], out: list[bytes]) -> None:
        position = self._position(index, default, out)
        out.append(
            sse_frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": position, "delta": delta},
            )
        )

    def _block_start(self, event: BlockStart, out: list[bytes]) -> None:
        if event.index in self._open:
            return
        if event.block.get("type") == "text":
            self._ensure_started(out)
            self._pending[event.index] = event.block
        else:
            self._open_block(event.index, event.block, out)

    def _text(self, event: TextDelta, out: list[bytes]) -> None:
        if event.text:
            self._delta(
                event.index, {"type": "text"}, {"type": "text_delta", "text": event.text}, out
            )

    def _thinking(self, event: ThinkingDelta, out: list[bytes]) -> None:
        if event.thinking:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "thinking_delta", "thinking": event.thinking},
                out,
            )

    def _signature(self, event: SignatureDelta, out: list[bytes]) -> None:
        if event.signature:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "signature_delta", "signature": event.signature},
                out,
            )

    def _tool_args(self, event: ToolArgsDelta, out: list[bytes]) -> None:
        if event.partial_json:
            self._delta(
                event.index,
                {"type": "tool_use"},
                {"type": "input_json_delta", "partial_json": event.partial_json},
                out,
            )

    def _block_stop(self, event: BlockStop, out: list[bytes]) -> None:
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

    def _message_delta(self, event: MessageDelta, out: list[bytes]) -> None:
        self._ensure_started(out)
        self._close_all(out)
        self._usage.merge(event.usage)
        stop = event.stop_reason or "end_turn"
        if stop == "end_turn" and self._tool_used:
            stop = "tool_use"
        self._delta_sent = True
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

    def _message_stop(self, event: MessageStop, out: list[bytes]) -> None:
        if self._stopped:
            return
        if not self._delta_sent:
            self._message_delta(MessageDelta(None), out)
        self._stopped = True
        out.append(sse_frame("message_stop", {"type": "message_stop"}))

    def _error(self, event: StreamError, out: list[bytes]) -> None:
        out.append(stream_error(event.error_type, event.message))


_ENCODERS: dict[type, Callable[[AnthropicStreamEncoder, Any, list[bytes]], None]] = {
    MessageStart: AnthropicStreamEncoder._message_start,
    BlockStart: AnthropicStreamEncoder._block_start,
    TextDelta: AnthropicStreamEncoder._text,
    ThinkingDelta: AnthropicStreamEncoder._thinking,
    SignatureDelta: AnthropicStreamEncoder._signature,
    ToolArgsDelta: AnthropicStreamEncoder._tool_args,
    BlockStop: AnthropicStreamEncoder._block_stop,
    MessageDelta: AnthropicStreamEncoder._message_delta,
    MessageStop: AnthropicStreamEncoder._message_stop,
    StreamError: AnthropicStreamEncoder._error,
}
