"""Anthropic Messages: requests, responses, stream events and errors.

Spoken by the ``/v1/messages`` ingress (Claude Code, the Anthropic SDKs) and by every
``kind = "anthropic"`` provider. The internal model is Anthropic-shaped, so decoding mostly
normalises (string content becomes text blocks) and encoding mostly guards against what a real
Anthropic endpoint rejects: ``role: "system"`` messages without the mid-conversation beta,
consecutive turns of one role, a missing ``max_tokens``, tool ids outside ``[A-Za-z0-9_-]``,
empty text blocks, and thinking blocks it did not sign.

Thinking blocks and signatures
------------------------------
Anthropic signs every thinking block it produces and rejects a request that echoes a block
with a missing or foreign signature. Three rules follow:

* **Upstream**: :meth:`Anthropic.encode_request` sends a thinking block only when it carries a
  signature and did not come from an OpenAI-kind provider's reasoning field
  (``"origin": "reasoning_field"``); :meth:`Anthropic.passthrough_request` removes thinking
  blocks whose signature is missing or empty. When that leaves the current tool-use turn
  without its leading thinking block while ``thinking`` is ``enabled``, thinking is switched
  off for the request, because Anthropic refuses such a turn ("a final assistant message must
  start with a thinking block").
* **Downstream**: a thinking block without a signature (reasoning from an OpenAI-kind
  provider) is sent to the client as a thinking block with ``"signature": ""``. That is the
  shape Anthropic itself opens every thinking block with (``content_block_start`` carries
  ``signature: ""`` before the ``signature_delta``), the Anthropic SDK types the field as a
  required string, and Claude Code keeps the block and echoes it back unchanged, which is how
  the next request recognises it as unsigned.
* **Foreign signatures** cannot be recognised locally (another Anthropic account, another
  Anthropic-compatible server). The router retries such a 400 once with
  :func:`strip_thinking` (see :func:`is_invalid_signature_error`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
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
    Response,
    SignatureDelta,
    StopReason,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
    response_events,
)

__all__ = [
    "FORMAT",
    "Anthropic",
    "AnthropicStreamDecoder",
    "AnthropicStreamEncoder",
    "context_overflow_message",
    "is_invalid_signature_error",
    "strip_thinking",
    "usage_from_anthropic",
    "usage_to_anthropic",
]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent upstream when the client's format leaves it out (Anthropic requires it)."""
MIN_THINKING_BUDGET = 1024
"""Anthropic's smallest ``thinking.budget_tokens``."""

ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "budget": "rate_limit_error",
    "overloaded": "overloaded_error",
    "api_error": "api_error",
    "timeout": "api_error",
}
"""Wire-neutral error types (see :data:`coderouter.wire.base.ERROR_STATUS`) -> Anthropic's."""
ERROR_TYPES_IN: dict[str, str] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "overloaded_error": "overloaded",
    "api_error": "api_error",
    "timeout_error": "timeout",
}
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "max_tokens",
}
_KNOWN_KEYS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
        "stream",
        "thinking",
        "output_config",
        "output_format",
        "metadata",
        "profile",
    }
)
_ROLES = ("user", "assistant", "system")
_THINKING_TYPES = ("thinking", "redacted_thinking")
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
}
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def new_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _tool_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def _message_id(source_id: str) -> str:
    return source_id if source_id.startswith("msg_") else new_id()


def _safe_tool_id(value: Any) -> str:
    """A tool id Anthropic accepts. Deterministic, so a ``tool_use`` and the ``tool_result``
    answering it still match after the rewrite."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value):
        return value
    if not value:
        return "toolu_missing"
    return _UNSAFE_ID_CHARS.sub("_", str(value))


# --- validation -----------------------------------------------------------------------------


def _check_content(content: Any, i: int) -> None:
    if isinstance(content, str):
        return
    if content is None:
        raise ValueError(f"messages[{i}].content is a required property")
    if not isinstance(content, list):
        raise ValueError(f"messages[{i}].content must be a string or an array of content blocks")
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ValueError(f"messages[{i}].content[{j}] must be an object with a 'type' string")


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise ValueError("'messages' is a required property")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ValueError(f"messages[{i}] must be an object")
        if msg.get("role") not in _ROLES:
            raise ValueError(f"messages[{i}].role must be 'user', 'assistant' or 'system'")
        _check_content(msg.get("content"), i)


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ValueError("'system' must be a string or an array of text blocks")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise ValueError(f"system[{j}] must be a text block")


def _check_optional(body: dict[str, Any]) -> None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ValueError("'model' must be a string")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ValueError("'tools' must be an array")
        for j, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise ValueError(f"tools[{j}] must be an object")
    for key in ("tool_choice", "thinking", "metadata"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise ValueError(f"'{key}' must be an object")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise ValueError("'stop_sequences' must be an array of strings")


def _check_shape(body: Any) -> None:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    _check_messages(body.get("messages"))
    _check_system(body.get("system"))
    _check_optional(body)


# --- requests: decode -----------------------------------------------------------------------


def _as_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def _system_blocks(system: Any) -> list[Block]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return [block for block in system or [] if isinstance(block, dict)]


def _split_tools(tools: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Client tools (``name``, ``input_schema``) and Anthropic server tools (a dated ``type``
    such as ``web_search_20250305``, run by Anthropic and meaningless elsewhere)."""
    client: list[dict[str, Any]] = []
    server: list[dict[str, Any]] = []
    for tool in tools or []:
        kind = tool.get("type")
        if kind in (None, "custom") or (kind is not None and "input_schema" in tool):
            client.append(tool)
        else:
            server.append(tool)
    return client, server


