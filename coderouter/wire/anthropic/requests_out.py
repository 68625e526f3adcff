"""Anthropic Messages requests out: the internal request encoded for an Anthropic upstream,
and a client's Anthropic body passed through with only what the route must change."""

from __future__ import annotations

from typing import Any

from coderouter.wire.anthropic.common import (
    NAME,
    THINKING_TYPES,
    as_blocks,
    safe_tool_id,
    system_blocks,
)
from coderouter.wire.anthropic.thinking import (
    fit_budget,
    forces_tool_use,
    guard_thinking,
    is_signed,
    thinking_conflict,
    thinking_is_on,
    without_clear_thinking,
)
from coderouter.wire.base import PassthroughEdits
from coderouter.wire.effort import ThinkingSupport
from coderouter.wire.model import Block, Message, Request

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent upstream when the client's format leaves it out (Anthropic requires it)."""
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
}


def _clean(block: Block, allowed: frozenset[str]) -> Block:
    """The block without keys Anthropic would reject as extra inputs (copied only if needed)."""
    if block.keys() <= allowed:
        return block
    return {k: v for k, v in block.items() if k in allowed}


def _tool_use_out(block: Block) -> Block:
    out = _clean(block, _BLOCK_KEYS["tool_use"])
    safe = safe_tool_id(out.get("id"))
    data = out.get("input")
    if safe != out.get("id") or not isinstance(data, dict):
        out = {**out, "id": safe, "input": data if isinstance(data, dict) else {}}
    return out


def _tool_result_out(block: Block) -> Block:
    out = _clean(block, _BLOCK_KEYS["tool_result"])
    safe = safe_tool_id(out.get("tool_use_id"))
    if safe != out.get("tool_use_id"):
        out = {**out, "tool_use_id": safe}
    if out.get("content") is None and "content" in out:
        out = {k: v for k, v in out.items() if k != "content"}
    return out


def _block_out(block: Block, request: Request, keep_thinking: bool) -> Block | None:
    kind = block.get("type")
    if kind == "text":
        return _clean(block, _BLOCK_KEYS["text"]) if block.get("text") else None
    if kind in THINKING_TYPES:
        if keep_thinking and is_signed(block):
            return _clean(block, _BLOCK_KEYS[str(kind)])
        request.note_dropped("thinking")
        return None
    if kind == "tool_use":
        return _tool_use_out(block)
    if kind == "tool_result":
        return _tool_result_out(block)
    return block


def _tool_results_first(blocks: list[Block]) -> list[Block]:
    """Anthropic wants a user turn's ``tool_result`` blocks before anything else in it."""
    results = [b for b in blocks if b.get("type") == "tool_result"]
    if not results or len(results) == len(blocks) or blocks[: len(results)] == results:
        return blocks
    return results + [b for b in blocks if b.get("type") != "tool_result"]


def _messages_out(request: Request, keep_thinking: bool) -> list[Message]:
    """User/assistant turns, strictly alternating (Anthropic merges nothing for us)."""
    out: list[Message] = []
    for msg in request.messages:
        role = msg["role"]
        if role == "system":
            continue
        blocks = [
            b
            for b in (_block_out(b, request, keep_thinking) for b in as_blocks(msg["content"]))
            if b is not None
        ]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": [*out[-1]["content"], *blocks]}
        else:
            out.append({"role": role, "content": blocks})
    for i, msg in enumerate(out):
        if msg["role"] == "user":
            ordered = _tool_results_first(msg["content"])
            if ordered is not msg["content"]:
                out[i] = {"role": "user", "content": ordered}
    return out


def _system_out(request: Request) -> list[Block]:
    """``system`` plus every ``role: "system"`` message, in order (a real Anthropic endpoint
    rejects system-role messages without the mid-conversation beta)."""
    blocks = [
        _clean(b, _BLOCK_KEYS["text"])
        for b in request.system
        if b.get("type", "text") == "text" and b.get("text")
    ]
    for msg in request.messages:
        if msg["role"] == "system":
            blocks += [
                _clean(b, _BLOCK_KEYS["text"])
                for b in as_blocks(msg["content"])
                if b.get("type") == "text" and b.get("text")
            ]
    return blocks


def _tools_out(request: Request) -> list[dict[str, Any]]:
    if request.source == "anthropic":
        tools = list(request.tools)
        tools += request.extras.get("anthropic", {}).get("server_tools", [])
        return tools
    out: list[dict[str, Any]] = []
    for tool in request.tools:
        schema = tool.get("input_schema") or {"type": "object"}
        if "type" not in schema:
            schema = {"type": "object", **schema}
        item: dict[str, Any] = {"name": tool.get("name", "")}
        if tool.get("description"):
            item["description"] = tool["description"]
        item["input_schema"] = schema
        if "cache_control" in tool:
            item["cache_control"] = tool["cache_control"]
        out.append(item)
    return out


