"""Chat Completions bodies for an upstream: encoding from the internal model, and pass-through
of a client's Chat body."""

from __future__ import annotations

from typing import Any

from coderouter.wire.base import PassthroughEdits
from coderouter.wire.effort import ThinkingSupport, effort_for, wants_thinking
from coderouter.wire.model import (
    Block,
    Request,
    tool_reference_text,
)
from coderouter.wire.openai_chat.common import BILLING_HEADER_PREFIX, NAME, tool_call_of


def _tool_choice_out(choice: dict[str, Any] | None) -> Any:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return {"auto": "auto", "none": "none", "any": "required"}.get(str(kind))


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
        texts = []
        for part in content:
            if not isinstance(part, dict):
                continue
            text = part.get("text", "") if part.get("type") == "text" else tool_reference_text(part)
            if text is not None:
                texts.append(text)
        return "\n".join(texts)
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
            calls.append(tool_call_of(block))
        elif kind in ("thinking", "redacted_thinking"):
            request.note_dropped("thinking")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _thinking_out(request: Request, body: dict[str, Any], support: ThinkingSupport) -> None:
    """The request's thinking setting as ``reasoning_effort`` and the target's template
    switch, for a target known to think; otherwise dropped and counted (thinking blocks count
    as "thinking", the setting as "thinking_config")."""
    thinking = request.thinking
    wanted = wants_thinking(thinking)
    if not support.can_think:
        if wanted:
            request.note_dropped("thinking_config")
            # A Chat client's own reasoning_effort (in extras) is that same setting.
            body.pop("reasoning_effort", None)
        return
    effort = effort_for(thinking)
    if effort is not None:
        body.setdefault("reasoning_effort", effort)
    switch = support.template_switch
    if switch and thinking is not None:
        kwargs = dict(body.get("chat_template_kwargs") or {})
        kwargs.setdefault(switch, wanted)
        body["chat_template_kwargs"] = kwargs


def encode_request(
    request: Request, *, model: str, stream: bool, thinking: ThinkingSupport | None = None
) -> dict[str, Any]:
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
    for key, value in request.extras.get(NAME, {}).items():
        body.setdefault(key, value)
    _thinking_out(request, body, thinking or ThinkingSupport())
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return body


def passthrough_request(body: dict[str, Any], edits: PassthroughEdits) -> dict[str, Any]:
    out = dict(body)
    out["model"] = edits.model
    out.pop("profile", None)
    if edits.stream:
        options = dict(out.get("stream_options") or {})
        options["include_usage"] = True
        out["stream_options"] = options
    if edits.notes:
        out["messages"] = [
            *body["messages"],
            {"role": "system", "content": "\n\n".join(edits.notes)},
        ]
    if edits.max_tokens is not None:
        for key in ("max_tokens", "max_completion_tokens"):
            if isinstance(out.get(key), int) and out[key] > edits.max_tokens:
                out[key] = edits.max_tokens
    return out
