"""Edits of an encoded upstream body that a provider's or profile's settings ask for, the same
whether the body was translated or passed through: an appended system prompt and
``extra_body``."""

from __future__ import annotations

from typing import Any

__all__ = ["append_system_prompt", "deep_merge"]


def deep_merge(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra`` merged in: tables merge key by key, anything else replaces."""
    out = dict(body)
    for key, value in extra.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def _joined(current: Any, text: str) -> Any:
    if isinstance(current, str) and current:
        return f"{current}\n\n{text}"
    if isinstance(current, list):
        return [*current, {"type": "text", "text": text}]
    return text


def append_system_prompt(wire: str, body: dict[str, Any], text: str) -> dict[str, Any]:
    """``text`` at the end of the system prompt of a body in the ``wire`` format. Chat bodies
    get it in their first system message (chat templates such as Qwen's accept a system
    message only at the start), or a new one in front."""
    if wire == "anthropic":
        return {**body, "system": _joined(body.get("system"), text)}
    if wire == "openai_responses":
        return {**body, "instructions": _joined(body.get("instructions"), text)}
    messages = list(body.get("messages") or [])
    first = messages[0] if messages and isinstance(messages[0], dict) else None
    if first is not None and first.get("role") in ("system", "developer"):
        content = first.get("content")
        if isinstance(content, list):
            joined: Any = [*content, {"type": "text", "text": text}]
        else:
            joined = _joined(content, text)
        messages[0] = {**first, "content": joined}
    else:
        messages.insert(0, {"role": "system", "content": text})
    return {**body, "messages": messages}
