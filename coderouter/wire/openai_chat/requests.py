"""Chat Completions requests in: client bodies, checked by
:mod:`~coderouter.wire.openai_chat.validate`, decoded into the internal
:class:`~coderouter.wire.model.Request`."""

from __future__ import annotations

import json
from typing import Any

from coderouter.wire.effort import thinking_for
from coderouter.wire.model import (
    Block,
    Message,
    Request,
    unique_hex,
)
from coderouter.wire.openai_chat.common import NAME
from coderouter.wire.openai_chat.validate import validate_request

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


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def image_block_of_url(url: str) -> Block:
    """The internal ``image`` block of an OpenAI image URL: a ``data:`` URL's base64 inline,
    any other URL by reference (Chat and Responses carry images alike)."""
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _image_block(part: dict[str, Any]) -> Block:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    return image_block_of_url(url)


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
    text = text_of(msg.get("content"))
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
                "id": call.get("id") or f"call_{unique_hex(12)}",
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


def keyword_choice_in(choice: Any) -> dict[str, Any] | None:
    """The internal tool choice of OpenAI's ``auto``, ``none`` and ``required`` (Chat and
    Responses spell them alike); ``None`` for anything else."""
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    return None


def output_format_in(kind: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The internal output format of an OpenAI ``json_schema`` or ``json_object`` format;
    ``spec`` holds the schema's ``name``, ``schema`` and ``strict`` (Chat nests them under
    ``json_schema``, Responses does not)."""
    if kind == "json_schema":
        out: dict[str, Any] = {"type": "json_schema", "schema": spec.get("schema") or {}}
        if spec.get("name"):
            out["name"] = spec["name"]
        if "strict" in spec:
            out["strict"] = spec["strict"]
        return out
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
        return None
    return keyword_choice_in(choice)


def _response_format_in(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict):
        return None
    return output_format_in(fmt.get("type"), fmt.get("json_schema") or {})


def decode_request(body: dict[str, Any], *, checked: bool = False) -> Request:
    if not checked:
        validate_request(body)
    system: list[Block] = []
    messages: list[Message] = []
    for msg in body["messages"]:
        role = msg["role"]
        if role in ("system", "developer"):
            block = {"type": "text", "text": text_of(msg.get("content"))}
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
                        "content": text_of(msg.get("content")),
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
        thinking=thinking_for(body.get("reasoning_effort")),
        source=NAME,
        extras={NAME: {k: v for k, v in body.items() if k not in _KNOWN_KEYS}},
    )
