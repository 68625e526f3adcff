"""OpenAI Responses: requests, responses, stream events and errors.

Spoken by the ``/v1/responses`` ingress (codex, ``client.responses`` of the openai SDK), and
ready for a provider kind that speaks Responses upstream.

Choices this module makes, and why:

* **Namespace tools** (``{"type": "namespace", "name": N, "tools": [...]}``) are flattened into
  plain functions named ``N__inner`` (underscores around the joint trimmed), the flat name codex
  itself uses where a boundary cannot keep the split. The name is unique even when two
  namespaces share an inner name, and a ``function_call`` input item carrying ``namespace``
  maps back to the same flat name with no table. On the way out the flat name is split again
  (table built from the request's ``tools``) into ``name`` + ``namespace``, because codex routes
  a call by the pair and rejects a namespaced tool called by its flat name. The table also rides
  in ``request.extras["openai_responses.tool_namespaces"]`` (flat name -> [namespace, name]).
* **Hosted tools** (``web_search``, ``file_search``, ``code_interpreter``, ``custom`` ...) have no
  equivalent elsewhere: they are dropped, logged and counted in ``request.dropped``.
* **Reasoning items** from OpenAI carry encrypted state only OpenAI can read: dropped on decode
  (counted as ``reasoning``). Thinking produced by other providers is sent to the client as a
  ``reasoning`` item whose summary is the thinking text; an Anthropic signature travels in
  ``encrypted_content`` behind :data:`SIGNATURE_PREFIX` (redacted thinking behind
  :data:`REDACTED_PREFIX`). codex echoes these items back, and decode turns them into thinking
  blocks again, which an Anthropic upstream needs in a tool loop with thinking on. Same-format
  pass-through strips them, as a real Responses upstream would reject them.
* **Reasoning effort** sets ``request.thinking = {"type": "enabled", "budget_tokens": N}`` with
  N from :data:`EFFORT_BUDGETS` (minimal/low 1024, medium 8192, high 24576, xhigh 32768;
  ``none`` or no effort leaves thinking off). ``reasoning`` itself stays in extras.
* **Streams** always end with ``response.completed``, also when the answer was cut by the token
  limit (the response then has ``status: "incomplete"``): codex treats ``response.incomplete``
  as a failure and retries, and the SDK accumulator only finishes on ``response.completed``.
  Every item gets ``response.output_item.done`` (codex builds its state from those only).
  ``response.failed`` frames also carry the error at the top level, so the openai SDK raises
  ``APIError`` with the message instead of a bare "no response.completed".
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs

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
    Response,
    SignatureDelta,
    StopReason,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
    parse_tool_input,
)
from coderouter.wire.openai_chat import BILLING_HEADER_PREFIX, ERROR_TYPES

__all__ = [
    "EFFORT_BUDGETS",
    "FORMAT",
    "NAMESPACES_EXTRA",
    "REDACTED_PREFIX",
    "SIGNATURE_PREFIX",
    "OpenAIResponses",
    "ResponsesStreamDecoder",
    "ResponsesStreamEncoder",
    "flat_tool_name",
    "new_id",
    "tool_namespaces",
    "usage_from_responses",
    "usage_to_responses",
]

log = logging.getLogger("coderouter.wire")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

SIGNATURE_PREFIX = "coderouter-thinking:"
"""``encrypted_content`` of a reasoning item made from signed thinking: prefix + signature."""
REDACTED_PREFIX = "coderouter-redacted:"
"""``encrypted_content`` of a reasoning item made from redacted thinking: prefix + data."""
NAMESPACES_EXTRA = "openai_responses.tool_namespaces"

EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
_MESSAGE_ROLES = ("user", "assistant", "system", "developer")
_KNOWN_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "text",
        "profile",
    }
)
_FAILED_CODES = {
    "rate_limit": "rate_limit_exceeded",
    "budget": "insufficient_quota",
    "invalid_request": "invalid_prompt",
    "request_too_large": "invalid_prompt",
}
"""Wire-neutral error type -> ``response.failed`` error code (others: ``server_error``)."""
_CODE_ERRORS = {
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "invalid_prompt": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "server_is_overloaded": "overloaded",
    "slow_down": "overloaded",
}
"""Upstream ``response.failed`` code -> wire-neutral error type (others: ``api_error``)."""


def new_id(prefix: str = "resp") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def flat_tool_name(namespace: str, name: str) -> str:
    """The plain function name of ``name`` inside ``namespace`` (codex's flat form)."""
    return f"{namespace.rstrip('_')}__{name.lstrip('_')}"


def tool_namespaces(tools: Any) -> dict[str, tuple[str, str]]:
    """Flat name -> (namespace, inner name) for every function inside a namespace tool."""
    found: dict[str, tuple[str, str]] = {}
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or tool.get("type") != "namespace":
            continue
        namespace = tool.get("name")
        if not isinstance(namespace, str) or not namespace:
            continue
        for inner in tool.get("tools") or ():
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and inner["name"]:
                found[flat_tool_name(namespace, inner["name"])] = (namespace, inner["name"])
    return found


# --- requests -------------------------------------------------------------------------------


def _validate_item(i: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise ValueError(f"input[{i}] must be an object")
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        raise ValueError(f"input[{i}].type must be a string")
    if kind == "message":
        if item.get("role") not in _MESSAGE_ROLES:
            raise ValueError(
                f"input[{i}].role must be one of 'user', 'assistant', 'system', 'developer'"
            )
        if not isinstance(item.get("content"), str | list):
            raise ValueError(f"input[{i}].content must be a string or an array")
    elif kind == "function_call":
        for key in ("call_id", "name"):
            if not isinstance(item.get(key), str):
                raise ValueError(f"input[{i}].{key} must be a string")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise ValueError(f"input[{i}].call_id must be a string")
        if not isinstance(item.get("output"), str | list):
            raise ValueError(f"input[{i}].output must be a string or an array")


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise ValueError(f"tools[{i}] must be an object with a 'type' string")
        if tool["type"] in ("function", "namespace") and not isinstance(tool.get("name"), str):
            raise ValueError(f"tools[{i}].name must be a string")


def _image_block(part: dict[str, Any]) -> Block | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _part_block(part: Any, request: Request) -> Block | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "refusal":
        text = part.get("refusal")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "input_image":
        block = _image_block(part)
        if block is None:
            request.note_dropped("images")
        return block
    request.note_dropped("files" if kind == "input_file" else "content_parts")
    return None


def _content_blocks(content: Any, request: Request) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = [_part_block(part, request) for part in content or ()]
    return [b for b in blocks if b is not None]


def _append(messages: list[Message], role: str, blocks: list[Block]) -> None:
    """Consecutive items of one role merge into one message (a reasoning item, the assistant
    text and its function calls are one assistant turn; tool outputs are one user turn)."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role and role != "system":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _decode_message(item: dict[str, Any], request: Request) -> None:
    role = item.get("role")
    blocks = _content_blocks(item.get("content"), request)
    if role in ("system", "developer"):
        texts = [b for b in blocks if b["type"] == "text"]
        if not request.messages:
            request.system.extend(texts)
        elif texts:
            request.messages.append({"role": "system", "content": texts})
    elif role == "assistant":
        _append(request.messages, "assistant", blocks)
    else:
        _append(request.messages, "user", blocks)


def _decode_function_call(item: dict[str, Any], request: Request) -> None:
    name = str(item.get("name") or "")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_tool_name(namespace, name)
    args = item.get("arguments")
    parsed = args if isinstance(args, dict) else parse_tool_input(str(args or ""))
    call_id = item.get("call_id") or item.get("id") or new_id("call")
    _append(
        request.messages,
        "assistant",
        [{"type": "tool_use", "id": call_id, "name": name, "input": parsed}],
    )


def _tool_output(output: Any, request: Request) -> str | list[Block]:
    if isinstance(output, str):
        return output
    blocks = _content_blocks(output, request)
    if any(b["type"] != "text" for b in blocks):
        return blocks
    return "\n".join(b["text"] for b in blocks)


def _decode_function_call_output(item: dict[str, Any], request: Request) -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": item.get("call_id", ""),
        "content": _tool_output(item.get("output"), request),
    }
    _append(request.messages, "user", [result])


def _summary_text(item: dict[str, Any]) -> str:
    texts = [
        part.get("text", "")
        for part in item.get("summary") or ()
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    if not any(texts):
        texts = [
            part.get("text", "")
            for part in item.get("content") or ()
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return "\n\n".join(t for t in texts if t)


def _thinking_of(item: dict[str, Any]) -> Block | None:
    """The thinking block a reasoning item made by :class:`ResponsesStreamEncoder` (or
    :meth:`OpenAIResponses.encode_response`) stands for; None for anyone else's item."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str):
        return None
    if encrypted.startswith(SIGNATURE_PREFIX):
        signature = encrypted[len(SIGNATURE_PREFIX) :]
        return {"type": "thinking", "thinking": _summary_text(item), "signature": signature}
    if encrypted.startswith(REDACTED_PREFIX):
        return {"type": "redacted_thinking", "data": encrypted[len(REDACTED_PREFIX) :]}
    return None


def _decode_reasoning(item: dict[str, Any], request: Request) -> None:
    block = _thinking_of(item)
    if block is None:
        request.note_dropped("reasoning")
    else:
        _append(request.messages, "assistant", [block])


_ITEM_DECODERS: dict[str, Callable[[dict[str, Any], Request], None]] = {
    "message": _decode_message,
    "function_call": _decode_function_call,
    "function_call_output": _decode_function_call_output,
    "reasoning": _decode_reasoning,
}


def _decode_input(body: dict[str, Any], request: Request) -> None:
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        request.system.append({"type": "text", "text": instructions})
    items = body["input"]
    if isinstance(items, str):
        request.messages.append({"role": "user", "content": [{"type": "text", "text": items}]})
        return
    for item in items:
        kind = item.get("type") or "message"
        decoder = _ITEM_DECODERS.get(kind)
        if decoder is None:
            log.info("openai_responses: dropped input item of type %r", kind)
            request.note_dropped("input_items")
        else:
            decoder(item, request)


def _function_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    schema = tool.get("parameters")
    return {
        "name": name,
        "description": tool.get("description") or "",
        "input_schema": schema if isinstance(schema, dict) else {"type": "object"},
    }


def _drop_tool(kind: Any, request: Request) -> None:
    log.info("openai_responses: dropped tool of type %r (no equivalent outside OpenAI)", kind)
    request.note_dropped("custom_tools" if kind == "custom" else "hosted_tools")


def _decode_tools(tools: Any, request: Request) -> dict[str, list[str]]:
    namespaces: dict[str, list[str]] = {}
    for tool in tools or ():
        kind = tool.get("type")
        if kind == "function":
            request.tools.append(_function_tool(tool, str(tool.get("name"))))
        elif kind == "namespace":
            namespace = str(tool.get("name"))
            for inner in tool.get("tools") or ():
                name = inner.get("name") if isinstance(inner, dict) else None
                if not name or not isinstance(name, str) or inner.get("type") != "function":
                    _drop_tool(inner.get("type") if isinstance(inner, dict) else None, request)
                    continue
                flat = flat_tool_name(namespace, name)
                request.tools.append(_function_tool(inner, flat))
                namespaces[flat] = [namespace, name]
        else:
            _drop_tool(kind, request)
    return namespaces


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if isinstance(name, str) and name:
            namespace = choice.get("namespace")
            if isinstance(namespace, str) and namespace:
                name = flat_tool_name(namespace, name)
            return {"type": "tool", "name": name}
    return None


def _thinking_in(reasoning: Any) -> dict[str, Any] | None:
    if not isinstance(reasoning, dict):
        return None
    budget = EFFORT_BUDGETS.get(str(reasoning.get("effort")))
    return {"type": "enabled", "budget_tokens": budget} if budget else None


def _response_format_in(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        out: dict[str, Any] = {"type": "json_schema", "schema": fmt.get("schema") or {}}
        if fmt.get("name"):
            out["name"] = fmt["name"]
        if "strict" in fmt:
            out["strict"] = fmt["strict"]
        return out
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _extras_in(body: dict[str, Any]) -> dict[str, Any]:
    extras = {k: v for k, v in body.items() if k not in _KNOWN_KEYS}
    text = body.get("text")
    if isinstance(text, dict):
        rest = {k: v for k, v in text.items() if k != "format"}
        if rest:
            extras["text"] = rest
    return extras


# --- encoding requests ------------------------------------------------------------------------


def _note_cache_control(block: Block, request: Request) -> None:
    if "cache_control" in block:
        request.note_dropped("cache_control")


def _developer(texts: list[str]) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": t} for t in texts],
    }


def _system_texts(blocks: list[Block], request: Request) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        _note_cache_control(block, request)
        text = block.get("text", "")
        if text and not text.startswith(BILLING_HEADER_PREFIX):
            texts.append(text)
    return texts


def _image_url(block: Block) -> str:
    src = block.get("source") or {}
    if src.get("type") == "base64":
        return f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
    return str(src.get("url", ""))


def _input_part(block: Block, request: Request) -> dict[str, Any] | None:
    _note_cache_control(block, request)
    kind = block.get("type")
    if kind == "text":
        return {"type": "input_text", "text": block.get("text", "")}
    if kind == "image":
        return {"type": "input_image", "image_url": _image_url(block), "detail": "auto"}
    if kind in ("thinking", "redacted_thinking"):
        request.note_dropped("thinking")
    else:
        request.note_dropped("content_parts")
    return None


def _tool_output_out(block: Block, request: Request) -> str | list[dict[str, Any]]:
    content = block.get("content")
    if isinstance(content, str):
        return content
    parts = [_input_part(b, request) for b in content or () if isinstance(b, dict)]
    found = [p for p in parts if p is not None]
    if all(p["type"] == "input_text" for p in found):
        return "\n".join(p["text"] for p in found)
    return found


def _user_items(blocks: list[Block], request: Request) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "tool_result":
            _note_cache_control(block, request)
            if parts:
                items.append({"type": "message", "role": "user", "content": parts})
                parts = []
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": block.get("tool_use_id", ""),
                    "output": _tool_output_out(block, request),
                }
            )
            continue
        part = _input_part(block, request)
        if part is not None:
            parts.append(part)
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})
    return items


