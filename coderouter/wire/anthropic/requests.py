"""Anthropic Messages requests in: client bodies, checked by
:mod:`~coderouter.wire.anthropic.validate`, decoded into the internal
:class:`~coderouter.wire.model.Request`."""

from __future__ import annotations

from typing import Any

from coderouter.wire.anthropic.common import NAME, as_blocks, system_blocks
from coderouter.wire.anthropic.validate import check_shape
from coderouter.wire.model import Request

_KNOWN_KEYS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
        "stream",
        "thinking",
        "output_config",
        "output_format",
        "metadata",
        "profile",
    }
)


# --- decode ---------------------------------------------------------------------------------


def _split_tools(tools: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Client tools (``name``, ``input_schema``) and Anthropic server tools (a dated ``type``
    such as ``web_search_20250305``, run by Anthropic and meaningless elsewhere)."""
    client: list[dict[str, Any]] = []
    server: list[dict[str, Any]] = []
    for tool in tools or []:
        kind = tool.get("type")
        if kind in (None, "custom") or (kind is not None and "input_schema" in tool):
            client.append(tool)
        else:
            server.append(tool)
    return client, server


def _response_format_in(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return {"type": "json_schema", "schema": fmt.get("schema") or {}}
    return None


def _extras_in(body: dict[str, Any], server_tools: list[dict[str, Any]]) -> dict[str, Any]:
    """What the internal model has no field for, restored when the target speaks Anthropic."""
    extras = {k: v for k, v in body.items() if k not in _KNOWN_KEYS}
    config = body.get("output_config")
    if isinstance(config, dict):
        rest = {k: v for k, v in config.items() if k != "format"}
        if rest:
            extras["output_config"] = rest
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and "disable_parallel_tool_use" in choice:
        extras["disable_parallel_tool_use"] = choice["disable_parallel_tool_use"]
    if server_tools:
        extras["server_tools"] = server_tools
    return extras


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        return None
    out: dict[str, Any] = {"type": choice["type"]}
    if choice["type"] == "tool":
        out["name"] = choice.get("name", "")
    return out


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# --- entry points -----------------------------------------------------------------------------


def decode_request(body: dict[str, Any], *, checked: bool = False) -> Request:
    """Client body -> internal request. Checks shape but not ``max_tokens``, so
    count_tokens bodies decode too. Blocks are shared with ``body``, not copied."""
    if not checked:
        check_shape(body)
    tools, server_tools = _split_tools(body.get("tools"))
    stops = body.get("stop_sequences")
    request = Request(
        model=body.get("model") or "",
        system=system_blocks(body.get("system")),
        messages=[
            {"role": m["role"], "content": as_blocks(m["content"])} for m in body["messages"]
        ],
        tools=tools,
        tool_choice=_tool_choice_in(body.get("tool_choice")),
        max_tokens=_int_or_none(body.get("max_tokens")),
        temperature=_number_or_none(body.get("temperature")),
        top_p=_number_or_none(body.get("top_p")),
        stop=list(stops or []),
        stream=body.get("stream") is True,
        thinking=body.get("thinking"),
        response_format=_response_format_in(body),
        metadata=body.get("metadata"),
        source=NAME,
        extras={NAME: _extras_in(body, server_tools)},
    )
    if server_tools:
        request.note_dropped("server_tools", len(server_tools))
    return request
