"""OpenAI Chat Completions: requests, responses, stream chunks and errors.

Spoken by the ``/v1/chat/completions`` ingress and by every ``kind = "openai"`` provider
(Ollama, llama.cpp, LM Studio, vLLM, OpenRouter, ...).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from coderouter.sse import Frame
from coderouter.types import Usage
from coderouter.wire.model import (
    Block,
    BlockStart,
    BlockStop,
    Event,
    Message,
    MessageDelta,
    MessageStart,
    MessageStop,
    Request,
    StopReason,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
)

__all__ = ["FORMAT", "OpenAIChat"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "budget": "insufficient_quota",
    "overloaded": "server_error",
    "api_error": "upstream_error",
    "timeout": "timeout_error",
}
_KNOWN_KEYS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "response_format",
        "profile",
    }
)
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


# --- requests -------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def _image_block(part: dict[str, Any]) -> Block:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[Block] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(_image_block(part))
    return blocks


def _assistant_blocks(msg: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning})
    text = _text_of(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            parsed = {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                "name": fn.get("name", ""),
                "input": parsed if isinstance(parsed, dict) else {},
            }
        )
    return blocks


def _append(messages: list[Message], role: str, blocks: list[Block]) -> None:
    """Consecutive messages of one role merge (tool results follow each other as one turn)."""
    if messages and messages[-1]["role"] == role and role != "system":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
    return None


def _tool_choice_out(choice: dict[str, Any] | None) -> Any:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return {"auto": "auto", "none": "none", "any": "required"}.get(str(kind))


def _response_format_in(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        out: dict[str, Any] = {"type": "json_schema", "schema": spec.get("schema") or {}}
        if spec.get("name"):
            out["name"] = spec["name"]
        if "strict" in spec:
            out["strict"] = spec["strict"]
        return out
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _response_format_out(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt:
        return None
    if fmt.get("type") == "json_schema":
        spec: dict[str, Any] = {
            "name": fmt.get("name") or "output",
            "schema": fmt.get("schema") or {},
        }
        if "strict" in fmt:
            spec["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": spec}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _system_text(blocks: list[Block], request: Request) -> str:
    texts = []
    for block in blocks:
        text = block.get("text", "")
        if "cache_control" in block:
            request.note_dropped("cache_control")
        if text.startswith(BILLING_HEADER_PREFIX):
            continue
        texts.append(text)
    return "\n\n".join(t for t in texts if t)


def _content_parts(blocks: list[Block], request: Request) -> Any:
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if "cache_control" in block:
            request.note_dropped("cache_control")
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            src = block.get("source") or {}
            if src.get("type") == "base64":
                url = f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
            else:
                url = src.get("url", "")
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind in ("thinking", "redacted_thinking"):
            request.note_dropped("thinking")
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _tool_result_text(block: Block) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"
        )
    return ""


def _encode_messages(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = _system_text(request.system, request)
    if system:
        out.append({"role": "system", "content": system})
    for msg in request.messages:
        role = msg["role"]
        blocks = msg["content"]
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        if role == "system":
            out.append({"role": "system", "content": _system_text(blocks, request)})
        elif role == "assistant":
            out.append(_encode_assistant(blocks, request))
        else:
            rest: list[Block] = []
            for block in blocks:
                if block.get("type") == "tool_result":
                    if "cache_control" in block:
                        request.note_dropped("cache_control")
                    out.append(
                        {
                            "role": "tool",
                            "tool_call_id": block.get("tool_use_id", ""),
                            "content": _tool_result_text(block),
                        }
                    )
                else:
                    rest.append(block)
            if rest:
                out.append({"role": "user", "content": _content_parts(rest, request)})
    return out


def _encode_assistant(blocks: list[Block], request: Request) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if "cache_control" in block:
            request.note_dropped("cache_control")
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": _dumps(block.get("input") or {}),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            request.note_dropped("thinking")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


class OpenAIChat:
    name = "openai_chat"

    def validate_request(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if messages is None:
            raise ValueError("'messages' is a required property")
        if not isinstance(messages, list) or not messages:
            raise ValueError("'messages' must be a non-empty array")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
                raise ValueError(f"messages[{i}] must be an object with a 'role' string")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ValueError("'model' must be a string")
        if "stream" in body and not isinstance(body["stream"], bool | None):
            raise ValueError("'stream' must be a boolean")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ValueError("'tools' must be an array")

    def decode_request(self, body: dict[str, Any]) -> Request:
        self.validate_request(body)
        system: list[Block] = []
        messages: list[Message] = []
        for msg in body["messages"]:
            role = msg["role"]
            if role in ("system", "developer"):
                block = {"type": "text", "text": _text_of(msg.get("content"))}
                if messages:
                    messages.append({"role": "system", "content": [block]})
                else:
                    system.append(block)
            elif role == "assistant":
                _append(messages, "assistant", _assistant_blocks(msg))
            elif role in ("tool", "function"):
                _append(
                    messages,
                    "user",
                    [
                        {
                            "type": "tool_result",
                            "tool_use_id": msg.get("tool_call_id", ""),
                            "content": _text_of(msg.get("content")),
                        }
                    ],
                )
            else:
                _append(messages, "user", _user_blocks(msg.get("content")))
        tools = []
        for tool in body.get("tools") or []:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict):
                tools.append(
                    {
                        "name": fn.get("name", ""),
                        "description": fn.get("description", ""),
                        "input_schema": fn.get("parameters") or {"type": "object"},
                    }
                )
        stop = body.get("stop")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        return Request(
            model=body.get("model") or "",
            system=system,
            messages=messages,
            tools=tools,
            tool_choice=_tool_choice_in(body.get("tool_choice")),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            stop=[stop] if isinstance(stop, str) else list(stop or []),
            stream=body.get("stream") is True,
            response_format=_response_format_in(body.get("response_format")),
            source=self.name,
            extras={self.name: {k: v for k, v in body.items() if k not in _KNOWN_KEYS}},
        )

    def encode_request(self, request: Request, *, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": _encode_messages(request)}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.get("name", ""),
                        "description": t.get("description", ""),
                        "parameters": t.get("input_schema") or {"type": "object"},
                    },
                }
                for t in request.tools
            ]
            choice = _tool_choice_out(request.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        fmt = _response_format_out(request.response_format)
        if fmt is not None:
            body["response_format"] = fmt
        for key, value in request.extras.get(self.name, {}).items():
            body.setdefault(key, value)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def passthrough_request(
        self,
        body: dict[str, Any],
        *,
        model: str,
        stream: bool,
        notes: list[str],
        max_tokens: int | None,
    ) -> dict[str, Any]:
        out = dict(body)
        out["model"] = model
        out.pop("profile", None)
        if stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        if notes:
            out["messages"] = [*body["messages"], {"role": "system", "content": "\n\n".join(notes)}]
        if max_tokens is not None:
            for key in ("max_tokens", "max_completion_tokens"):
                if isinstance(out.get(key), int) and out[key] > max_tokens:
                    out[key] = max_tokens
        return out

    # --- responses ---------------------------------------------------------------------------

    def usage_of(self, body: dict[str, Any]) -> Usage:
        return usage_from_openai(body.get("usage"))

    def decode_response(self, body: dict[str, Any]) -> list[Event]:
        events: list[Event] = [MessageStart(body.get("id") or new_id(), body.get("model", ""))]
        choices = body.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        msg = choice.get("message") or {}
        index = 0
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events += [
                BlockStart(index, {"type": "thinking", "origin": "reasoning_field"}),
                ThinkingDelta(index, reasoning),
                BlockStop(index),
            ]
            index += 1
        text = _text_of(msg.get("content"))
        if text:
            events += [
                BlockStart(index, {"type": "text"}),
                TextDelta(index, text),
                BlockStop(index),
            ]
            index += 1
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            args = fn.get("arguments")
            events += [
                BlockStart(
                    index,
                    {
                        "type": "tool_use",
                        "id": call.get("id") or _call_id(),
                        "name": fn.get("name", ""),
                    },
                ),
                ToolArgsDelta(index, args if isinstance(args, str) else _dumps(args or {})),
                BlockStop(index),
            ]
            index += 1
        finish = choice.get("finish_reason")
        stop = FINISH_TO_STOP.get(finish or "stop", "end_turn")
        events += [MessageDelta(stop, self.usage_of(body)), MessageStop()]
        return events

    def encode_response(
        self, events: list[Event], *, model: str, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = accumulate(events)
        texts: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in response.content:
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text", ""))
            elif kind == "thinking":
                reasoning.append(block.get("thinking", ""))
            elif kind == "tool_use":
                calls.append(
                    {
                        "id": block.get("id", ""),
                        "type": "function",
                        "function": {
                            "name": block.get("name", ""),
                            "arguments": _dumps(block.get("input") or {}),
                        },
                    }
                )
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        if not calls and message["content"] is None:
            message["content"] = ""
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if calls:
            message["tool_calls"] = calls
        finish = STOP_TO_FINISH.get(response.stop_reason or "end_turn", "stop")
        if calls and finish == "stop":
            finish = "tool_calls"
        return {
            "id": _chat_id(response.id),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or response.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage_to_openai(response.usage),
        }

    # --- streams -----------------------------------------------------------------------------

    def stream_decoder(self) -> ChatStreamDecoder:
        return ChatStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ChatStreamEncoder:
        options = request_body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return ChatStreamEncoder(model=model, include_usage=include_usage)

    def relay_skippable(self, raw: bytes) -> bool:
        return (
            raw.startswith(b"data: {")
            and raw.endswith(b"}\n\n")
            and b'"usage"' not in raw
            and b'"error"' not in raw
            and raw.count(b'"finish_reason"')
            == raw.count(b'"finish_reason":null') + raw.count(b'"finish_reason": null')
        )

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        data = frame.data
        if '"usage"' in data and ('"choices":[]' in data or '"choices": []' in data):
            options = request_body.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                return b""
        return frame.raw

    # --- errors ------------------------------------------------------------------------------

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {
            "error": {
                "message": message,
                "type": ERROR_TYPES.get(error_type, error_type),
                "param": None,
                "code": None,
            }
        }

    def stream_error(self, error_type: str, message: str) -> bytes:
        return f"data: {_dumps(self.error_body(error_type, message))}\n\n".encode()

    def error_message(self, body: Any) -> str:
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return str(err["message"])
            if isinstance(err, str):
                return err
            if isinstance(body.get("message"), str):
                return str(body["message"])
        return ""


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _chat_id(source_id: str) -> str:
    if source_id.startswith("chatcmpl-"):
        return source_id
    return new_id()


def usage_from_openai(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0 if isinstance(details, dict) else 0
    completion_details = usage.get("completion_tokens_details") or {}
    reasoning = (
        completion_details.get("reasoning_tokens") or 0
        if isinstance(completion_details, dict)
        else 0
    )
    return Usage(
        input_tokens=max(0, int(prompt) - int(cached)),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=int(cached),
        reasoning_tokens=int(reasoning),
    )


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    prompt = usage.total_input_tokens
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }
    if usage.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


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
    )

    def __init__(self) -> None:
        self._started = False
        self._open: int | None = None
        self._open_kind = ""
        self._next_index = 0
        self._blocks_by_tool: dict[int, int] = {}
        self._finish: str | None = None
        self._usage = Usage()
        self.complete = False

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._open))
            self._open = None
            self._open_kind = ""

    def _open_block(self, out: list[Event], block: Block) -> int:
        self._close(out)
        index = self._next_index
        self._next_index += 1
        self._open = index
        self._open_kind = block["type"]
        out.append(BlockStart(index, block))
        return index

    def _end(self) -> list[Event]:
        out: list[Event] = []
        self._close(out)
        stop = FINISH_TO_STOP.get(self._finish or "stop", "end_turn")
        out += [MessageDelta(stop, self._usage), MessageStop()]
        self.complete = True
        return out

    def feed(self, frame: Frame) -> list[Event]:
        data = frame.data
        if data == "[DONE]":
            return [] if self.complete else self._end()
        if self.complete or not data:
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            return [StreamError("api_error", f"upstream sent a malformed chunk: {data[:200]}")]
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and "choices" not in chunk:
            message = FORMAT.error_message(chunk) or "upstream stream error"
            return [StreamError("api_error", message)]
        out: list[Event] = []
        if not self._started:
            self._started = True
            out.append(MessageStart(chunk.get("id") or new_id(), chunk.get("model", "")))
        usage = chunk.get("usage")
        if usage:
            self._usage.merge(usage_from_openai(usage))
        for choice in chunk.get("choices") or ():
            self._feed_choice(choice, out)
        return out

    def _feed_choice(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open_kind != "thinking":
                self._open_block(out, {"type": "thinking", "origin": "reasoning_field"})
            assert self._open is not None
            out.append(ThinkingDelta(self._open, reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            if self._open_kind != "text":
                self._open_block(out, {"type": "text"})
            assert self._open is not None
            out.append(TextDelta(self._open, content))
        for call in delta.get("tool_calls") or ():
            self._feed_tool_call(call, out)
        finish = choice.get("finish_reason")
        if finish:
            self._finish = finish
            self._close(out)

    def _feed_tool_call(self, call: dict[str, Any], out: list[Event]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        block_index = self._blocks_by_tool.get(position)
        if block_index is None:
            block_index = self._open_block(
                out,
                {
                    "type": "tool_use",
                    "id": call.get("id") or _call_id(),
                    "name": fn.get("name", ""),
                },
            )
            self._blocks_by_tool[position] = block_index
        args = fn.get("arguments")
        if args:
            out.append(ToolArgsDelta(block_index, args if isinstance(args, str) else _dumps(args)))

    def finish(self) -> list[Event]:
        """Upstream body ended. A stream that gave its finish reason but no ``[DONE]`` is
        complete (servers differ here); one without a finish reason was cut."""
        if not self.complete and self._finish is not None:
            return self._end()
        return []


class ChatStreamEncoder:
    """Internal events -> Chat Completions SSE chunks, tool calls keyed by ``index``."""

    __slots__ = (
        "_created",
        "_id",
        "_include_usage",
        "_model",
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
        self._usage = Usage()
        self._stop: str | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        return (
            "data: "
            + _dumps(
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
            )
            + "\n\n"
        )

    def encode(self, events: list[Event]) -> bytes:
        out: list[str] = []
        for event in events:
            if isinstance(event, TextDelta):
                if event.text:
                    out.append(self._chunk({"content": event.text}))
            elif isinstance(event, ToolArgsDelta):
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
            elif isinstance(event, ThinkingDelta):
                if event.thinking:
                    out.append(self._chunk({"reasoning_content": event.thinking}))
            elif isinstance(event, BlockStart):
                self._block_start(event, out)
            else:
                self._message_event(event, out)
        return "".join(out).encode()

    def _block_start(self, event: BlockStart, out: list[str]) -> None:
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

    def _message_event(self, event: Event, out: list[str]) -> None:
        if isinstance(event, MessageStart):
            self._usage.merge(event.usage)
            out.append(self._chunk({"role": "assistant", "content": ""}))
        elif isinstance(event, MessageDelta):
            self._usage.merge(event.usage)
            finish = STOP_TO_FINISH.get(event.stop_reason or "end_turn", "stop")
            if self._tool_positions and finish == "stop":
                finish = "tool_calls"
            out.append(self._chunk({}, finish))
        elif isinstance(event, MessageStop):
            if self._include_usage:
                out.append(
                    "data: "
                    + _dumps(
                        {
                            "id": self._id,
                            "object": "chat.completion.chunk",
                            "created": self._created,
                            "model": self._model,
                            "choices": [],
                            "usage": usage_to_openai(self._usage),
                        }
                    )
                    + "\n\n"
                )
            out.append("data: [DONE]\n\n")
        elif isinstance(event, StreamError):
            out.append(
                "data: " + _dumps(FORMAT.error_body(event.error_type, event.message)) + "\n\n"
            )


FORMAT = OpenAIChat()