def _assistant_items(blocks: list[Block], request: Request) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        _note_cache_control(block, request)
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "output_text", "text": block.get("text", ""), "annotations": []})
        elif kind == "tool_use":
            if parts:
                items.append({"type": "message", "role": "assistant", "content": parts})
                parts = []
            items.append(
                {
                    "type": "function_call",
                    "call_id": block.get("id", ""),
                    "name": block.get("name", ""),
                    "arguments": _dumps(block.get("input") or {}),
                }
            )
        else:
            request.note_dropped("thinking" if "thinking" in str(kind) else "content_parts")
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    return items


def _encode_input(request: Request) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    system = _system_texts(request.system, request)
    if system:
        items.append(_developer(system))
    for msg in request.messages:
        blocks = msg["content"]
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        role = msg["role"]
        if role == "system":
            texts = _system_texts(blocks, request)
            if texts:
                items.append(_developer(texts))
        elif role == "assistant":
            items.extend(_assistant_items(blocks, request))
        else:
            items.extend(_user_items(blocks, request))
    return items


def _tool_choice_out(choice: dict[str, Any] | None) -> Any:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "name": choice.get("name", "")}
    return {"auto": "auto", "none": "none", "any": "required"}.get(str(kind))


def _effort_for(thinking: dict[str, Any] | None) -> str | None:
    if not thinking or thinking.get("type") == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGETS["medium"] else "high"


