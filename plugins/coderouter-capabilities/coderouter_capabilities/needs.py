"""What a request needs from a model: vision, tools, thinking.

Read from the format-independent view, so the answer is the same for every ingress.
"""

from __future__ import annotations

from typing import Any

import attrs

from coderouter.wire.model import Request

__all__ = ["Needs", "needs_of"]


@attrs.frozen
class Needs:
    images: bool
    tools: bool
    thinking: bool


def _has_image(messages: list[dict[str, Any]]) -> bool:
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "image":
                return True
            if kind == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list) and any(
                    isinstance(b, dict) and b.get("type") == "image" for b in inner
                ):
                    return True
    return False


def _wants_thinking(request: Request) -> bool:
    thinking = request.thinking
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        return True
    # Chat Completions clients ask for reasoning with `reasoning_effort`, which the internal
    # model keeps among that format's extras.
    effort = request.extras.get("openai_chat", {}).get("reasoning_effort")
    return isinstance(effort, str) and effort != "none"


def needs_of(request: Request) -> Needs:
    """Images anywhere in the conversation (the model must read every one, including those
    returned by tools), a non-empty tool list, thinking switched on."""
    return Needs(
        images=_has_image(request.messages),
        tools=bool(request.tools),
        thinking=_wants_thinking(request),
    )
