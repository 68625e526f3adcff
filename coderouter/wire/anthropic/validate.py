"""Anthropic Messages requests in: the shape checks of a client body, each failure a
``ValueError`` naming its JSON path."""

from __future__ import annotations

from typing import Any

from coderouter.wire import check

_ROLES = ("user", "assistant", "system")


def _check_content(content: Any, i: int) -> None:
    if isinstance(content, str):
        return
    if content is None:
        raise ValueError(f"messages[{i}].content is a required property")
    if not isinstance(content, list):
        raise ValueError(f"messages[{i}].content must be a string or an array of content blocks")
    for j, block in enumerate(content):
        check_block(block, f"messages[{i}].content[{j}]")


def _check_source(source: dict[str, Any], path: str) -> None:
    for key in ("type", "media_type", "data", "url"):
        check.opt_str(source, key, path)


def _check_result_part(part: Any, path: str) -> None:
    check_block(check.object_with_type(part, path), path)


def check_block(value: Any, path: str) -> None:
    """One content block: the fields of the block types the router reads or rewrites."""
    block = check.object_with_type(value, path)
    check.opt_object(block, "cache_control", path)
    kind = block["type"]
    if kind == "text":
        check.req_str(block, "text", path)
    elif kind in ("image", "document"):
        check.opt_object(block, "source", path, _check_source)
    elif kind == "tool_use":
        check.opt_str(block, "id", path)
        check.req_str(block, "name", path)
        check.opt_object(block, "input", path)
    elif kind == "tool_result":
        check.opt_str(block, "tool_use_id", path)
        check.opt_str_or_list(block, "content", path, _check_result_part)
        check.opt_bool(block, "is_error", path)
    elif kind == "thinking":
        check.opt_str(block, "thinking", path)
        check.opt_str(block, "signature", path)
    elif kind == "redacted_thinking":
        check.opt_str(block, "data", path)


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise ValueError("'messages' is a required property")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ValueError(f"messages[{i}] must be an object")
        if msg.get("role") not in _ROLES:
            raise ValueError(f"messages[{i}].role must be 'user', 'assistant' or 'system'")
        _check_content(msg.get("content"), i)


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ValueError("'system' must be a string or an array of text blocks")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise ValueError(f"system[{j}] must be a text block")
        check_block(block, f"system[{j}]")


def _check_tool(tool: Any, path: str) -> None:
    if not isinstance(tool, dict):
        raise ValueError(f"{path} must be an object")
    check.opt_str(tool, "type", path)
    check.opt_str(tool, "name", path)
    check.opt_str(tool, "description", path)
    check.opt_object(tool, "input_schema", path)
    check.opt_object(tool, "cache_control", path)


def _check_tool_choice(choice: dict[str, Any], path: str) -> None:
    check.opt_str(choice, "type", path)
    check.opt_str(choice, "name", path)
    check.opt_bool(choice, "disable_parallel_tool_use", path)


def _check_thinking(thinking: dict[str, Any], path: str) -> None:
    check.opt_str(thinking, "type", path)
    check.opt_int(thinking, "budget_tokens", path)


def _check_format(fmt: dict[str, Any], path: str) -> None:
    check.opt_str(fmt, "type", path)
    check.opt_object(fmt, "schema", path)


def _check_output_config(config: dict[str, Any], path: str) -> None:
    check.opt_object(config, "format", path, _check_format)


def _check_optional(body: dict[str, Any]) -> None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ValueError("'model' must be a string")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    check.opt_list(body, "tools", "", _check_tool)
    for key in ("tool_choice", "thinking", "metadata"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise ValueError(f"'{key}' must be an object")
    check.opt_object(body, "tool_choice", "", _check_tool_choice)
    check.opt_object(body, "thinking", "", _check_thinking)
    check.opt_object(body, "output_config", "", _check_output_config)
    check.opt_object(body, "output_format", "", _check_format)
    for key in ("temperature", "top_p", "top_k"):
        check.opt_number(body, key, "")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise ValueError("'stop_sequences' must be an array of strings")


def check_shape(body: Any) -> None:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    _check_messages(body.get("messages"))
    _check_system(body.get("system"))
    _check_optional(body)


def validate_request(body: dict[str, Any]) -> None:
    """Shape checks for ``/v1/messages`` (``max_tokens`` is required there)."""
    check_shape(body)
    if "max_tokens" not in body:
        raise ValueError("'max_tokens' is a required property")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise ValueError("'max_tokens' must be an integer")
    if max_tokens < 1:
        raise ValueError("'max_tokens' must be at least 1")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise ValueError("'stream' must be a boolean")


def validate_count_tokens(body: dict[str, Any]) -> None:
    """Shape checks for ``/v1/messages/count_tokens``: ``messages`` only is required."""
    check_shape(body)