def _response_format_in(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return {"type": "json_schema", "schema": fmt.get("schema") or {}}
    return None


def _extras_in(body: dict[str, Any], server_tools: list[dict[str, Any]]) -> dict[str, Any]:
    """What the internal model has no field for, restored when the target speaks Anthropic."""
    extras = {k: v for k, v in body.items() if k not in _KNOWN_KEYS}
    config = body.get("output_config")
    if isinstance(config, dict):
        rest = {k: v for k, v in config.items() if k != "format"}
        if rest:
            extras["output_config"] = rest
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and "disable_parallel_tool_use" in choice:
        extras["disable_parallel_tool_use"] = choice["disable_parallel_tool_use"]
    if server_tools:
        extras["server_tools"] = server_tools
    return extras


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        return None
    out: dict[str, Any] = {"type": choice["type"]}
    if choice["type"] == "tool":
        out["name"] = choice.get("name", "")
    return out


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# --- requests: encode -----------------------------------------------------------------------


def _clean(block: Block, allowed: frozenset[str]) -> Block:
    """The block without keys Anthropic would reject as extra inputs (copied only if needed)."""
    if block.keys() <= allowed:
        return block
    return {k: v for k, v in block.items() if k in allowed}


def _is_signed(block: Block) -> bool:
    if block.get("type") == "redacted_thinking":
        return bool(block.get("data"))
    return bool(block.get("signature")) and block.get("origin") != "reasoning_field"


def _tool_use_out(block: Block) -> Block:
    out = _clean(block, _BLOCK_KEYS["tool_use"])
    safe = _safe_tool_id(out.get("id"))
    data = out.get("input")
    if safe != out.get("id") or not isinstance(data, dict):
        out = {**out, "id": safe, "input": data if isinstance(data, dict) else {}}
    return out


def _tool_result_out(block: Block) -> Block:
    out = _clean(block, _BLOCK_KEYS["tool_result"])
    safe = _safe_tool_id(out.get("tool_use_id"))
    if safe != out.get("tool_use_id"):
        out = {**out, "tool_use_id": safe}
    if out.get("content") is None and "content" in out:
        out = {k: v for k, v in out.items() if k != "content"}
    return out


def _block_out(block: Block, request: Request, keep_thinking: bool) -> Block | None:
    kind = block.get("type")
    if kind == "text":
        return _clean(block, _BLOCK_KEYS["text"]) if block.get("text") else None
    if kind in _THINKING_TYPES:
        if keep_thinking and _is_signed(block):
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
            for b in (_block_out(b, request, keep_thinking) for b in _as_blocks(msg["content"]))
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
                for b in _as_blocks(msg["content"])
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


def _thinking_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _fit_budget(thinking: Any, max_tokens: int) -> Any:
    """``thinking`` with ``budget_tokens`` below ``max_tokens`` (Anthropic's rule), or None
    when no budget of at least :data:`MIN_THINKING_BUDGET` fits."""
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return thinking
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < max_tokens:
        return thinking
    if max_tokens - 1 < MIN_THINKING_BUDGET:
        return None
    return {**thinking, "budget_tokens": max_tokens - 1}


def _final_tool_turn(messages: list[Message]) -> Message | None:
    """The last assistant message when it called a tool (the turn a thinking-enabled request
    is still inside), else None."""
    for msg in reversed(messages):
        if msg.get("role") == "assistant":
            content = msg.get("content")
            if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_use" for b in content
            ):
                return msg
            return None
    return None


