"""OpenAI Responses: what every stage shares (ids, namespace tool names, thinking carried in
reasoning items, SSE framing)."""

from __future__ import annotations

import json
import logging
from typing import Any

from coderouter.wire.effort import EFFORT_BUDGETS as EFFORT_BUDGETS
from coderouter.wire.model import Block, unique_hex

NAME = "openai_responses"
"""The format's name: ``source`` and ``extras`` key of the requests it decodes."""

log = logging.getLogger("coderouter.wire")

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

SIGNATURE_PREFIX = "coderouter-thinking:"
"""``encrypted_content`` of a reasoning item made from signed thinking: prefix + signature."""
REDACTED_PREFIX = "coderouter-redacted:"
"""``encrypted_content`` of a reasoning item made from redacted thinking: prefix + data."""
NAMESPACES_EXTRA = "openai_responses.tool_namespaces"


def new_id(prefix: str = "resp") -> str:
    return f"{prefix}_{unique_hex(32)}"


def flat_tool_name(namespace: str, name: str) -> str:
    """The plain function name of ``name`` inside ``namespace`` (codex's flat form)."""
    return f"{namespace.rstrip('_')}__{name.lstrip('_')}"


def client_tools(body: dict[str, Any]) -> list[Any]:
    """The request's tools: ``tools`` and those of ``additional_tools`` input items (codex
    sends its tools there with its default model, and none in ``tools``)."""
    found = list(body.get("tools") or ()) if isinstance(body.get("tools"), list) else []
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            found += [t for t in item.get("tools") or () if isinstance(t, dict)]
    return found


def custom_tool_names(tools: Any) -> frozenset[str]:
    """Flat names of the free-form (``custom``) tools, top level or inside a namespace."""
    found: set[str] = set()
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "custom" and isinstance(tool.get("name"), str):
            found.add(tool["name"])
        elif tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            for inner in tool.get("tools") or ():
                if isinstance(inner, dict) and inner.get("type") == "custom":
                    found.add(flat_tool_name(tool["name"], str(inner.get("name"))))
    return frozenset(found)


CUSTOM_INPUT = "input"
"""A free-form tool becomes a function with one string argument of this name."""


def tool_namespaces(tools: Any) -> dict[str, tuple[str, str]]:
    """Flat name -> (namespace, inner name) for every function inside a namespace tool."""
    found: dict[str, tuple[str, str]] = {}
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or tool.get("type") != "namespace":
            continue
        namespace = tool.get("name")
        if not isinstance(namespace, str) or not namespace:
            continue
        for inner in tool.get("tools") or ():
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and inner["name"]:
                found[flat_tool_name(namespace, inner["name"])] = (namespace, inner["name"])
    return found


def summary_text(item: dict[str, Any]) -> str:
    texts = [
        part.get("text", "")
        for part in item.get("summary") or ()
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    if not any(texts):
        texts = [
            part.get("text", "")
            for part in item.get("content") or ()
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return "\n\n".join(t for t in texts if t)


def thinking_of(item: dict[str, Any]) -> Block | None:
    """The thinking block a reasoning item made by :class:`ResponsesStreamEncoder` (or
    :meth:`OpenAIResponses.encode_response`) stands for; None for anyone else's item."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str):
        return None
    if encrypted.startswith(SIGNATURE_PREFIX):
        signature = encrypted[len(SIGNATURE_PREFIX) :]
        return {"type": "thinking", "thinking": summary_text(item), "signature": signature}
    if encrypted.startswith(REDACTED_PREFIX):
        return {"type": "redacted_thinking", "data": encrypted[len(REDACTED_PREFIX) :]}
    return None


def sse_frame(kind: str, payload: dict[str, Any], sequence: int) -> str:
    data = {"type": kind, **payload, "sequence_number": sequence}
    return f"event: {kind}\ndata: {dumps(data)}\n\n"