def _reasoning_out(request: Request, extras: dict[str, Any]) -> dict[str, Any] | None:
    reasoning = extras.get("reasoning")
    out = dict(reasoning) if isinstance(reasoning, dict) else {}
    if _thinking_in(out) == request.thinking:
        return out or None  # the client's own effort, unchanged ("minimal" stays "minimal")
    effort = _effort_for(request.thinking)
    if effort is not None:
        out["effort"] = effort
    return out or None


def _text_out(request: Request, extras: dict[str, Any]) -> dict[str, Any] | None:
    text = extras.get("text")
    out = dict(text) if isinstance(text, dict) else {}
    fmt = request.response_format
    if fmt and fmt.get("type") == "json_schema":
        spec: dict[str, Any] = {
            "type": "json_schema",
            "name": fmt.get("name") or "output",
            "schema": fmt.get("schema") or {},
        }
        if "strict" in fmt:
            spec["strict"] = fmt["strict"]
        out["format"] = spec
    elif fmt and fmt.get("type") == "json_object":
        out["format"] = {"type": "json_object"}
    return out or None


def _is_synthetic_reasoning(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "reasoning"
        and _thinking_of(item) is not None
    )


# --- responses --------------------------------------------------------------------------------


def usage_from_responses(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    out_details = usage.get("output_tokens_details")
    out_details = out_details if isinstance(out_details, dict) else {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return Usage(
        input_tokens=max(0, int(usage.get("input_tokens") or 0) - cached - written),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
    )


def usage_to_responses(usage: Usage) -> dict[str, Any]:
    total_in = usage.total_input_tokens
    return {
        "input_tokens": total_in,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": total_in + usage.output_tokens,
    }


def _output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [_output_text_part(text)],
    }


def _function_call_item(
    item_id: str,
    block: Block,
    arguments: str,
    status: str,
    namespaces: dict[str, tuple[str, str]],
) -> dict[str, Any]:
    name = str(block.get("name", ""))
    item: dict[str, Any] = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": block.get("id") or new_id("call"),
        "name": name,
    }
    split = namespaces.get(name)
    if split is not None:
        item["namespace"], item["name"] = split
    return item


