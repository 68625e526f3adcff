"""Anthropic Messages stream events -> internal events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from coderouter.sse import Frame
from coderouter.wire import model as ir
from coderouter.wire.anthropic.common import (
    dumps,
    new_id,
    stop_in,
)
from coderouter.wire.anthropic.errors import ERROR_TYPES_IN
from coderouter.wire.anthropic.responses import usage_from_anthropic

# --- stream decoding ----------------------------------------------------------------------------


def _start_events(index: int, block: ir.Block) -> list[ir.Event]:
    """A ``content_block_start`` as events; content already inside the start is kept."""
    kind = block.get("type")
    if kind == "text":
        events: list[ir.Event] = [ir.BlockStart(index, {"type": "text"})]
        if block.get("text"):
            events.append(ir.TextDelta(index, block["text"]))
        return events
    if kind == "thinking":
        events = [ir.BlockStart(index, {"type": "thinking"})]
        if block.get("thinking"):
            events.append(ir.ThinkingDelta(index, block["thinking"]))
        if block.get("signature"):
            events.append(ir.SignatureDelta(index, block["signature"]))
        return events
    if kind == "tool_use":
        events = [
            ir.BlockStart(
                index,
                {"type": "tool_use", "id": block.get("id", ""), "name": block.get("name", "")},
            )
        ]
        if block.get("input"):
            events.append(ir.ToolArgsDelta(index, dumps(block["input"])))
        return events
    return [ir.BlockStart(index, dict(block))]


def _delta_event(index: int, delta: dict[str, Any]) -> ir.Event | None:
    kind = delta.get("type")
    if kind == "text_delta":
        return ir.TextDelta(index, delta.get("text", ""))
    if kind == "input_json_delta":
        part = delta.get("partial_json", "")
        return ir.ToolArgsDelta(index, part) if part else None
    if kind == "thinking_delta":
        return ir.ThinkingDelta(index, delta.get("thinking", ""))
    if kind == "signature_delta":
        return ir.SignatureDelta(index, delta.get("signature", ""))
    return None


class AnthropicStreamDecoder:
    """Anthropic SSE frames -> internal events."""

    __slots__ = ("_stop_seen", "complete", "last_delta", "message")

    def __init__(self) -> None:
        self.complete = False
        self._stop_seen = False
        # The upstream's message_start message and latest message_delta: an encoder
        # re-encoding this stream in the same format keeps their ids, model, usage and any
        # other field.
        self.message: dict[str, Any] | None = None
        self.last_delta: dict[str, Any] | None = None

    def feed(self, frame: Frame) -> list[ir.Event]:
        if self.complete or not frame.data:
            return []
        try:
            data = json.loads(frame.data)
        except (ValueError, RecursionError):
            return [
                ir.StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
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
                ir.StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
            ]

    def _message_start(self, data: dict[str, Any]) -> list[ir.Event]:
        message = data.get("message") or {}
        if isinstance(message, dict):
            self.message = message
        return [
            ir.MessageStart(
                str(message.get("id") or new_id()),
                str(message.get("model") or ""),
                usage_from_anthropic(message.get("usage")),
            )
        ]

    def _block_start(self, data: dict[str, Any]) -> list[ir.Event]:
        block = data.get("content_block")
        return _start_events(int(data.get("index", 0)), block if isinstance(block, dict) else {})

    def _block_delta(self, data: dict[str, Any]) -> list[ir.Event]:
        delta = data.get("delta")
        event = _delta_event(int(data.get("index", 0)), delta if isinstance(delta, dict) else {})
        return [event] if event is not None else []

    def _block_stop(self, data: dict[str, Any]) -> list[ir.Event]:
        return [ir.BlockStop(int(data.get("index", 0)))]

    def _message_delta(self, data: dict[str, Any]) -> list[ir.Event]:
        self.last_delta = data
        delta = data.get("delta") or {}
        stop = stop_in(delta.get("stop_reason"))
        self._stop_seen = self._stop_seen or stop is not None
        return [
            ir.MessageDelta(
                stop, usage_from_anthropic(data.get("usage")), delta.get("stop_sequence")
            )
        ]

    def _message_stop(self, data: dict[str, Any]) -> list[ir.Event]:
        self.complete = True
        return [ir.MessageStop()]

    def _error(self, data: dict[str, Any]) -> list[ir.Event]:
        err = data.get("error") or {}
        kind = ERROR_TYPES_IN.get(str(err.get("type")), "api_error")
        return [ir.StreamError(kind, str(err.get("message") or "upstream stream error"))]

    def finish(self) -> list[ir.Event]:
        """Upstream body ended. A stream that sent its stop reason but no ``message_stop`` is
        complete (the SDKs tolerate that too); one without a stop reason was cut."""
        if not self.complete and self._stop_seen:
            self.complete = True
            return [ir.MessageStop()]
        return []


_DECODERS: dict[str, Callable[[AnthropicStreamDecoder, dict[str, Any]], list[ir.Event]]] = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


# --- stream encoding ----------------------------------------------------------------------------
