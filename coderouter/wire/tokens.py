"""A fast token estimate of a request, without a tokenizer.

About one token per four characters of text and JSON (keys and punctuation of tool schemas
included, as providers count them too) and a fixed cost per image. Good to a few tens of
percent, which is what count_tokens answers, profile matchers and context-size gates need; it
costs well under a millisecond for a 100 KB Claude Code request, because it walks the decoded
structure once instead of serialising or tokenising it.
"""

from __future__ import annotations

from typing import Any

from coderouter.wire.model import Request

__all__ = [
    "CHARS_PER_TOKEN",
    "IMAGE_TOKENS",
    "TokenCounter",
    "estimate_request_tokens",
    "estimate_tokens",
]

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600
"""What one image costs (Anthropic's figure for a ~1.15 megapixel image)."""

_IMAGE_CHARS = IMAGE_TOKENS * CHARS_PER_TOKEN
_KEY_OVERHEAD = 4
"""Quotes, colon and comma around each object key."""


def _chars(value: Any) -> int:
    """Characters ``value`` would take as compact JSON, roughly; images count as a fixed
    size rather than by their base64 data."""
    total = 0
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is dict:
            if item.get("type") == "image":
                total += _IMAGE_CHARS
                continue
            total += 2
            for key, child in item.items():
                total += len(key) + _KEY_OVERHEAD
                push(child)
        elif kind is list:
            total += 2 + len(item)
            extend(item)
        else:
            total += 4
    return total


def estimate_tokens(value: Any) -> int:
    """Tokens of any JSON-shaped value (blocks, messages, tool definitions)."""
    return -(-_chars(value) // CHARS_PER_TOKEN)


def estimate_request_tokens(request: Request) -> int:
    """Input tokens of ``request``: system, every message and every tool definition."""
    chars = _chars(request.system) + _chars(request.messages) + _chars(request.tools)
    return -(-chars // CHARS_PER_TOKEN)


_Fingerprint = tuple[tuple[Any, int, int, int], ...]


def _fingerprint(tools: list[dict[str, Any]]) -> _Fingerprint:
    out = []
    for tool in tools:
        schema = tool.get("input_schema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        out.append(
            (
                tool.get("name"),
                len(tool.get("description") or ""),
                len(schema) if isinstance(schema, dict) else 0,
                len(properties) if isinstance(properties, dict) else 0,
            )
        )
    return tuple(out)


class TokenCounter:
    """:func:`estimate_request_tokens` with the tool definitions' share remembered.

    Coding agents send the same tool definitions on every turn (Claude Code: 24 tools, about
    64 KB of JSON schema) and walking them is most of an estimate's cost. A tool set is
    recognised by a cheap fingerprint (names, description lengths, schema sizes) and its count
    reused. At most ``max_entries`` tool sets are kept (one per agent and version in practice).
    """

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._tools: dict[_Fingerprint, int] = {}

    def tools_tokens(self, tools: list[dict[str, Any]]) -> int:
        if not tools:
            return 0
        key = _fingerprint(tools)
        found = self._tools.get(key)
        if found is None:
            if len(self._tools) >= self.max_entries:
                self._tools.clear()
            found = self._tools[key] = estimate_tokens(tools)
        return found

    def __call__(self, request: Request) -> int:
        return (
            estimate_tokens(request.system)
            + estimate_tokens(request.messages)
            + self.tools_tokens(request.tools)
        )

    def __len__(self) -> int:
        return len(self._tools)


SHARED_COUNTER = TokenCounter()
"""The worker's counter behind :meth:`coderouter.types.RequestView.estimated_tokens`."""