def _starts_with_thinking(msg: Message | None) -> bool:
    content = msg.get("content") if msg is not None else None
    return (
        isinstance(content, list)
        and bool(content)
        and isinstance(content[0], dict)
        and content[0].get("type") in _THINKING_TYPES
    )


def _thinking_conflict(thinking: Any, before: list[Message], after: list[Message]) -> bool:
    """True when Anthropic would refuse ``thinking`` for ``after``: the current tool-use turn
    does not start with a thinking block while thinking is ``enabled`` (or it did in
    ``before`` and lost it on the way)."""
    if not _thinking_on(thinking):
        return False
    final = _final_tool_turn(after)
    if final is None or _starts_with_thinking(final):
        return False
    return thinking.get("type") == "enabled" or _starts_with_thinking(_final_tool_turn(before))


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


def _without_clear_thinking(body: dict[str, Any]) -> None:
    """Thinking is off: drop ``clear_thinking`` context edits, which require it."""
    management = body.get("context_management")
    if not isinstance(management, dict) or not isinstance(management.get("edits"), list):
        return
    edits = [
        e
        for e in management["edits"]
        if not (isinstance(e, dict) and str(e.get("type", "")).startswith("clear_thinking"))
    ]
    if len(edits) == len(management["edits"]):
        return
    if edits:
        body["context_management"] = {**management, "edits": edits}
    else:
        body.pop("context_management")


def _remove_blocks(messages: list[Any], drop: Callable[[Any], bool]) -> list[Any] | None:
    """``messages`` without the assistant blocks ``drop`` selects (assistant messages left
    empty go too), or None when nothing matched. Copies only what changes."""
    changed: list[Any] | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") != "assistant":
            continue
        content = msg.get("content")
        if not isinstance(content, list) or not any(drop(b) for b in content):
            continue
        if changed is None:
            changed = list(messages)
        kept = [b for b in content if not drop(b)]
        changed[i] = {**msg, "content": kept} if kept else None
    if changed is None:
        return None
    return [m for m in changed if m is not None]


def _is_thinking(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") in _THINKING_TYPES


def _is_unsigned_thinking(block: Any) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")
    )


def _thinking_off(body: dict[str, Any]) -> None:
    body.pop("thinking", None)
    _without_clear_thinking(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        stripped = _remove_blocks(messages, _is_thinking)
        if stripped is not None:
            body["messages"] = stripped


def _guard_thinking(body: dict[str, Any]) -> None:
    """Passthrough safety: no unsigned thinking block reaches Anthropic, and thinking goes
    off when what is left would be refused (see the module docstring)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    scrubbed = _remove_blocks(messages, _is_unsigned_thinking)
    if scrubbed is not None:
        body["messages"] = scrubbed
    thinking = body.get("thinking")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int):
        fitted = _fit_budget(thinking, max_tokens)
        if fitted is not thinking:
            if fitted is None:
                _thinking_off(body)
                return
            body["thinking"] = thinking = fitted
    if _thinking_conflict(thinking, messages, body["messages"]):
        _thinking_off(body)


def strip_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of an Anthropic request body without any thinking or redacted_thinking block.

    The router sends it once to a provider that answered 400 about a thinking signature
    (:func:`is_invalid_signature_error`). When the conversation is inside a tool-use turn,
    ``thinking`` is switched off too (and ``clear_thinking`` context edits with it): Anthropic
    refuses a thinking-enabled request whose current tool-use turn has no thinking block.
    """
    out = dict(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        stripped = _remove_blocks(messages, _is_thinking)
        if stripped is not None:
            out["messages"] = stripped
        if _final_tool_turn(out["messages"]) is not None:
            _thinking_off(out)
    return out


_THINKING_ERROR = re.compile(
    r"must start with a thinking block|cannot contain `?thinking|"
    r"first block must be `?thinking|expected `?thinking`? or `?redacted_thinking",
    re.IGNORECASE,
)


def is_invalid_signature_error(status: int, message: str) -> bool:
    """True for a 400 that :func:`strip_thinking` repairs: a thinking block with an invalid or
    missing signature, or thinking blocks that do not fit the request's thinking setting."""
    if status != 400 or not message:
        return False
    lowered = message.lower()
    if "signature" in lowered and "thinking" in lowered:
        return True
    return _THINKING_ERROR.search(message) is not None


# --- context overflow -----------------------------------------------------------------------

_OVERFLOW_STRONG = re.compile(
    r"context[_ ]length[_ ]exceeded|exceed_context_size|model_context_window_exceeded|"
    r"maximum (?:context|model) length|prompt is too long|prompt too long|"
    r"reduce the length of the messages",
    re.IGNORECASE,
)
_OVERFLOW_WEAK = re.compile(
    r"context (?:length|size|window)|(?:prompt|input)\b[^.]{0,40}\btoo long|too many tokens|"
    r"maximum number of tokens",
    re.IGNORECASE,
)
_EXCEEDS = re.compile(r"exceed|too long|too large|too many|greater than|longer than", re.IGNORECASE)
_NUM = r"(\d[\d,]*)"
_OVERFLOW_TOTAL = (re.compile(rf"{_NUM} tokens? > {_NUM}", re.IGNORECASE),)
_OVERFLOW_PROMPT = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"you requested {_NUM} tokens",
        rf"resulted in {_NUM} tokens",
        rf"request \({_NUM} tokens\)",
        rf"prompt \((?:total )?length {_NUM}\)",
        rf"prompt \({_NUM} tokens\)",
        rf"input token count \({_NUM}\)",
        rf"prompt has {_NUM} tokens",
        rf"input \({_NUM} tokens\)",
        rf"\"n_prompt_tokens\"\s*:\s*{_NUM}",
    )
)
_OVERFLOW_LIMIT = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"maximum context length (?:is|of) {_NUM}",
        rf"maximum model length (?:is|of) {_NUM}",
        rf"context size \({_NUM} tokens\)",
        rf"context size is {_NUM}",
        rf"context length {_NUM}",
        rf"context length \({_NUM} tokens\)",
        rf"context window of {_NUM}",
        rf"limit of {_NUM}",
        rf"tokens allowed \({_NUM}\)",
        rf"\"n_ctx\"\s*:\s*{_NUM}",
    )
)
_OVERFLOW_INPUT_PLUS_OUTPUT = re.compile(
    rf"too large: {_NUM}.*?request has {_NUM} input tokens", re.IGNORECASE | re.DOTALL
)


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1).replace(",", ""))
    return None


