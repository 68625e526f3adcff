"""What a guard reads from a conversation: the user's last words, the tool results the client
sends back with this turn, and the tools it declares.

They read the internal model (:mod:`coderouter.wire.model`), so one guard serves every ingress
format: Chat Completions ``role: "tool"`` messages and Responses ``function_call_output`` items
arrive here as ``tool_result`` blocks in a user message, like Anthropic's own.
"""

from __future__ import annotations

from typing import Any

import attrs

from coderouter.wire.model import Block, Message, Request

__all__ = ["ToolResult", "last_tool_results", "last_user_text", "tool_names"]


@attrs.frozen
class ToolResult:
    """One tool result the client sends back: the call it answers (``tool_use_id`` and the
    tool's ``name``, ``""`` when the call is not in the conversation), its text, and whether
    the client marked it as an error."""

    tool_use_id: str
    name: str
    text: str
    is_error: bool = False


def _blocks(message: Message) -> list[Block]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _text_of(blocks: list[Block]) -> str:
    return "\n".join(
        b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
    )


def last_user_text(request: Request) -> str:
    """The text of the last user message that has any (tool results alone are not the user
    speaking), its text blocks joined by newlines; ``""`` when no user message has text."""
    for message in reversed(request.messages):
        if message.get("role") != "user":
            continue
        text = _text_of(_blocks(message))
        if text:
            return text
    return ""


def _tool_names_by_id(messages: list[Message]) -> dict[str, str]:
    return {
        str(b.get("id")): str(b.get("name", ""))
        for m in messages
        if m.get("role") == "assistant"
        for b in _blocks(m)
        if b.get("type") == "tool_use"
    }


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return _text_of([b for b in content if isinstance(b, dict)])
    return ""


def last_tool_results(request: Request) -> list[ToolResult]:
    """The tool results in the trailing user turn, in order: what the client ran since the
    model last answered. Empty when the conversation does not end with tool results."""
    trailing: list[Block] = []
    for message in reversed(request.messages):
        if message.get("role") != "user":
            break
        trailing[:0] = [b for b in _blocks(message) if b.get("type") == "tool_result"]
    if not trailing:
        return []
    names = _tool_names_by_id(request.messages)
    return [
        ToolResult(
            tool_use_id=str(b.get("tool_use_id", "")),
            name=names.get(str(b.get("tool_use_id", "")), ""),
            text=_result_text(b.get("content")),
            is_error=b.get("is_error") is True,
        )
        for b in trailing
    ]


def tool_names(request: Request) -> list[str]:
    """The names of the tools the client declares, in its order."""
    return [str(t["name"]) for t in request.tools if isinstance(t, dict) and t.get("name")]
