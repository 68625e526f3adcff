"""The request size in tokens, as :func:`coderouter.wire.tokens.estimate_request_tokens`
counts it, with the tool definitions' share remembered between requests.

Coding agents send the same tool definitions on every turn (Claude Code: 24 tools, about
64 KB of JSON schema); walking them is most of the cost of an estimate. The definitions are
recognised by a cheap fingerprint (names, description lengths, schema sizes) and their count
is reused, which keeps the estimate within a few microseconds for a 100 KB request.
"""

from __future__ import annotations

from typing import Any

from coderouter.wire.model import Request
from coderouter.wire.tokens import estimate_tokens

__all__ = ["TokenCounter"]

_Fingerprint = tuple[tuple[Any, int, int, int], ...]


def _fingerprint(tools: list[dict[str, Any]]) -> _Fingerprint:
    out = []
    for tool in tools:
        schema = tool.get("input_schema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        out.append((
            tool.get("name"),
            len(tool.get("description") or ""),
            len(schema) if isinstance(schema, dict) else 0,
            len(properties) if isinstance(properties, dict) else 0,
        ))
    return tuple(out)


class TokenCounter:
    """Estimated input tokens of a request (system, messages, tool definitions).

    Keeps at most ``max_entries`` tool-set counts (one per distinct agent and version in
    practice); the table is per instance and per worker process.
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
        return (estimate_tokens(request.system) + estimate_tokens(request.messages)
                + self.tools_tokens(request.tools))

    def __len__(self) -> int:
        return len(self._tools)
