"""Names, ids and tables every Chat Completions stage shares."""

from __future__ import annotations

import json
from typing import Any

from coderouter.wire.model import Block, StopReason, unique_hex

NAME = "openai_chat"


dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


def new_id() -> str:
    return f"chatcmpl-{unique_hex(24)}"


def call_id() -> str:
    return f"call_{unique_hex(24)}"


def tool_call_of(block: Block) -> dict[str, Any]:
    """The Chat ``tool_calls`` entry for an internal ``tool_use`` block."""
    return {
        "id": block.get("id", ""),
        "type": "function",
        "function": {"name": block.get("name", ""), "arguments": dumps(block.get("input") or {})},
    }
