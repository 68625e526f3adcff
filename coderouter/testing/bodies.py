"""Upstream answer bodies as real providers write them: Chat Completions, Anthropic Messages
and Responses, whole or as SSE frames; and the image-carrying request messages that routing
tests send.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any


def _now_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def chat_completion(
    text: str = "hello",
    *,
    model: str = "fake-model",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A Chat Completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": text if text else None}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": c.get("id", _now_id("call_")),
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for c in tool_calls
        ]
    return {
        "id": _now_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": _chat_usage(prompt_tokens, completion_tokens, cached_tokens),
    }


def _chat_usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def _split(text: str, count: int) -> list[str]:
    """``text`` in ``count`` pieces of (nearly) equal length."""
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def chat_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "fake-model",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: bool = True,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning: Sequence[str] = (),
    done: bool = True,
    finish_reason: str | None = None,
    argument_pieces: int = 2,
) -> list[str]:
    """Chat Completions SSE frames: role chunk, content pieces, tool calls (their arguments in
    ``argument_pieces`` chunks), finish, usage, ``[DONE]``."""
    cid = _now_id("chatcmpl-")

    def frame(**fields: Any) -> str:
        envelope = {"id": cid, "object": "chat.completion.chunk", "created": 0, "model": model}
        return "data: " + json.dumps({**envelope, **fields}) + "\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return frame(choices=[{"index": 0, "delta": delta, "finish_reason": finish}])

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"reasoning_content": r}) for r in reasoning]
    frames += [chunk({"content": p}) for p in pieces]
    for i, call in enumerate(tool_calls or []):
        args = json.dumps(call.get("arguments", {}))
        frames.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call.get("id", f"call_{i}"),
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for part in _split(args, argument_pieces):
            frames.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    frames.append(chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    if usage:
        frames.append(
            frame(choices=[], usage=_chat_usage(prompt_tokens, completion_tokens, cached_tokens))
        )
    if done:
        frames.append("data: [DONE]\n\n")
    return frames


def anthropic_message(
    text: str = "hello",
    *,
    model: str = "claude-fake",
    tool_uses: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """An Anthropic Messages response body."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in tool_uses or []:
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", _now_id("toolu_")),
                "name": call["name"],
                "input": call.get("input", {}),
            }
        )
    return {
        "id": _now_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def anthropic_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "claude-fake",
    tool_uses: list[dict[str, Any]] | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    stop: bool = True,
) -> list[str]:
    """Anthropic Messages SSE frames with ``event:`` lines."""

    def frame(event: str, data: dict[str, Any]) -> str:
        return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n"

    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 1,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    frames = [
        frame(
            "message_start",
            {
                "message": {
                    "id": _now_id("msg_"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                }
            },
        ),
        frame("ping", {}),
    ]
    index = 0
    if pieces:
        frames.append(
            frame(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
        )
        frames += [
            frame("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
            for p in pieces
        ]
        frames.append(frame("content_block_stop", {"index": 0}))
        index = 1
    for call in tool_uses or []:
        frames.append(
            frame(
                "content_block_start",
                {
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call.get("id", _now_id("toolu_")),
                        "name": call["name"],
                        "input": {},
                    },
                },
            )
        )
        frames.append(
            frame(
                "content_block_delta",
                {
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps(call.get("input", {})),
                    },
                },
            )
        )
        frames.append(frame("content_block_stop", {"index": index}))
        index += 1
    frames.append(
        frame(
            "message_delta",
            {
                "delta": {
                    "stop_reason": "tool_use" if tool_uses else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    if stop:
        frames.append(frame("message_stop", {}))
    return frames


def _responses_output(
    text: str, tool_calls: Sequence[dict[str, Any]], ids: dict[str, str]
) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if text:
        output.append(
            {
                "type": "message",
                "id": ids["message"],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    for i, call in enumerate(tool_calls):
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{ids['response'][5:]}_{i}",
                "call_id": call.get("id", f"call_{i}"),
                "name": call["name"],
                "arguments": json.dumps(call.get("arguments", {})),
                "status": "completed",
            }
        )
    return output


def responses_body(
    text: str = "hello",
    *,
    model: str = "fake-model",
    tool_calls: Sequence[dict[str, Any]] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    status: str = "completed",
) -> dict[str, Any]:
    """An OpenAI Responses response body, as the API returns it."""
    rid = _now_id("resp_")
    ids = {"response": rid, "message": _now_id("msg_")}
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": _responses_output(text, tool_calls, ids),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
    }
    if status == "incomplete":
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    return body


def responses_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "fake-model",
    tool_calls: Sequence[dict[str, Any]] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    cached_tokens: int = 0,
    argument_pieces: int = 2,
) -> list[str]:
    """OpenAI Responses SSE events, in the order the API sends them: created, in_progress,
    per output item added / part added / deltas / done (a function call's arguments in
    ``argument_pieces`` deltas), completed with the whole response."""
    final = responses_body(
        "".join(pieces),
        model=model,
        tool_calls=tool_calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
    )
    sequence = iter(range(10_000))

    def event(kind: str, data: dict[str, Any]) -> str:
        payload = {"type": kind, "sequence_number": next(sequence), **data}
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

    started = {**final, "status": "in_progress", "output": [], "usage": None}
    frames = [
        event("response.created", {"response": started}),
        event("response.in_progress", {"response": started}),
    ]
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            frames.append(
                event(
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "content": []},
                    },
                )
            )
            frames.append(event("response.content_part.added", {**where, "part": empty}))
            frames += [
                event("response.output_text.delta", {**where, "delta": p, "logprobs": []})
                for p in pieces
            ]
            done = {**where, "text": text, "logprobs": []}
            frames.append(event("response.output_text.done", done))
            frames.append(
                event("response.content_part.done", {**where, "part": item["content"][0]})
            )
        else:
            args = item["arguments"]
            where = {"item_id": item["id"], "output_index": index}
            frames.append(
                event(
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "arguments": ""},
                    },
                )
            )
            frames += [
                event("response.function_call_arguments.delta", {**where, "delta": part})
                for part in _split(args, argument_pieces)
            ]
            frames.append(
                event("response.function_call_arguments.done", {**where, "arguments": args})
            )
        frames.append(event("response.output_item.done", {"output_index": index, "item": item}))
    frames.append(event("response.completed", {"response": final}))
    return frames