def _tool_choice_out(request: Request) -> dict[str, Any] | None:
    choice = dict(request.tool_choice) if request.tool_choice else None
    source_extras = request.extras.get(request.source, {})
    if request.source == "anthropic":
        disable = source_extras.get("disable_parallel_tool_use")
    else:
        disable = True if source_extras.get("parallel_tool_calls") is False else None
    if disable is not None:
        choice = choice or {"type": "auto"}
        if choice.get("type") != "none":
            choice["disable_parallel_tool_use"] = disable
    return choice


def _sampling_out(request: Request, body: dict[str, Any], thinking_on: bool) -> None:
    """Temperature and top_p as Anthropic takes them: temperature in [0, 1], not both (current
    models refuse the pair), neither with thinking on."""
    temperature, top_p = request.temperature, request.top_p
    if thinking_on:
        for name, value in (("temperature", temperature), ("top_p", top_p)):
            if value is not None:
                request.note_dropped(name)
        return
    if temperature is not None:
        body["temperature"] = min(max(float(temperature), 0.0), 1.0)
        if top_p is not None:
            request.note_dropped("top_p")
    elif top_p is not None:
        body["top_p"] = top_p


def _output_format_out(request: Request) -> dict[str, Any] | None:
    fmt = request.response_format
    if not fmt:
        return None
    if fmt.get("type") == "json_schema":
        return {"type": "json_schema", "schema": fmt.get("schema") or {}}
    request.note_dropped("response_format")
    return None


def _metadata_out(request: Request) -> dict[str, Any] | None:
    metadata = request.metadata
    if not metadata:
        return None
    if request.source == "anthropic":
        return metadata
    user = metadata.get("user_id")
    return {"user_id": user} if isinstance(user, str) else None


def _apply_extras(body: dict[str, Any], extras: dict[str, Any]) -> None:
    for key, value in extras.items():
        if key == "output_config" and isinstance(value, dict):
            body["output_config"] = {**value, **body.get("output_config", {})}
        elif key not in ("disable_parallel_tool_use", "server_tools"):
            body.setdefault(key, value)


# --- entry points -----------------------------------------------------------------------------


def encode_request(
    request: Request, *, model: str, stream: bool, thinking: ThinkingSupport | None = None
) -> dict[str, Any]:
    # The Messages API carries thinking natively: every target of this format can take it.
    del thinking
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    thinking = fit_budget(request.thinking, max_tokens)
    if thinking is None and request.thinking is not None:
        request.note_dropped("thinking_config")
    counted = dict(request.dropped)
    messages = _messages_out(request, thinking_is_on(thinking))
    if thinking_conflict(thinking, request.messages, messages) or (
        thinking_is_on(thinking) and forces_tool_use(request.tool_choice)
    ):
        request.dropped = counted
        request.note_dropped("thinking_config")
        thinking = None
        messages = _messages_out(request, False)
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    system = _system_out(request)
    if system:
        body["system"] = system
    _encode_options(request, body, thinking)
    if request.source == NAME:
        _apply_extras(body, request.extras.get(NAME, {}))
        if thinking is None:
            without_clear_thinking(body)
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return body


def _encode_options(request: Request, body: dict[str, Any], thinking: Any) -> None:
    tools = _tools_out(request)
    if tools:
        body["tools"] = tools
        choice = _tool_choice_out(request)
        if choice is not None:
            body["tool_choice"] = choice
    stops = [s for s in request.stop if s.strip()]
    if stops:
        body["stop_sequences"] = stops
    _sampling_out(request, body, thinking_is_on(thinking))
    if thinking is not None:
        body["thinking"] = thinking
    fmt = _output_format_out(request)
    if fmt is not None:
        body["output_config"] = {"format": fmt}
    metadata = _metadata_out(request)
    if metadata is not None:
        body["metadata"] = metadata


def passthrough_request(body: dict[str, Any], edits: PassthroughEdits) -> dict[str, Any]:
    """The client's body with the model replaced; the notes become one more ``system`` block;
    ``max_tokens`` only ever goes down (a thinking budget follows it); unsigned thinking blocks
    are removed. Every other field is untouched."""
    out = dict(body)
    out["model"] = edits.model
    out.pop("profile", None)
    if edits.notes:
        out["system"] = [
            *system_blocks(body.get("system")),
            {"type": "text", "text": "\n\n".join(edits.notes)},
        ]
    if edits.max_tokens is not None:
        current = out.get("max_tokens")
        if isinstance(current, int) and current > edits.max_tokens:
            out["max_tokens"] = edits.max_tokens
    guard_thinking(out)
    return out