def _overflow_numbers(text: str) -> tuple[int | None, int | None]:
    """(request tokens, context limit) as far as ``text`` tells them."""
    found = _OVERFLOW_TOTAL[0].search(text)
    if found:
        return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))
    prompt = _first_number(_OVERFLOW_PROMPT, text)
    if prompt is None:
        both = _OVERFLOW_INPUT_PLUS_OUTPUT.search(text)
        if both:
            prompt = int(both.group(1).replace(",", "")) + int(both.group(2).replace(",", ""))
    return prompt, _first_number(_OVERFLOW_LIMIT, text)


def context_overflow_message(
    message: str, *, body: Any = None, request_tokens: int | None = None
) -> str | None:
    """Claude Code's parseable ``prompt is too long: N tokens > M maximum`` for an upstream
    context-overflow error (OpenAI, vLLM, llama.cpp, Ollama, Gemini wordings), else None.

    ``body`` is the upstream error body when available (llama.cpp puts ``n_prompt_tokens`` and
    ``n_ctx`` beside the message); ``request_tokens`` is the router's estimate of the request,
    used when the upstream names no request size. N is always greater than M.
    """
    raw = body if isinstance(body, str) else _dumps(body) if body is not None else ""
    text = f"{message}\n{raw}" if raw else message
    strong = _OVERFLOW_STRONG.search(text) is not None
    if not strong and _OVERFLOW_WEAK.search(text) is None:
        return None
    prompt, limit = _overflow_numbers(text)
    if (
        not strong
        and _EXCEEDS.search(text) is None
        and not (prompt is not None and limit is not None and prompt > limit)
    ):
        return None
    if prompt is None and request_tokens:
        prompt = request_tokens
    if limit is None:
        limit = max(0, (prompt or 1) - 1)
    if prompt is None or prompt <= limit:
        prompt = limit + 1
    return f"prompt is too long: {prompt} tokens > {limit} maximum"


# --- usage ------------------------------------------------------------------------------------


