"""Chat Completions client bodies: shape checks and decoding into the internal model."""

from __future__ import annotations

import json
import uuid
from typing import Any

from coderouter.wire import check
from coderouter.wire.model import (
    Block,
    Message,
    Request,
)
from coderouter.wire.openai_chat.common import NAME

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


def _check_part(value: Any, path: str) -> None:
    part = check.object_with_type(value, path)
    kind = part["type"]
    if kind in ("text", "input_text"):
        check.req_str(part, "text", path)
    elif kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, dict):
            check.opt_str(image, "url", check.join(path, "image_url"))
        elif image is not None and not isinstance(image, str):
            check.fail(check.join(path, "image_url"), "an object with a 'url' string", image)


def _check_function_call(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "id", path)
    function = value.get("function")
    if not isinstance(function, dict):
        check.fail(check.join(path, "function"), "an object", function)
    at = check.join(path, "function")
    check.opt_str(function, "name", at)
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str | dict):
        check.fail(check.join(at, "arguments"), "a string", arguments)


_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})


def _check_message(msg: dict[str, Any], path: str) -> None:
    content = msg.get("content")
    if isinstance(content, list):
        at = check.join(path, "content")
        for j, part in enumerate(content):
            _check_part(part, f"{at}[{j}]")
    elif content is not None and not isinstance(content, str):
        check.fail(
            check.join(path, "content"), "a string, an array of content parts or null", content
        )
    if msg.keys() <= _PLAIN_MESSAGE_KEYS:  # most turns: nothing else to check
        return
    for key in ("reasoning_content", "reasoning", "tool_call_id", "name"):
        if not isinstance(msg.get(key), dict):  # some servers put reasoning objects here
            check.opt_str(msg, key, path)
    check.opt_list(msg, "tool_calls", path, _check_function_call)


def _check_tool(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "type", path)
    check.opt_object(value, "function", path, _check_function)


def _check_function(function: dict[str, Any], path: str) -> None:
    check.opt_str(function, "name", path)
    check.opt_str(function, "description", path)
    check.opt_object(function, "parameters", path)


def _check_tool_choice(body: dict[str, Any]) -> None:
    choice = check.tool_choice_object(body)
    if choice is not None:
        check.opt_object(choice, "function", "tool_choice", _check_function)


def _check_response_format(fmt: dict[str, Any], path: str) -> None:
    check.opt_str(fmt, "type", path)
    check.opt_object(fmt, "json_schema", path, check_json_schema)


def check_json_schema(spec: dict[str, Any], path: str) -> None:
    """The fields of an OpenAI JSON-schema spec (Chat's ``response_format.json_schema``,
    Responses' ``text.format``)."""
    check.opt_str(spec, "name", path)
    check.opt_object(spec, "schema", path)
    check.opt_bool(spec, "strict", path)


def _check_options(body: dict[str, Any]) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        check.opt_int(body, key, "")
    for key in ("temperature", "top_p"):
        check.opt_number(body, key, "")
    stop = body.get("stop")
    if not isinstance(stop, str):
        check.opt_list(body, "stop", "", check.str_item)
    check.opt_object(body, "stream_options", "")
    check.opt_object(body, "response_format", "", _check_response_format)
    _check_tool_choice(body)
    check.opt_list(body, "tools", "", _check_tool)


def validate_request(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise ValueError("'messages' is a required property")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with a 'role' string")
        _check_message(msg, f"messages[{i}]")
    check.model_and_stream(body)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    _check_options(body)


def decode_request(body: dict[str, Any]) -> Request:
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
        source=NAME,
        extras={NAME: {k: v for k, v in body.items() if k not in _KNOWN_KEYS}},
    )
