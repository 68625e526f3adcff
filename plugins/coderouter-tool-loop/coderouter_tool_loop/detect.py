"""Finding repeated tool calls in a conversation (internal message model, any ingress)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = ["Loop", "ToolCall", "canonical_arguments", "find_loop", "tool_calls"]

# Some agents attach machine-written reminders to the user turn that carries tool results;
# those are not the user speaking, so they never end the current run of tool calls.
_MACHINE_TEXT_PREFIXES = ("<system-reminder>",)


@attrs.frozen
class ToolCall:
    name: str
    arguments: str


@attrs.frozen
class Loop:
    """``count`` identical calls of tool ``name`` with ``arguments``, one after another."""

    name: str
    arguments: str
    count: int


def canonical_arguments(value: Any) -> str:
    """Arguments as canonical JSON, so key order and spacing never hide a repeat."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def _is_user_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "text":
            continue
        text = str(block.get("text", "")).lstrip()
        if text and not text.startswith(_MACHINE_TEXT_PREFIXES):
            return True
    return False


def tool_calls(
    messages: Sequence[dict[str, Any]],
    *,
    reset_on_user_text: bool = True,
    limit: int | None = None,
) -> list[ToolCall]:
    """The assistant's ``tool_use`` blocks in order; with ``limit``, only the latest ones.

    With ``reset_on_user_text`` only the calls after the last user message that carries text
    of its own count: a person who has answered is a new start, and a conversation the guard
    refused once can then go on. The scan runs from the end, so a long conversation costs no
    more than its tail.
    """
    found: list[ToolCall] = []
    for message in reversed(messages):
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            if reset_on_user_text and _is_user_text(content):
                break
            continue
        if role != "assistant" or not isinstance(content, list):
            continue
        for block in reversed(content):
            if isinstance(block, dict) and block.get("type") == "tool_use":
                found.append(
                    ToolCall(
                        str(block.get("name") or ""),
                        canonical_arguments(block.get("input") or {}),
                    )
                )
                if limit is not None and len(found) >= limit:
                    return found[::-1]
    return found[::-1]


def find_loop(calls: list[ToolCall], *, window: int, threshold: int) -> Loop | None:
    """The longest run (the latest on a tie) of at least ``threshold`` identical calls among
    the last ``window`` calls, or ``None``."""
    found: Loop | None = None
    previous: ToolCall | None = None
    run = 0
    for call in calls[-window:]:
        run = run + 1 if call == previous else 1
        previous = call
        if run >= threshold and (found is None or run >= found.count):
            found = Loop(call.name, call.arguments, run)
    return found