def usage_from_anthropic(usage: Any) -> Usage:
    """Anthropic ``usage`` -> :class:`Usage` (``input_tokens`` there is already fresh-only)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, dict) else 0
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        reasoning_tokens=int(reasoning or 0),
    )


def usage_to_anthropic(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def _stop_in(value: Any) -> StopReason | None:
    return _STOP_REASONS.get(value) if isinstance(value, str) else None


def _content_out(block: Block) -> Block | None:
    """A response block as clients see it; empty text blocks go (Anthropic refuses them when
    the client echoes them back)."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text", "")
        return {"type": "text", "text": text} if text else None
    if kind == "thinking":
        return {
            "type": "thinking",
            "thinking": block.get("thinking", ""),
            "signature": block.get("signature") or "",
        }
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    if kind == "tool_use":
        data = block.get("input")
        return {
            "type": "tool_use",
            "id": _safe_tool_id(block.get("id") or _tool_id()),
            "name": block.get("name", ""),
            "input": data if isinstance(data, dict) else {},
        }
    return block


# --- the format -------------------------------------------------------------------------------


class Anthropic:
    name = "anthropic"

    # --- requests ----------------------------------------------------------------------------

    def validate_request(self, body: dict[str, Any]) -> None:
        """Shape checks for ``/v1/messages`` (``max_tokens`` is required there)."""
        _check_shape(body)
        if "max_tokens" not in body:
            raise ValueError("'max_tokens' is a required property")
        max_tokens = body["max_tokens"]
        if _int_or_none(max_tokens) is None:
            raise ValueError("'max_tokens' must be an integer")
        if max_tokens < 1:
            raise ValueError("'max_tokens' must be at least 1")
        if "stream" in body and not isinstance(body["stream"], bool | None):
            raise ValueError("'stream' must be a boolean")

    def validate_count_tokens(self, body: dict[str, Any]) -> None:
        """Shape checks for ``/v1/messages/count_tokens``: ``messages`` only is required."""
        _check_shape(body)

    def decode_request(self, body: dict[str, Any]) -> Request:
        """Client body -> internal request. Checks shape but not ``max_tokens``, so
        count_tokens bodies decode too. Blocks are shared with ``body``, not copied."""
        _check_shape(body)
        tools, server_tools = _split_tools(body.get("tools"))
        stops = body.get("stop_sequences")
        request = Request(
            model=body.get("model") or "",
            system=_system_blocks(body.get("system")),
            messages=[
                {"role": m["role"], "content": _as_blocks(m["content"])} for m in body["messages"]
            ],
            tools=tools,
            tool_choice=_tool_choice_in(body.get("tool_choice")),
            max_tokens=_int_or_none(body.get("max_tokens")),
            temperature=_number_or_none(body.get("temperature")),
            top_p=_number_or_none(body.get("top_p")),
            stop=list(stops or []),
            stream=body.get("stream") is True,
            thinking=body.get("thinking"),
            response_format=_response_format_in(body),
            metadata=body.get("metadata"),
            source=self.name,
            extras={self.name: _extras_in(body, server_tools)},
        )
        if server_tools:
            request.note_dropped("server_tools", len(server_tools))
        return request

    def encode_request(self, request: Request, *, model: str, stream: bool) -> dict[str, Any]:
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        thinking = _fit_budget(request.thinking, max_tokens)
        if thinking is None and request.thinking is not None:
            request.note_dropped("thinking_config")
        counted = dict(request.dropped)
        messages = _messages_out(request, _thinking_on(thinking))
        if _thinking_conflict(thinking, request.messages, messages):
            request.dropped = counted
            request.note_dropped("thinking_config")
            thinking = None
            messages = _messages_out(request, False)
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
        system = _system_out(request)
        if system:
            body["system"] = system
        self._encode_options(request, body, thinking)
        if request.source == self.name:
            _apply_extras(body, request.extras.get(self.name, {}))
            if thinking is None:
                _without_clear_thinking(body)
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return body

    def _encode_options(self, request: Request, body: dict[str, Any], thinking: Any) -> None:
        tools = _tools_out(request)
        if tools:
            body["tools"] = tools
            choice = _tool_choice_out(request)
            if choice is not None:
                body["tool_choice"] = choice
        stops = [s for s in request.stop if s.strip()]
        if stops:
            body["stop_sequences"] = stops
        _sampling_out(request, body, _thinking_on(thinking))
        if thinking is not None:
            body["thinking"] = thinking
        fmt = _output_format_out(request)
        if fmt is not None:
            body["output_config"] = {"format": fmt}
        metadata = _metadata_out(request)
        if metadata is not None:
            body["metadata"] = metadata

    def passthrough_request(
        self,
        body: dict[str, Any],
        *,
        model: str,
        stream: bool,
        notes: list[str],
        max_tokens: int | None,
    ) -> dict[str, Any]:
        """The client's body with ``model`` replaced; ``notes`` become one more ``system``
        block; ``max_tokens`` only ever goes down (a thinking budget follows it); unsigned
        thinking blocks are removed. Every other field is untouched."""
        out = dict(body)
        out["model"] = model
        out.pop("profile", None)
        if notes:
            out["system"] = [
                *_system_blocks(body.get("system")),
                {"type": "text", "text": "\n\n".join(notes)},
            ]
        if max_tokens is not None:
            current = out.get("max_tokens")
            if isinstance(current, int) and current > max_tokens:
                out["max_tokens"] = max_tokens
        _guard_thinking(out)
        return out

    def strip_thinking(self, body: dict[str, Any]) -> dict[str, Any]:
        return strip_thinking(body)

    def is_invalid_signature_error(self, status: int, message: str) -> bool:
        return is_invalid_signature_error(status, message)

    # --- responses ---------------------------------------------------------------------------

    def usage_of(self, body: dict[str, Any]) -> Usage:
        return usage_from_anthropic(body.get("usage"))

    def decode_response(self, body: dict[str, Any]) -> list[Event]:
        response = Response(
            id=str(body.get("id") or new_id()),
            model=str(body.get("model") or ""),
            content=[b for b in body.get("content") or [] if isinstance(b, dict)],
            stop_reason=_stop_in(body.get("stop_reason")),
            stop_sequence=body.get("stop_sequence"),
            usage=self.usage_of(body),
        )
        return response_events(response)

    def encode_response(
        self, events: list[Event], *, model: str, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A whole Message. Unsigned thinking blocks carry ``"signature": ""`` (see the module
        docstring); a turn that called a tool ends with ``tool_use``. A Message echoes nothing
        from the request, so ``request_body`` is not used."""
        response = accumulate(events)
        content = [b for b in map(_content_out, response.content) if b is not None]
        stop: StopReason = response.stop_reason or "end_turn"
        if stop == "end_turn" and any(b.get("type") == "tool_use" for b in content):
            stop = "tool_use"
        return {
            "id": _message_id(response.id),
            "type": "message",
            "role": "assistant",
            "model": model or response.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": response.stop_sequence,
            "usage": usage_to_anthropic(response.usage),
        }

    # --- streams -----------------------------------------------------------------------------

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(model=model)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        return frame.raw

    # --- errors ------------------------------------------------------------------------------

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(error_type, "api_error"), "message": message},
        }

    def stream_error(self, error_type: str, message: str) -> bytes:
        return _frame("error", self.error_body(error_type, message))

    def error_message(self, body: Any) -> str:
        """The message of an Anthropic- or OpenAI-shaped error body (and of the common
        variants: a bare string, ``message`` or ``detail`` at the top, a relayed raw body)."""
        if isinstance(body, str):
            return body
        if not isinstance(body, dict):
            return ""
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            message = str(err["message"])
            metadata = err.get("metadata")
            raw = metadata.get("raw") if isinstance(metadata, dict) else None
            return f"{message}: {raw}" if isinstance(raw, str) and raw else message
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
        return ""

    def context_overflow_message(
        self, message: str, *, body: Any = None, request_tokens: int | None = None
    ) -> str | None:
        return context_overflow_message(message, body=body, request_tokens=request_tokens)


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


# --- stream decoding ----------------------------------------------------------------------------


def _start_events(index: int, block: Block) -> list[Event]:
    """A ``content_block_start`` as events; content already inside the start is kept."""
    kind = block.get("type")
    if kind == "text":
        events: list[Event] = [BlockStart(index, {"type": "text"})]
        if block.get("text"):
            events.append(TextDelta(index, block["text"]))
        return events
    if kind == "thinking":
        events = [BlockStart(index, {"type": "thinking"})]
        if block.get("thinking"):
            events.append(ThinkingDelta(index, block["thinking"]))
        if block.get("signature"):
            events.append(SignatureDelta(index, block["signature"]))
        return events
    if kind == "tool_use":
        events = [
            BlockStart(
                index,
                {"type": "tool_use", "id": block.get("id", ""), "name": block.get("name", "")},
            )
        ]
        if block.get("input"):
            events.append(ToolArgsDelta(index, _dumps(block["input"])))
        return events
    return [BlockStart(index, dict(block))]


def _delta_event(index: int, delta: dict[str, Any]) -> Event | None:
    kind = delta.get("type")
    if kind == "text_delta":
        return TextDelta(index, delta.get("text", ""))
    if kind == "input_json_delta":
        part = delta.get("partial_json", "")
        return ToolArgsDelta(index, part) if part else None
    if kind == "thinking_delta":
        return ThinkingDelta(index, delta.get("thinking", ""))
    if kind == "signature_delta":
        return SignatureDelta(index, delta.get("signature", ""))
    return None


class AnthropicStreamDecoder:
    """Anthropic SSE frames -> internal events."""

    __slots__ = ("_stop_seen", "complete")

    def __init__(self) -> None:
        self.complete = False
        self._stop_seen = False

    def feed(self, frame: Frame) -> list[Event]:
        if self.complete or not frame.data:
            return []
        try:
            data = json.loads(frame.data)
        except ValueError:
            return [
                StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
            ]
        if not isinstance(data, dict):
            return []
        handler = _DECODERS.get(str(data.get("type") or frame.event))
        if handler is None:
            return []
        try:
            return handler(self, data)
        except (TypeError, ValueError, AttributeError):
            return [
                StreamError("api_error", f"upstream sent a malformed event: {frame.data[:200]}")
            ]

    def _message_start(self, data: dict[str, Any]) -> list[Event]:
        message = data.get("message") or {}
        return [
            MessageStart(
                str(message.get("id") or new_id()),
                str(message.get("model") or ""),
                usage_from_anthropic(message.get("usage")),
            )
        ]

    def _block_start(self, data: dict[str, Any]) -> list[Event]:
        block = data.get("content_block")
        return _start_events(int(data.get("index", 0)), block if isinstance(block, dict) else {})

    def _block_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta")
        event = _delta_event(int(data.get("index", 0)), delta if isinstance(delta, dict) else {})
        return [event] if event is not None else []

    def _block_stop(self, data: dict[str, Any]) -> list[Event]:
        return [BlockStop(int(data.get("index", 0)))]

    def _message_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta") or {}
        stop = _stop_in(delta.get("stop_reason"))
        self._stop_seen = self._stop_seen or stop is not None
        return [
            MessageDelta(stop, usage_from_anthropic(data.get("usage")), delta.get("stop_sequence"))
        ]

    def _message_stop(self, data: dict[str, Any]) -> list[Event]:
        self.complete = True
        return [MessageStop()]

    def _error(self, data: dict[str, Any]) -> list[Event]:
        err = data.get("error") or {}
        kind = ERROR_TYPES_IN.get(str(err.get("type")), "api_error")
        return [StreamError(kind, str(err.get("message") or "upstream stream error"))]

    def finish(self) -> list[Event]:
        """Upstream body ended. A stream that sent its stop reason but no ``message_stop`` is
        complete (the SDKs tolerate that too); one without a stop reason was cut."""
        if not self.complete and self._stop_seen:
            self.complete = True
            return [MessageStop()]
        return []


_DECODERS: dict[str, Callable[[AnthropicStreamDecoder, dict[str, Any]], list[Event]]] = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


# --- stream encoding ----------------------------------------------------------------------------


def _start_shape(block: Block) -> Block:
    """A ``content_block_start`` block as Anthropic sends it (empty content, full keys)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "tool_use":
        return {
            "type": "tool_use",
            "id": _safe_tool_id(block.get("id") or _tool_id()),
            "name": block.get("name", ""),
            "input": {},
        }
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    return block


class AnthropicStreamEncoder:
    """Internal events -> Anthropic SSE that the strictest clients accept.

    Every frame has an ``event:`` line; ``message_start`` carries ``usage`` and is followed by
    a ``ping``; every block is opened and closed (a delta for an unopened block opens one, a
    message end closes what is still open); block indices are renumbered 0, 1, 2, ... (the SDK
    accumulator indexes a list); a text block opens only at its first non-empty text, so empty
    text blocks never reach the client; ``message_delta`` always carries ``usage`` and a stop
    reason (``tool_use`` when a tool was called).
    """

    __slots__ = (
        "_delta_sent",
        "_model",
        "_next",
        "_open",
        "_pending",
        "_started",
        "_stopped",
        "_tool_used",
        "_usage",
    )

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._open: dict[int, int] = {}
        self._pending: dict[int, Block] = {}
        self._next = 0
        self._usage = Usage()
        self._tool_used = False
        self._delta_sent = False
        self._stopped = False

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for event in events:
            handler = _ENCODERS.get(type(event))
            if handler is not None:
                handler(self, event, out)
        return b"".join(out)

    def _message_start(self, event: MessageStart, out: list[bytes]) -> None:
        self._usage.merge(event.usage)
        if self._started:
            return
        self._started = True
        out.append(
            _frame(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": _message_id(event.id),
                        "type": "message",
                        "role": "assistant",
                        "model": self._model or event.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": usage_to_anthropic(self._usage),
                    },
                },
            )
        )
        out.append(_frame("ping", {"type": "ping"}))

    def _ensure_started(self, out: list[bytes]) -> None:
        if not self._started:
            self._message_start(MessageStart("", ""), out)

    def _open_block(self, index: int, block: Block, out: list[bytes]) -> int:
        self._ensure_started(out)
        self._pending.pop(index, None)
        position = self._next
        self._next += 1
        self._open[index] = position
        shape = _start_shape(block)
        if shape.get("type") == "tool_use":
            self._tool_used = True
        out.append(
            _frame(
                "content_block_start",
                {"type": "content_block_start", "index": position, "content_block": shape},
            )
        )
        return position

    def _position(self, index: int, default: Block, out: list[bytes]) -> int:
        position = self._open.get(index)
        if position is None:
            position = self._open_block(index, self._pending.get(index, default), out)
        return position

    def _delta(self, index: int, default: Block, delta: dict[str, Any], out: list[bytes]) -> None:
        position = self._position(index, default, out)
        out.append(
            _frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": position, "delta": delta},
            )
        )

    def _block_start(self, event: BlockStart, out: list[bytes]) -> None:
        if event.index in self._open:
            return
        if event.block.get("type") == "text":
            self._ensure_started(out)
            self._pending[event.index] = event.block
        else:
            self._open_block(event.index, event.block, out)

    def _text(self, event: TextDelta, out: list[bytes]) -> None:
        if event.text:
            self._delta(
                event.index, {"type": "text"}, {"type": "text_delta", "text": event.text}, out
            )

    def _thinking(self, event: ThinkingDelta, out: list[bytes]) -> None:
        if event.thinking:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "thinking_delta", "thinking": event.thinking},
                out,
            )

    def _signature(self, event: SignatureDelta, out: list[bytes]) -> None:
        if event.signature:
            self._delta(
                event.index,
                {"type": "thinking"},
                {"type": "signature_delta", "signature": event.signature},
                out,
            )

    def _tool_args(self, event: ToolArgsDelta, out: list[bytes]) -> None:
        if event.partial_json:
            self._delta(
                event.index,
                {"type": "tool_use"},
                {"type": "input_json_delta", "partial_json": event.partial_json},
                out,
            )

    def _block_stop(self, event: BlockStop, out: list[bytes]) -> None:
        self._pending.pop(event.index, None)
        position = self._open.pop(event.index, None)
        if position is not None:
            out.append(
                _frame("content_block_stop", {"type": "content_block_stop", "index": position})
            )

    def _close_all(self, out: list[bytes]) -> None:
        self._pending.clear()
        for position in sorted(self._open.values()):
            out.append(
                _frame("content_block_stop", {"type": "content_block_stop", "index": position})
            )
        self._open.clear()

    def _message_delta(self, event: MessageDelta, out: list[bytes]) -> None:
        self._ensure_started(out)
        self._close_all(out)
        self._usage.merge(event.usage)
        stop = event.stop_reason or "end_turn"
        if stop == "end_turn" and self._tool_used:
            stop = "tool_use"
        self._delta_sent = True
        out.append(
            _frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": event.stop_sequence},
                    "usage": usage_to_anthropic(self._usage),
                },
            )
        )

    def _message_stop(self, event: MessageStop, out: list[bytes]) -> None:
        if self._stopped:
            return
        if not self._delta_sent:
            self._message_delta(MessageDelta(None), out)
        self._stopped = True
        out.append(_frame("message_stop", {"type": "message_stop"}))

    def _error(self, event: StreamError, out: list[bytes]) -> None:
        out.append(FORMAT.stream_error(event.error_type, event.message))


_ENCODERS: dict[type, Callable[[AnthropicStreamEncoder, Any, list[bytes]], None]] = {
    MessageStart: AnthropicStreamEncoder._message_start,
    BlockStart: AnthropicStreamEncoder._block_start,
    TextDelta: AnthropicStreamEncoder._text,
    ThinkingDelta: AnthropicStreamEncoder._thinking,
    SignatureDelta: AnthropicStreamEncoder._signature,
    ToolArgsDelta: AnthropicStreamEncoder._tool_args,
    BlockStop: AnthropicStreamEncoder._block_stop,
    MessageDelta: AnthropicStreamEncoder._message_delta,
    MessageStop: AnthropicStreamEncoder._message_stop,
    StreamError: AnthropicStreamEncoder._error,
}


FORMAT = Anthropic()
