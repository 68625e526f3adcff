"""OpenAI Responses requests out: the internal request encoded for a Responses upstream, and
a client's Responses body passed through with only what the route must change."""

from __future__ import annotations

from typing import Any

from coderouter.wire.base import PassthroughEdits
from coderouter.wire.effort import ThinkingSupport, effort_for
from coderouter.wire.model import Block, Request, tool_reference_text
from coderouter.wire.openai_chat import BILLING_HEADER_PREFIX
from coderouter.wire.openai_responses.common import NAME, dumps, thinking_of
from coderouter.wire.openai_responses.requests import thinking_in


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
    reference = tool_reference_text(block)
    if reference is not None:
        return {"type": "input_text", "text": reference}
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
                    "arguments": dumps(block.get("input") or {}),
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


def _reasoning_out(request: Request, extras: dict[str, Any]) -> dict[str, Any] | None:
    reasoning = extras.get("reasoning")
    out = dict(reasoning) if isinstance(reasoning, dict) else {}
    if thinking_in(out) == request.thinking:
        return out or None  # the client's own effort, unchanged ("minimal" stays "minimal")
    effort = effort_for(request.thinking)
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
        isinstance(item, dict) and item.get("type") == "reasoning" and thinking_of(item) is not None
    )


# --- entry points -----------------------------------------------------------------------------


def encode_request(
    request: Request, *, model: str, stream: bool, thinking: ThinkingSupport | None = None
) -> dict[str, Any]:
    # Responses carries its own reasoning setting: every target of this format can take it.
    del thinking
    extras: dict[str, Any] = request.extras.get(NAME, {})
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


def passthrough_request(body: dict[str, Any], edits: PassthroughEdits) -> dict[str, Any]:
    out = dict(body)
    out["model"] = edits.model
    out.pop("profile", None)
    items = body.get("input")
    if isinstance(items, list) and any(_is_synthetic_reasoning(i) for i in items):
        items = [i for i in items if not _is_synthetic_reasoning(i)]
        out["input"] = items
    if edits.notes:
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        out["input"] = [*(items or []), _developer(["\n\n".join(edits.notes)])]
    limit = out.get("max_output_tokens")
    if edits.max_tokens is not None and isinstance(limit, int) and limit > edits.max_tokens:
        out["max_output_tokens"] = edits.max_tokens
    return out
