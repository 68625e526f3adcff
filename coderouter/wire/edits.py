"""Edits of an encoded upstream body that a provider's or profile's settings ask for, the same
whether the body was translated or passed through: an appended system prompt, ``extra_body``,
and a forced ``tool_choice`` turned into an instruction for Chat servers that ignore it."""

from __future__ import annotations

from typing import Any

__all__ = ["append_system_prompt", "deep_merge", "emulate_forced_tool_choice"]


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


def _tool_name(tool: Any) -> str | None:
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name")
    return name if isinstance(name, str) else None


def _forced(choice: Any) -> tuple[bool, list[str] | None]:
    """Whether a Chat ``tool_choice`` forces a call, and the tool names it allows (``None``:
    any declared tool)."""
    if choice == "required":
        return True, None
    if not isinstance(choice, dict):
        return False, None
    kind = choice.get("type")
    if kind == "function":
        name = _tool_name(choice)
        return (True, [name]) if name else (False, None)
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools")
        if isinstance(allowed, dict) and allowed.get("mode") == "required":
            names = [n for n in map(_tool_name, allowed.get("tools") or []) if n]
            return True, names or None
    return False, None


def emulate_forced_tool_choice(body: dict[str, Any]) -> dict[str, Any] | None:
    """A Chat body whose ``tool_choice`` forces a tool call (``required``, a named function,
    ``allowed_tools`` in ``required`` mode), rewritten for a server that may ignore the field:
    the tools narrowed to the allowed ones and an instruction naming them at the end of the
    system prompt. ``tool_choice`` stays: a server that ignores it loses nothing, and some honour
    one form only (llama-cpp-python constrains its output to a named function's arguments but
    ignores ``required``). ``None`` when the body forces nothing."""
    forced, names = _forced(body.get("tool_choice"))
    tools = body.get("tools")
    if not forced or not isinstance(tools, list) or not tools:
        return None
    if names is not None:
        kept = [t for t in tools if _tool_name(t) in names]
        tools = kept or tools
    declared = [n for n in map(_tool_name, tools) if n]
    if len(declared) == 1:
        text = (
            f"Answer only by calling the tool `{declared[0]}` with its arguments; "
            "do not answer in text."
        )
    else:
        listed = ", ".join(f"`{n}`" for n in declared)
        text = f"Answer only by calling one of the tools {listed}; do not answer in text."
    out = {**body, "tools": tools}
    return append_system_prompt("openai_chat", out, text)
