"""OpenAI Responses stream in: upstream Responses SSE decoded into internal events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from coderouter.sse import Frame
from coderouter.wire import model as ir
from coderouter.wire.openai_responses.common import dumps, new_id, summary_text, thinking_of
from coderouter.wire.openai_responses.errors import error_type_of
from coderouter.wire.openai_responses.responses import (
    call_head,
    message_text,
    reasoning_head,
    stop_reason_of,
    usage_from_responses,
)


@attrs.define(slots=True)
class _Block:
    """A block opened from an output item: its internal index and what was emitted so far."""

    index: int
    kind: str
    sent: list[str] = attrs.Factory(list)
    parts: int = 0
    closed: bool = False


_Handler = Callable[["ResponsesStreamDecoder", dict[str, Any]], list[ir.Event]]


class ResponsesStreamDecoder:
    """Responses SSE -> internal events. Complete at ``response.completed`` (or
    ``response.incomplete``); a stream without either was cut."""

    __slots__ = (
        "_blocks",
        "_next_index",
        "_saw_call",
        "_started",
        "complete",
        "first_sequence",
        "last_sequence",
        "response",
    )

    _HANDLERS: dict[str, _Handler] = {}

    fills_in_skipped = True
    """A finished item's text that its decoded deltas did not bring is emitted at its
    ``output_item.done``: a delta frame relayed undecoded would reach a re-encoded stream
    twice, so every frame of one is decoded."""

    def __init__(self) -> None:
        self._started = False
        self._blocks: dict[int, _Block] = {}
        self._next_index = 0
        self._saw_call = False
        self.complete = False
        # The last ``sequence_number`` seen: a resumed stream numbers its events after it.
        self.last_sequence: int | None = None
        self.first_sequence: int | None = None
        # The upstream's latest response object (created, in progress, completed): an encoder
        # re-encoding this stream in the same format keeps its fields but the output.
        self.response: dict[str, Any] | None = None

    def feed(self, frame: Frame) -> list[ir.Event]:
        data = frame.data
        if self.complete or not data or data == "[DONE]":
            return []
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            return [ir.StreamError("api_error", f"upstream sent a malformed event: {data[:200]}")]
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or frame.event or ""
        number = payload.get("sequence_number")
        if type(number) is int:
            self.last_sequence = number
            if self.first_sequence is None:
                self.first_sequence = number
        response = payload.get("response")
        if isinstance(response, dict):
            self.response = response
        out: list[ir.Event] = []
        if not self._started and kind not in ("error", "response.failed"):
            self._started = True
            response = response if isinstance(response, dict) else {}
            out.append(ir.MessageStart(response.get("id") or new_id(), response.get("model") or ""))
        handler = self._HANDLERS.get(str(kind))
        if handler is not None:
            try:
                out += handler(self, payload)
            except (TypeError, ValueError, AttributeError):
                return [
                    ir.StreamError("api_error", f"upstream sent a malformed event: {data[:200]}")
                ]
        return out

    def finish(self) -> list[ir.Event]:
        return []

    def _open(self, output_index: int, item: dict[str, Any]) -> list[ir.Event]:
        kind = item.get("type")
        if kind == "message":
            head: ir.Block = {"type": "text"}
        elif kind == "function_call":
            head = call_head(item)
            self._saw_call = True
        elif kind == "reasoning":
            head = reasoning_head(item)
        else:
            return []
        if output_index in self._blocks:
            return []
        item_id = item.get("id")
        if isinstance(item_id, str) and item_id:
            head = {**head, "item_id": item_id}
        block = _Block(self._next_index, str(head["type"]))
        self._next_index += 1
        self._blocks[output_index] = block
        events: list[ir.Event] = [ir.BlockStart(block.index, head)]
        args = item.get("arguments")
        if kind == "function_call" and isinstance(args, str) and args:
            block.sent.append(args)
            events.append(ir.ToolArgsDelta(block.index, args))
        return events

    def _item_added(self, payload: dict[str, Any]) -> list[ir.Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        return self._open(int(payload.get("output_index") or 0), item)

    def _delta(self, payload: dict[str, Any], kind: str) -> list[ir.Event]:
        output_index = int(payload.get("output_index") or 0)
        delta = payload.get("delta")
        events: list[ir.Event] = []
        block = self._blocks.get(output_index)
        if block is None and kind != "tool_use":
            events = self._open(
                output_index, {"type": "message" if kind == "text" else "reasoning"}
            )
            block = self._blocks.get(output_index)
        if block is None or block.closed or block.kind != kind or not isinstance(delta, str):
            return events
        block.sent.append(delta)
        if kind == "text":
            events.append(ir.TextDelta(block.index, delta))
        elif kind == "thinking":
            events.append(ir.ThinkingDelta(block.index, delta))
        else:
            events.append(ir.ToolArgsDelta(block.index, delta))
        return events

    def _summary_part(self, payload: dict[str, Any]) -> list[ir.Event]:
        block = self._blocks.get(int(payload.get("output_index") or 0))
        if block is None or block.closed or block.kind != "thinking":
            return []
        block.parts += 1
        if block.parts > 1 and block.sent:
            block.sent.append("\n\n")
            return [ir.ThinkingDelta(block.index, "\n\n")]
        return []

    def _item_done(self, payload: dict[str, Any]) -> list[ir.Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        output_index = int(payload.get("output_index") or 0)
        events: list[ir.Event] = []
        block = self._blocks.get(output_index)
        if block is None:
            events = self._open(output_index, item)
            block = self._blocks.get(output_index)
        if block is None or block.closed:
            return events
        events += self._rest(block, item)
        block.closed = True
        events.append(ir.BlockStop(block.index))
        return events

    def _rest(self, block: _Block, item: dict[str, Any]) -> list[ir.Event]:
        """What the finished item holds that its deltas did not bring (servers that send
        no deltas, or only some)."""
        sent = "".join(block.sent)
        if block.kind == "text":
            full = message_text(item)
        elif block.kind == "tool_use":
            args = item.get("arguments")
            full = args if isinstance(args, str) else dumps(args or {})
        elif block.kind == "thinking":
            full = summary_text(item)
        else:
            return []
        events: list[ir.Event] = []
        if len(full) > len(sent) and full.startswith(sent):
            rest = full[len(sent) :]
            events.append(
                ir.TextDelta(block.index, rest)
                if block.kind == "text"
                else ir.ToolArgsDelta(block.index, rest)
                if block.kind == "tool_use"
                else ir.ThinkingDelta(block.index, rest)
            )
        signature = (thinking_of(item) or {}).get("signature")
        if block.kind == "thinking" and signature:
            events.append(ir.SignatureDelta(block.index, signature))
        return events

    def _end(self, payload: dict[str, Any]) -> list[ir.Event]:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        events: list[ir.Event] = []
        for block in self._blocks.values():
            if not block.closed:
                block.closed = True
                events.append(ir.BlockStop(block.index))
        stop = stop_reason_of(response, self._saw_call)
        events += [
            ir.MessageDelta(stop, usage_from_responses(response.get("usage"))),
            ir.MessageStop(),
        ]
        self.complete = True
        return events

    def _failed(self, payload: dict[str, Any]) -> list[ir.Event]:
        response = payload.get("response")
        found = [
            response.get("error") if isinstance(response, dict) else None,
            payload.get("error"),
            payload,
        ]
        error: dict[str, Any] = next(e for e in found if isinstance(e, dict))
        message = error.get("message") or "upstream response failed"
        return [ir.StreamError(error_type_of(error.get("code")), str(message))]


ResponsesStreamDecoder._HANDLERS = {
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.output_text.delta": lambda d, p: d._delta(p, "text"),
    "response.refusal.delta": lambda d, p: d._delta(p, "text"),
    "response.reasoning_summary_text.delta": lambda d, p: d._delta(p, "thinking"),
    "response.reasoning_text.delta": lambda d, p: d._delta(p, "thinking"),
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part,
    "response.function_call_arguments.delta": lambda d, p: d._delta(p, "tool_use"),
    "response.completed": ResponsesStreamDecoder._end,
    "response.incomplete": ResponsesStreamDecoder._end,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._failed,
}
