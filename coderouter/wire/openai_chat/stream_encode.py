"""Internal events -> Chat Completions stream chunks."""

from __future__ import annotations

import time
from typing import Any

from coderouter.wire import model as ir
from coderouter.wire.openai_chat.common import STOP_TO_FINISH, dumps, new_id
from coderouter.wire.openai_chat.errors import error_body
from coderouter.wire.openai_chat.responses import usage_to_openai
from coderouter.wire.openai_chat.stream_decode import ChatStreamDecoder

_CONTENT_KEYS = ("content", "tool_calls", "reasoning_content", "reasoning")


class ChatStreamEncoder:
    """Internal events -> Chat Completions SSE chunks, tool calls keyed by ``index``."""

    __slots__ = (
        "_created",
        "_id",
        "_include_usage",
        "_model",
        "_role",
        "_source",
        "_stop",
        "_tool_positions",
        "_usage",
    )

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self._id = new_id()
        self._model = model
        self._created = int(time.time())
        self._include_usage = include_usage
        self._tool_positions: dict[int, int] = {}
        self._usage = ir.Usage()
        self._stop: str | None = None
        self._source: ChatStreamDecoder | None = None
        self._role: str | None = None  # a role the next chunk carries (see _opening)

    def follow(self, decoder: ChatStreamDecoder) -> None:
        """Re-encode a Chat stream: every chunk keeps the id, created, model,
        system_fingerprint and other top-level fields of the upstream chunk last decoded."""
        self._source = decoder

    def _head(self) -> dict[str, Any]:
        source = self._source.last_chunk if self._source is not None else None
        if source is None:
            return {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
            }
        return {k: v for k, v in source.items() if k != "choices" and k != "usage"}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        if self._role is not None:
            delta = {"role": self._role, **delta}
            self._role = None
        chunk = self._head()
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return "data: " + dumps(chunk) + "\n\n"

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[str] = []
        for event in events:
            if isinstance(event, ir.TextDelta):
                if event.text:
                    out.append(self._chunk({"content": event.text}))
            elif isinstance(event, ir.ToolArgsDelta):
                position = self._tool_positions.get(event.index, 0)
                out.append(
                    self._chunk(
                        {
                            "tool_calls": [
                                {"index": position, "function": {"arguments": event.partial_json}}
                            ]
                        }
                    )
                )
            elif isinstance(event, ir.ThinkingDelta):
                if event.thinking:
                    out.append(self._chunk({"reasoning_content": event.thinking}))
            elif isinstance(event, ir.BlockStart):
                self._block_start(event, out)
            else:
                self._message_event(event, out)
        return "".join(out).encode()

    def _block_start(self, event: ir.BlockStart, out: list[str]) -> None:
        if event.block.get("type") != "tool_use":
            return
        position = len(self._tool_positions)
        self._tool_positions[event.index] = position
        out.append(
            self._chunk(
                {
                    "tool_calls": [
                        {
                            "index": position,
                            "id": event.block.get("id", ""),
                            "type": "function",
                            "function": {"name": event.block.get("name", ""), "arguments": ""},
                        }
                    ]
                }
            )
        )

    def _opening(self, out: list[str]) -> None:
        """The chunk that opens the answer: ``{"role": "assistant", "content": ""}``. A
        re-encoded stream opens as its upstream did: with its role-only chunk, with the role
        on the first chunk of content, or with no role at all."""
        source = self._source.last_chunk if self._source is not None else None
        if source is None:
            out.append(self._chunk({"role": "assistant", "content": ""}))
            return
        choices = source.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict) or not isinstance(delta.get("role"), str):
            return
        if any(delta.get(k) for k in _CONTENT_KEYS):
            self._role = delta["role"]
        else:
            out.append(self._chunk(dict(delta)))

    def _message_event(self, event: ir.Event, out: list[str]) -> None:
        if isinstance(event, ir.MessageStart):
            self._usage.merge(event.usage)
            if event.id.startswith("chatcmpl-"):
                self._id = event.id  # a Chat stream's own id carries on (relays, resumes)
            self._opening(out)
        elif isinstance(event, ir.MessageDelta):
            self._usage.merge(event.usage)
            finish = STOP_TO_FINISH.get(event.stop_reason or "end_turn", "stop")
            if self._tool_positions and finish == "stop":
                finish = "tool_calls"
            out.append(self._chunk({}, finish))
        elif isinstance(event, ir.MessageStop):
            if self._include_usage:
                out.append(
                    "data: "
                    + dumps({**self._head(), "choices": [], "usage": usage_to_openai(self._usage)})
                    + "\n\n"
                )
            out.append("data: [DONE]\n\n")
        elif isinstance(event, ir.StreamError):
            out.append("data: " + dumps(error_body(event.error_type, event.message)) + "\n\n")
