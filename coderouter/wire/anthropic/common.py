"""Anthropic Messages: what every stage shares (ids, stop reasons, content shapes, framing)."""

from __future__ import annotations

import json
import re
from typing import Any

from coderouter.wire.model import Block, StopReason, unique_hex

NAME = "anthropic"
"""The format's name: ``source`` and ``extras`` key of the requests it decodes."""

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

THINKING_TYPES = ("thinking", "redacted_thinking")
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "max_tokens",
}
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def new_id() -> str:
    return f"msg_{unique_hex(24)}"


def tool_id() -> str:
    return f"toolu_{unique_hex(24)}"


def message_id(source_id: str) -> str:
    return source_id if source_id.startswith("msg_") else new_id()


def safe_tool_id(value: Any) -> str:
    """A tool id Anthropic accepts. Deterministic, so a ``tool_use`` and the ``tool_result``
    answering it still match after the rewrite."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value):
        return value
    if not value:
        return "toolu_missing"
    return _UNSAFE_ID_CHARS.sub("_", str(value))


def stop_in(value: Any) -> StopReason | None:
    return _STOP_REASONS.get(value) if isinstance(value, str) else None


def as_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def system_blocks(system: Any) -> list[Block]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return [block for block in system or [] if isinstance(block, dict)]


def sse_frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()
