"""Whole Chat completions and usage, both ways."""

from __future__ import annotations

import time
from typing import Any

from coderouter.wire import model as ir
from coderouter.wire.openai_chat.common import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    call_id,
    dumps,
    new_id,
    tool_call_of,
)
from coderouter.wire.openai_chat.requests import text_of


def _chat_id(source_id: str) -> str:
    if source_id.startswith("chatcmpl-"):
        return source_id
    return new_id()


def usage_from_openai(usage: Any) -> ir.Usage:
    if not isinstance(usage, dict):
        return ir.Usage()
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0 if isinstance(details, dict) else 0
    completion_details = usage.get("completion_tokens_details") or {}
    reasoning = (
        completion_details.get("reasoning_tokens") or 0
        if isinstance(completion_details, dict)
        else 0
    )
    return ir.Usage(
        input_tokens=max(0, int(prompt) - int(cached)),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=int(cached),
        reasoning_tokens=int(reasoning),
    )


def usage_to_openai(usage: ir.Usage) -> dict[str, Any]:
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


def usage_of(body: dict[str, Any]) -> ir.Usage:
    return usage_from_openai(body.get("usage"))


def decode_response(body: dict[str, Any]) -> list[ir.Event]:
    events: list[ir.Event] = [ir.MessageStart(body.get("id") or new_id(), body.get("model", ""))]
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message") or {}
    index = 0
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events += [
            ir.BlockStart(index, {"type": "thinking", "origin": "reasoning_field"}),
            ir.ThinkingDelta(index, reasoning),
            ir.BlockStop(index),
        ]
        index += 1
    text = text_of(msg.get("content"))
    if text:
        events += [
            ir.BlockStart(index, {"type": "text"}),
            ir.TextDelta(index, text),
            ir.BlockStop(index),
        ]
        index += 1
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        args = fn.get("arguments")
        events += [
            ir.BlockStart(
                index,
                {
                    "type": "tool_use",
                    "id": call.get("id") or call_id(),
                    "name": fn.get("name", ""),
                },
            ),
            ir.ToolArgsDelta(index, args if isinstance(args, str) else dumps(args or {})),
            ir.BlockStop(index),
        ]
        index += 1
    finish = choice.get("finish_reason")
    stop = FINISH_TO_STOP.get(finish or "stop", "end_turn")
    events += [ir.MessageDelta(stop, usage_of(body)), ir.MessageStop()]
    return events


def encode_response(
    events: list[ir.Event], *, model: str, request_body: dict[str, Any] | None = None
) -> dict[str, Any]:
    return encode_folded(ir.accumulate(events), model=model, request_body=request_body)


def encode_folded(
    response: ir.Response, *, model: str, request_body: dict[str, Any] | None = None
) -> dict[str, Any]:
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
            calls.append(tool_call_of(block))
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
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage_to_openai(response.usage),
    }


# What the events of an answer decide; everything else of a same-format answer is the
# upstream's and is kept.
_OWNED_MESSAGE_KEYS = frozenset({"content", "tool_calls", "reasoning_content", "reasoning"})


def keep_envelope(original: dict[str, Any], encoded: dict[str, Any]) -> dict[str, Any]:
    """``encoded`` (a Chat answer re-encoded after transforms) inside ``original`` (the Chat
    upstream's answer): the id, created, model, usage, system_fingerprint and any other field
    stay the upstream's, at the top, in the choice and in the message; the message's content,
    tool calls and reasoning and the finish reason are the re-encoded ones."""
    choices = original.get("choices")
    if not isinstance(choices, list):
        choices = []
    first = choices[0] if choices else None
    if not isinstance(first, dict):
        return {**original, "choices": encoded["choices"]}
    new_choice = encoded["choices"][0]
    message = first.get("message")
    kept = (
        {k: v for k, v in message.items() if k not in _OWNED_MESSAGE_KEYS}
        if isinstance(message, dict)
        else {}
    )
    choice = {
        **first,
        "message": {**kept, **new_choice["message"]},
        "finish_reason": new_choice["finish_reason"],
    }
    return {**original, "choices": [choice, *choices[1:]]}