# --- request messages with images -------------------------------------------------------------


READ_TOOL: dict[str, Any] = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
"""An Anthropic tool definition: the file-reading tool every coding agent declares."""


def anthropic_image(data: str, media_type: str = "image/png") -> dict[str, Any]:
    """An Anthropic Messages ``image`` content block with the base64 ``data``."""
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def anthropic_image_question(data: str, text: str = "what is this?") -> list[dict[str, Any]]:
    """Anthropic ``messages``: one user turn asking ``text`` about the base64 PNG ``data``."""
    return [{"role": "user", "content": [{"type": "text", "text": text}, anthropic_image(data)]}]


def chat_image_question(url: str, text: str = "what is this?") -> list[dict[str, Any]]:
    """Chat Completions ``messages``: one user turn asking ``text`` about the image at ``url``."""
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "user", "content": content}]


def chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions ``tools`` entry for the Anthropic tool definition ``tool``."""
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool["description"],
            "parameters": tool["input_schema"],
        },
    }


def anthropic_tool_image_turns(data: str) -> list[dict[str, Any]]:
    """Anthropic ``messages`` whose only image is the base64 PNG ``data`` a ``Read`` tool
    returned: the user asks ``look at shot.png``, the assistant calls the tool, the last user
    turn is the tool's result."""
    return [
        {"role": "user", "content": [{"type": "text", "text": "look at shot.png"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t", "name": "Read", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [anthropic_image(data)]}
            ],
        },
    ]
