"""Anthropic Messages thinking blocks and their signatures: which blocks go upstream, when
thinking is switched off, and the retry without thinking after a signature error.

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

import re
from collections.abc import Callable
from typing import Any

from coderouter.wire.anthropic.common import THINKING_TYPES
from coderouter.wire.model import Block, Message

MIN_THINKING_BUDGET = 1024
"""Anthropic's smallest ``thinking.budget_tokens``."""


def is_signed(block: Block) -> bool:
    if block.get("type") == "redacted_thinking":
        return bool(block.get("data"))
    return bool(block.get("signature")) and block.get("origin") != "reasoning_field"


def thinking_is_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def fit_budget(thinking: Any, max_tokens: int) -> Any:
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
        and content[0].get("type") in THINKING_TYPES
    )


def thinking_conflict(thinking: Any, before: list[Message], after: list[Message]) -> bool:
    """True when Anthropic would refuse ``thinking`` for ``after``: the current tool-use turn
    does not start with a thinking block while thinking is ``enabled`` (or it did in
    ``before`` and lost it on the way)."""
    if not thinking_is_on(thinking):
        return False
    final = _final_tool_turn(after)
    if final is None or _starts_with_thinking(final):
        return False
    return thinking.get("type") == "enabled" or _starts_with_thinking(_final_tool_turn(before))


def forces_tool_use(choice: dict[str, Any] | None) -> bool:
    """A ``tool_choice`` that forces a tool call (``any`` or one named tool): the Messages API
    refuses it while thinking is on, so a translated request keeps the forced call (the client
    depends on it) and drops the thinking setting, which is only a preference."""
    return isinstance(choice, dict) and choice.get("type") in ("any", "tool")


def without_clear_thinking(body: dict[str, Any]) -> None:
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
    return isinstance(block, dict) and block.get("type") in THINKING_TYPES


def _is_unsigned_thinking(block: Any) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")
    )


def _thinking_off(body: dict[str, Any]) -> None:
    body.pop("thinking", None)
    without_clear_thinking(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        stripped = _remove_blocks(messages, _is_thinking)
        if stripped is not None:
            body["messages"] = stripped


def guard_thinking(body: dict[str, Any]) -> None:
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
        fitted = fit_budget(thinking, max_tokens)
        if fitted is not thinking:
            if fitted is None:
                _thinking_off(body)
                return
            body["thinking"] = thinking = fitted
    if thinking_conflict(thinking, messages, body["messages"]):
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