def _reasoning_item(item_id: str, block: Block, text: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if block.get("type") == "redacted_thinking":
        item["encrypted_content"] = REDACTED_PREFIX + str(block.get("data", ""))
    elif block.get("signature"):
        item["encrypted_content"] = SIGNATURE_PREFIX + str(block["signature"])
    return item


def _output_items(
    blocks: list[Block], namespaces: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            items.append(_message_item(new_id("msg"), block.get("text", ""), "completed"))
        elif kind == "tool_use":
            args = _dumps(block.get("input") or {})
            items.append(_function_call_item(new_id("fc"), block, args, "completed", namespaces))
        elif kind in ("thinking", "redacted_thinking"):
            items.append(_reasoning_item(new_id("rs"), block, block.get("thinking")))
    return items


def _status_of(stop_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if stop_reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason == "refusal":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _failed_error(error_type: str, message: str) -> dict[str, Any]:
    return {"code": _FAILED_CODES.get(error_type, "server_error"), "message": message}


def _response_object(
    *,
    response_id: str,
    created_at: int,
    model: str,
    request_body: dict[str, Any],
    output: list[dict[str, Any]],
    status: str = "in_progress",
    usage: Usage | None = None,
) -> dict[str, Any]:
    body = request_body
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning"),
        "store": body.get("store", False),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": body.get("truncation", "disabled"),
        "metadata": body.get("metadata") or {},
        "usage": None if usage is None else usage_to_responses(usage),
    }


def _finish_object(obj: dict[str, Any], response: Response) -> None:
    """Status, incomplete details or error of a finished response object."""
    if response.error is not None:
        obj["status"] = "failed"
        obj["error"] = _failed_error(response.error.error_type, response.error.message)
        return
    obj["status"], obj["incomplete_details"] = _status_of(response.stop_reason)
    if obj["status"] == "completed":
        obj["completed_at"] = int(time.time())


def _stop_reason(body: dict[str, Any], saw_call: bool) -> StopReason:
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if body.get("status") == "incomplete" or reason:
        if reason == "content_filter":
            return "refusal"
        if reason == "max_output_tokens":
            return "max_tokens"
    return "tool_use" if saw_call else "end_turn"


def _error_type_of(code: Any) -> str:
    return _CODE_ERRORS.get(str(code), "api_error")


def _message_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    texts = []
    for part in content or ():
        if isinstance(part, dict):
            text = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
            if isinstance(text, str):
                texts.append(text)
    return "".join(texts)


def _call_head(item: dict[str, Any]) -> Block:
    name = str(item.get("name") or "")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_tool_name(namespace, name)
    return {"type": "tool_use", "id": item.get("call_id") or new_id("call"), "name": name}


def _reasoning_head(item: dict[str, Any]) -> Block:
    block = _thinking_of(item)
    if block is not None and block["type"] == "redacted_thinking":
        return block
    return {"type": "thinking"}


def _item_events(index: int, item: dict[str, Any]) -> list[Event]:
    """One output item of a whole Response as a block's events (none for hosted items)."""
    kind = item.get("type")
    if kind == "message":
        text = _message_text(item)
        if not text:
            return []
        return [BlockStart(index, {"type": "text"}), TextDelta(index, text), BlockStop(index)]
    if kind == "function_call":
        args = item.get("arguments")
        args_text = args if isinstance(args, str) else _dumps(args or {})
        return [
            BlockStart(index, _call_head(item)),
            ToolArgsDelta(index, args_text),
            BlockStop(index),
        ]
    if kind != "reasoning":
        return []
    head = _reasoning_head(item)
    if head["type"] == "redacted_thinking":
        return [BlockStart(index, head), BlockStop(index)]
    text = _summary_text(item)
    signature = (_thinking_of(item) or {}).get("signature")
    if not text and not signature:
        return []
    events: list[Event] = [BlockStart(index, head), ThinkingDelta(index, text)]
    if signature:
        events.append(SignatureDelta(index, signature))
    return [*events, BlockStop(index)]


class OpenAIResponses:
    name = "openai_responses"

    def validate_request(self, body: dict[str, Any]) -> None:
        items = body.get("input")
        if items is None:
            raise ValueError("'input' is a required property")
        if isinstance(items, list):
            for i, item in enumerate(items):
                _validate_item(i, item)
        elif not isinstance(items, str):
            raise ValueError("'input' must be a string or an array of input items")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ValueError("'model' must be a string")
        if "stream" in body and not isinstance(body["stream"], bool | None):
            raise ValueError("'stream' must be a boolean")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise ValueError("'instructions' must be a string")
        limit = body.get("max_output_tokens")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise ValueError("'max_output_tokens' must be an integer")
        _validate_tools(body.get("tools"))

    def decode_request(self, body: dict[str, Any]) -> Request:
        self.validate_request(body)
        max_tokens = body.get("max_output_tokens")
        request = Request(
            model=body.get("model") or "",
            messages=[],
            tool_choice=_tool_choice_in(body.get("tool_choice")),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            stream=body.get("stream") is True,
            thinking=_thinking_in(body.get("reasoning")),
            response_format=_response_format_in(body.get("text")),
            source=self.name,
            extras={self.name: _extras_in(body)},
        )
        _decode_input(body, request)
        namespaces = _decode_tools(body.get("tools"), request)
        if namespaces:
            request.extras[NAMESPACES_EXTRA] = namespaces
        return request

    def encode_request(self, request: Request, *, model: str, stream: bool) -> dict[str, Any]:
        extras: dict[str, Any] = request.extras.get(self.name, {})
        body: dict[str, Any] = {"model": model, "input": _encode_input(request)}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "name": t.get("name", ""),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object"},
                    "strict": False,
                }
                for t in request.tools
            ]
            choice = _tool_choice_out(request.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
            if request.tool_choice and request.tool_choice.get("disable_parallel_tool_use"):
                body["parallel_tool_calls"] = False
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            request.note_dropped("stop")
        for key, value in (
            ("reasoning", _reasoning_out(request, extras)),
            ("text", _text_out(request, extras)),
        ):
            if value is not None:
                body[key] = value
        for key, value in extras.items():
            body.setdefault(key, value)
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
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
        items = body.get("input")
        if isinstance(items, list) and any(_is_synthetic_reasoning(i) for i in items):
            items = [i for i in items if not _is_synthetic_reasoning(i)]
            out["input"] = items
        if notes:
            if isinstance(items, str):
                items = [{"type": "message", "role": "user", "content": items}]
            out["input"] = [*(items or []), _developer(["\n\n".join(notes)])]
        limit = out.get("max_output_tokens")
        if max_tokens is not None and isinstance(limit, int) and limit > max_tokens:
            out["max_output_tokens"] = max_tokens
        return out

    # --- responses ---------------------------------------------------------------------------

    def usage_of(self, body: dict[str, Any]) -> Usage:
        return usage_from_responses(body.get("usage"))

    def decode_response(self, body: dict[str, Any]) -> list[Event]:
        events: list[Event] = [MessageStart(body.get("id") or new_id(), body.get("model") or "")]
        index = 0
        saw_call = False
        for item in body.get("output") or ():
            if not isinstance(item, dict):
                continue
            block_events = _item_events(index, item)
            if block_events:
                saw_call = saw_call or item.get("type") == "function_call"
                events += block_events
                index += 1
        error = body.get("error")
        if body.get("status") == "failed" and isinstance(error, dict):
            events.append(
                StreamError(
                    _error_type_of(error.get("code")),
                    str(error.get("message") or "response failed"),
                )
            )
        events += [MessageDelta(_stop_reason(body, saw_call), self.usage_of(body)), MessageStop()]
        return events

    def encode_response(
        self,
        events: list[Event],
        *,
        model: str,
        request_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A whole Response object. With ``request_body`` the response echoes its settings
        and namespaced tool calls get their ``namespace`` back."""
        body = request_body or {}
        response = accumulate(events)
        obj = _response_object(
            response_id=new_id(),
            created_at=int(time.time()),
            model=model or response.model,
            request_body=body,
            output=_output_items(response.content, tool_namespaces(body.get("tools"))),
            usage=response.usage,
        )
        _finish_object(obj, response)
        return obj

    # --- streams -----------------------------------------------------------------------------

    def stream_decoder(self) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(model=model, request_body=request_body)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
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
        obj = _response_object(
            response_id=new_id(),
            created_at=int(time.time()),
            model="",
            request_body={},
            output=[],
            status="failed",
        )
        return _failed_frame(obj, _failed_error(error_type, message), 0).encode()

    def error_message(self, body: Any) -> str:
        if not isinstance(body, dict):
            return ""
        err = body.get("error")
        if err is None and isinstance(body.get("response"), dict):
            err = body["response"].get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(body.get("message"), str):
            return str(body["message"])
        return ""


def _frame(kind: str, payload: dict[str, Any], sequence: int) -> str:
    data = {"type": kind, **payload, "sequence_number": sequence}
    return f"event: {kind}\ndata: {_dumps(data)}\n\n"


def _failed_frame(obj: dict[str, Any], error: dict[str, Any], sequence: int) -> str:
    """``response.failed``; the error is repeated at the top level, where the openai SDK looks
    for it (codex reads ``response.error``)."""
    obj["status"] = "failed"
    obj["error"] = error
    return _frame("response.failed", {"response": obj, "error": error}, sequence)


# --- stream encoder ---------------------------------------------------------------------------


_ITEM_PREFIXES = {"text": "msg", "tool_use": "fc", "thinking": "rs", "redacted_thinking": "rs"}


@attrs.define(slots=True)
class _OpenItem:
    """An output item between ``output_item.added`` and ``output_item.done``."""

    kind: str
    item_id: str
    output_index: int
    block: Block
    parts: list[str] = attrs.Factory(list)
    signature: str = ""
    part_open: bool = False


class ResponsesStreamEncoder:
    """Internal events -> Responses SSE: ``response.created`` first, every item added, filled
    and done, ``response.completed`` (or ``response.failed``) last."""

    __slots__ = (
        "_body",
        "_created",
        "_done",
        "_finished",
        "_id",
        "_items",
        "_model",
        "_namespaces",
        "_next_output",
        "_seq",
        "_skipped",
        "_started",
        "_stop",
        "_usage",
    )

    def __init__(self, *, model: str, request_body: dict[str, Any]) -> None:
        self._id = new_id()
        self._model = model
        self._body = request_body
        self._created = int(time.time())
        self._namespaces = tool_namespaces(request_body.get("tools"))
        self._seq = 0
        self._started = False
        self._done = False
        self._items: dict[int, _OpenItem] = {}
        self._skipped: set[int] = set()
        self._finished: dict[int, dict[str, Any]] = {}
        self._next_output = 0
        self._usage = Usage()
        self._stop: StopReason | None = None

    def _emit(self, out: list[str], kind: str, **payload: Any) -> None:
        out.append(_frame(kind, payload, self._seq))
        self._seq += 1

    def _object(self, status: str = "in_progress", usage: Usage | None = None) -> dict[str, Any]:
        return _response_object(
            response_id=self._id,
            created_at=self._created,
            model=self._model,
            request_body=self._body,
            output=[self._finished[i] for i in sorted(self._finished)],
            status=status,
            usage=usage,
        )

    def encode(self, events: list[Event]) -> bytes:
        out: list[str] = []
        for event in events:
            if self._done:
                break
            if not self._started:
                self._start(event, out)
            self._dispatch(event, out)
        return "".join(out).encode()

    def _start(self, event: Event, out: list[str]) -> None:
        self._started = True
        if isinstance(event, MessageStart):
            self._model = self._model or event.model
        response = self._object()
        self._emit(out, "response.created", response=response)
        self._emit(out, "response.in_progress", response=response)

    def _dispatch(self, event: Event, out: list[str]) -> None:
        if isinstance(event, TextDelta):
            self._delta(event.index, "text", event.text, out)
        elif isinstance(event, ThinkingDelta):
            self._delta(event.index, "thinking", event.thinking, out)
        elif isinstance(event, ToolArgsDelta):
            self._delta(event.index, "tool_use", event.partial_json, out)
        elif isinstance(event, SignatureDelta):
            item = self._items.get(event.index)
            if item is not None:
                item.signature += event.signature
        elif isinstance(event, BlockStart):
            self._open(event.index, event.block, out)
        elif isinstance(event, BlockStop):
            self._close(event.index, out)
        elif isinstance(event, MessageStart | MessageDelta):
            self._usage.merge(event.usage)
            if isinstance(event, MessageDelta) and event.stop_reason is not None:
                self._stop = event.stop_reason
        elif isinstance(event, MessageStop):
            self._complete(out)
        elif isinstance(event, StreamError):
            self._fail(event, out)

    def _open(self, index: int, block: Block, out: list[str]) -> _OpenItem | None:
        kind = str(block.get("type"))
        if index in self._items:
            return self._items[index]
        if kind not in _ITEM_PREFIXES:
            self._skipped.add(index)
            return None
        item = _OpenItem(kind, new_id(_ITEM_PREFIXES[kind]), self._next_output, block)
        self._next_output += 1
        self._items[index] = item
        self._emit(
            out,
            "response.output_item.added",
            output_index=item.output_index,
            item=self._item(item, "in_progress"),
        )
        if kind == "text":
            self._emit(
                out,
                "response.content_part.added",
                item_id=item.item_id,
                output_index=item.output_index,
                content_index=0,
                part=_output_text_part(""),
            )
        return item

    def _item(self, item: _OpenItem, status: str) -> dict[str, Any]:
        text = "".join(item.parts)
        if item.kind == "text":
            return _message_item(item.item_id, None if status != "completed" else text, status)
        if item.kind == "tool_use":
            args = text if status != "completed" or text.strip() else "{}"
            return _function_call_item(item.item_id, item.block, args, status, self._namespaces)
        block = {**item.block, "signature": item.signature} if item.signature else item.block
        return _reasoning_item(item.item_id, block, text if status == "completed" else None)

    def _delta(self, index: int, kind: str, text: str, out: list[str]) -> None:
        item = self._items.get(index)
        if item is None and index not in self._skipped and kind != "tool_use":
            item = self._open(index, {"type": kind}, out)
        if item is None or item.kind != kind or not text:
            return
        item.parts.append(text)
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if kind == "text":
            self._emit(
                out, "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
            )
        elif kind == "tool_use":
            self._emit(out, "response.function_call_arguments.delta", **where, delta=text)
        else:
            if not item.part_open:
                item.part_open = True
                self._emit(
                    out,
                    "response.reasoning_summary_part.added",
                    **where,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            self._emit(
                out, "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
            )

    def _close(self, index: int, out: list[str]) -> None:
        item = self._items.pop(index, None)
        if item is None:
            return
        done = self._item(item, "completed")
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "text":
            text = done["content"][0]["text"]
            self._emit(
                out, "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            self._emit(
                out, "response.content_part.done", **where, content_index=0, part=done["content"][0]
            )
        elif item.kind == "tool_use":
            self._emit(
                out, "response.function_call_arguments.done", **where, arguments=done["arguments"]
            )
        elif item.part_open:
            part = done["summary"][0]
            self._emit(
                out,
                "response.reasoning_summary_text.done",
                **where,
                summary_index=0,
                text=part["text"],
            )
            self._emit(
                out, "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
        self._emit(out, "response.output_item.done", output_index=item.output_index, item=done)
        self._finished[item.output_index] = done

    def _complete(self, out: list[str]) -> None:
        for index in sorted(self._items):
            self._close(index, out)
        obj = self._object(usage=self._usage)
        _finish_object(obj, Response(stop_reason=self._stop))
        self._emit(out, "response.completed", response=obj)
        self._done = True

    def _fail(self, event: StreamError, out: list[str]) -> None:
        obj = self._object(usage=self._usage)
        out.append(_failed_frame(obj, _failed_error(event.error_type, event.message), self._seq))
        self._seq += 1
        self._done = True


# --- stream decoder ---------------------------------------------------------------------------


@attrs.define(slots=True)
class _Block:
    """A block opened from an output item: its internal index and what was emitted so far."""

    index: int
    kind: str
    sent: list[str] = attrs.Factory(list)
    parts: int = 0
    closed: bool = False


_Handler = Callable[["ResponsesStreamDecoder", dict[str, Any]], list[Event]]


class ResponsesStreamDecoder:
    """Responses SSE -> internal events. Complete at ``response.completed`` (or
    ``response.incomplete``); a stream without either was cut."""

    __slots__ = ("_blocks", "_next_index", "_saw_call", "_started", "complete")

    _HANDLERS: dict[str, _Handler] = {}

    def __init__(self) -> None:
        self._started = False
        self._blocks: dict[int, _Block] = {}
        self._next_index = 0
        self._saw_call = False
        self.complete = False

    def feed(self, frame: Frame) -> list[Event]:
        data = frame.data
        if self.complete or not data or data == "[DONE]":
            return []
        try:
            payload = json.loads(data)
        except ValueError:
            return [StreamError("api_error", f"upstream sent a malformed event: {data[:200]}")]
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or frame.event or ""
        out: list[Event] = []
        if not self._started and kind not in ("error", "response.failed"):
            self._started = True
            response = payload.get("response")
            response = response if isinstance(response, dict) else {}
            out.append(MessageStart(response.get("id") or new_id(), response.get("model") or ""))
        handler = self._HANDLERS.get(str(kind))
        if handler is not None:
            out += handler(self, payload)
        return out

    def finish(self) -> list[Event]:
        return []

    def _open(self, output_index: int, item: dict[str, Any]) -> list[Event]:
        kind = item.get("type")
        if kind == "message":
            head: Block = {"type": "text"}
        elif kind == "function_call":
            head = _call_head(item)
            self._saw_call = True
        elif kind == "reasoning":
            head = _reasoning_head(item)
        else:
            return []
        if output_index in self._blocks:
            return []
        block = _Block(self._next_index, str(head["type"]))
        self._next_index += 1
        self._blocks[output_index] = block
        events: list[Event] = [BlockStart(block.index, head)]
        args = item.get("arguments")
        if kind == "function_call" and isinstance(args, str) and args:
            block.sent.append(args)
            events.append(ToolArgsDelta(block.index, args))
        return events

    def _item_added(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        return self._open(int(payload.get("output_index") or 0), item)

    def _delta(self, payload: dict[str, Any], kind: str) -> list[Event]:
        output_index = int(payload.get("output_index") or 0)
        delta = payload.get("delta")
        events: list[Event] = []
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
            events.append(TextDelta(block.index, delta))
        elif kind == "thinking":
            events.append(ThinkingDelta(block.index, delta))
        else:
            events.append(ToolArgsDelta(block.index, delta))
        return events

    def _summary_part(self, payload: dict[str, Any]) -> list[Event]:
        block = self._blocks.get(int(payload.get("output_index") or 0))
        if block is None or block.closed or block.kind != "thinking":
            return []
        block.parts += 1
        if block.parts > 1 and block.sent:
            block.sent.append("\n\n")
            return [ThinkingDelta(block.index, "\n\n")]
        return []

    def _item_done(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        output_index = int(payload.get("output_index") or 0)
        events: list[Event] = []
        block = self._blocks.get(output_index)
        if block is None:
            events = self._open(output_index, item)
            block = self._blocks.get(output_index)
        if block is None or block.closed:
            return events
        events += self._rest(block, item)
        block.closed = True
        events.append(BlockStop(block.index))
        return events

    def _rest(self, block: _Block, item: dict[str, Any]) -> list[Event]:
        """What the finished item holds that its deltas did not bring (servers that send
        no deltas, or only some)."""
        sent = "".join(block.sent)
        if block.kind == "text":
            full = _message_text(item)
        elif block.kind == "tool_use":
            args = item.get("arguments")
            full = args if isinstance(args, str) else _dumps(args or {})
        elif block.kind == "thinking":
            full = _summary_text(item)
        else:
            return []
        events: list[Event] = []
        if len(full) > len(sent) and full.startswith(sent):
            rest = full[len(sent) :]
            events.append(
                TextDelta(block.index, rest)
                if block.kind == "text"
                else ToolArgsDelta(block.index, rest)
                if block.kind == "tool_use"
                else ThinkingDelta(block.index, rest)
            )
        signature = (_thinking_of(item) or {}).get("signature")
        if block.kind == "thinking" and signature:
            events.append(SignatureDelta(block.index, signature))
        return events

    def _end(self, payload: dict[str, Any]) -> list[Event]:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        events: list[Event] = []
        for block in self._blocks.values():
            if not block.closed:
                block.closed = True
                events.append(BlockStop(block.index))
        stop = _stop_reason(response, self._saw_call)
        events += [MessageDelta(stop, usage_from_responses(response.get("usage"))), MessageStop()]
        self.complete = True
        return events

    def _failed(self, payload: dict[str, Any]) -> list[Event]:
        response = payload.get("response")
        found = [
            response.get("error") if isinstance(response, dict) else None,
            payload.get("error"),
            payload,
        ]
        error: dict[str, Any] = next(e for e in found if isinstance(e, dict))
        message = error.get("message") or "upstream response failed"
        return [StreamError(_error_type_of(error.get("code")), str(message))]


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


FORMAT = OpenAIResponses()
