"""What the matchers look at, computed once per request and only when a rule asks.

Everything comes from :meth:`RequestView.conversation` (the format-independent model), the
request's ``model`` and its headers, so a rule behaves the same for every ingress format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coderouter.types import RequestView
from coderouter.wire.model import Message, Request

__all__ = ["Facts", "LatestTurn", "code_fence_ratio", "latest_turn"]

FENCE = "```"
FENCE_LEN = len(FENCE)


class LatestTurn:
    """The user's latest turn: the last user message that carries text or an image written
    by the user, plus the tool results that followed it.

    In an agent loop the trailing user messages hold only tool results; routing on them would
    switch profile in the middle of a task, so the text is the user's own last words, while
    ``has_image`` also counts images returned inside those tool results (a screenshot read
    by a tool needs a vision model just the same).
    """

    __slots__ = ("has_image", "text")

    def __init__(self, text: str, has_image: bool) -> None:
        self.text = text
        self.has_image = has_image


def _image_in(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    return any(isinstance(b, dict) and b.get("type") == "image" for b in content)


def latest_turn(messages: list[Message]) -> LatestTurn:
    has_image = False
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return LatestTurn(content, has_image)
        texts: list[str] = []
        human = False
        for block in content or ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(block.get("text") or "")
                human = True
            elif kind == "image":
                has_image = human = True
            elif kind == "tool_result" and _image_in(block.get("content")):
                has_image = True
        if human:
            return LatestTurn("\n".join(texts), has_image)
    return LatestTurn("", has_image)


def code_fence_ratio(text: str) -> float:
    """Share of ``text`` inside triple-backtick fences (fence markers and language tags
    included; an unclosed fence runs to the end, as Markdown renders it)."""
    if not text or FENCE not in text:
        return 0.0
    parts = text.split(FENCE)
    inside = sum(len(part) for part in parts[1::2]) + FENCE_LEN * (len(parts) - 1)
    return min(1.0, inside / len(text))


class Facts:
    """Lazily computed properties of one request, shared by every rule tried on it."""

    __slots__ = ("_count_tokens", "_tokens", "_turn", "view")

    def __init__(self, view: RequestView, count_tokens: Callable[[RequestView], int]) -> None:
        self.view = view
        self._count_tokens = count_tokens
        self._turn: LatestTurn | None = None
        self._tokens: int | None = None

    def conversation(self) -> Request:
        return self.view.conversation()

    def turn(self) -> LatestTurn:
        if self._turn is None:
            self._turn = latest_turn(self.view.conversation().messages)
        return self._turn

    def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self._count_tokens(self.view)
        return self._tokens
