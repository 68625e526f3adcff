"""Chat Completions stream chunks -> internal events."""

from __future__ import annotations

import json
from typing import Any

from coderouter.sse import Frame
from coderouter.wire import model as ir
from coderouter.wire.openai_chat.common import FINISH_TO_STOP, call_id, dumps, new_id
from coderouter.wire.openai_chat.errors import error_message
from coderouter.wire.openai_chat.responses import usage_from_openai


class ChatStreamDecoder:
    """Chat Completions chunks -> internal events (one open block at a time)."""

    __slots__ = (
        "_blocks_by_tool",
        "_finish",
        "_next_index",
        "_open",
        "_open_kind",
        "_started",
        "_usage",
        "complete",
        "last_chunk",
    )

    def __init__(self) -> None:
        self._started = False
        self._open: int | None = None
        self._open_kind = ""
        self._next_index = 0
        self._blocks_by_tool: dict[int, int] = {}
        self._finish: str | None = None
        self._usage = ir.Usage()
        self.complete = False
        # The latest chunk decoded: an encoder re-encoding this stream in the same format
        # copies its id, created, model and any other top-level field from here.
        self.last_chunk: dict[str, Any] | None = None

    def _close(self, out: list[ir.Event]) -> None:
        if self._open is not None:
            out.append(ir.BlockStop(self._open))
            self._open = None
            self._open_kind = ""

    def _open_block(self, out: list[ir.Event], block: ir.Block) -> int:
        self._close(out)
        index = self._next_index
        self._next_index += 1
        self._open = index
        self._open_kind = block["type"]
        out.append(ir.BlockStart(index, block))
        return index

    def _end(self) -> list[ir.Event]:
        out: list[ir.Event] = []
        self._close(out)
        stop = FINISH_TO_STOP.get(self._finish or "stop", "end_turn")
        out += [ir.MessageDelta(stop, self._usage), ir.MessageStop()]
        self.complete = True
        return out

    def text_literal(self, raw: bytes) -> tuple[int, bytes] | None:
        """For a chunk that only adds text to the open text block (one choice whose delta is
        ``{"content": "..."}``): that block's index and the content as the JSON string
        literal the upstream wrote (quotes included), so a translating encoder can copy it
        without decoding the chunk. ``None`` for anything else: decode it then."""
        if self._open_kind != "text" or self._open is None:
            return None
        marker = b'"delta":{"content":"'
        at = raw.find(marker)
        if at < 0 or raw.count(b'"delta"') != 1 or raw.find(b'"tool_calls"') >= 0:
            return None
        start = at + len(marker) - 1
        end = start + 1
        while True:
            end = raw.find(b'"', end)
            if end < 0:
                return None
            slashes = 0
            while raw[end - 1 - slashes] == 0x5C:  # a backslash: the quote may be escaped
                slashes += 1
            if slashes % 2 == 0:
                break
            end += 1
        if end == start + 1 or raw[end + 1 : end + 2] != b"}":
            return None  # empty text (no event), or the delta has more than content
        return self._open, raw[start : end + 1]

    def feed(self, frame: Frame) -> list[ir.Event]:
        data = frame.data
        if data == "[DONE]":
            return [] if self.complete else self._end()
        if self.complete or not data:
            return []
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            return [ir.StreamError("api_error", f"upstream sent a malformed chunk: {data[:200]}")]
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and "choices" not in chunk:
            message = error_message(chunk) or "upstream stream error"
            return [ir.StreamError("api_error", message)]
        self.last_chunk = chunk
        out: list[ir.Event] = []
        try:
            if not self._started:
                self._started = True
                out.append(
                    ir.MessageStart(str(chunk.get("id") or new_id()), str(chunk.get("model", "")))
                )
            usage = chunk.get("usage")
            if usage:
                self._usage.merge(usage_from_openai(usage))
            for choice in chunk.get("choices") or ():
                self._feed_choice(choice, out)
        except (TypeError, ValueError, AttributeError):
            return [ir.StreamError("api_error", f"upstream sent a malformed chunk: {data[:200]}")]
        return out

    def _feed_choice(self, choice: dict[str, Any], out: list[ir.Event]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open_kind != "thinking":
                self._open_block(out, {"type": "thinking", "origin": "reasoning_field"})
            assert self._open is not None
            out.append(ir.ThinkingDelta(self._open, reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            if self._open_kind != "text":
                self._open_block(out, {"type": "text"})
            assert self._open is not None
            out.append(ir.TextDelta(self._open, content))
        for call in delta.get("tool_calls") or ():
            self._feed_tool_call(call, out)
        finish = choice.get("finish_reason")
        if finish:
            self._finish = finish
            self._close(out)

    def _feed_tool_call(self, call: dict[str, Any], out: list[ir.Event]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        block_index = self._blocks_by_tool.get(position)
        if block_index is None:
            block_index = self._open_block(
                out,
                {
                    "type": "tool_use",
                    "id": call.get("id") or call_id(),
                    "name": fn.get("name", ""),
                },
            )
            self._blocks_by_tool[position] = block_index
        args = fn.get("arguments")
        if args:
            out.append(
                ir.ToolArgsDelta(block_index, args if isinstance(args, str) else dumps(args))
            )

    def finish(self) -> list[ir.Event]:
        """Upstream body ended. A stream that gave its finish reason but no ``[DONE]`` is
        complete (servers differ here); one without a finish reason was cut."""
        if not self.complete and self._finish is not None:
            return self._end()
        return []
