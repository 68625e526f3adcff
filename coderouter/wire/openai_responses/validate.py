"""OpenAI Responses requests in: the shape checks of a client body, each failure a
``ValueError`` naming its JSON path."""

from __future__ import annotations

from typing import Any

from coderouter.wire import check
from coderouter.wire.openai_chat.validate import check_json_schema

_MESSAGE_ROLES = ("user", "assistant", "system", "developer")


def _check_part(value: Any, path: str) -> None:
    part = check.object_with_type(value, path)
    kind = part["type"]
    if kind in ("input_text", "output_text", "text"):
        check.opt_str(part, "text", path)
    elif kind == "refusal":
        check.opt_str(part, "refusal", path)
    elif kind == "input_image":
        image = part.get("image_url")
        if isinstance(image, dict):
            check.opt_str(image, "url", f"{path}.image_url")
        else:
            check.opt_str(part, "image_url", path)


def _check_summary(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "text", path)


def _validate_item(i: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise ValueError(f"input[{i}] must be an object")
    kind = item.get("type", "message")
    path = f"input[{i}]"
    if not isinstance(kind, str):
        raise ValueError(f"input[{i}].type must be a string")
    if kind == "message":
        if item.get("role") not in _MESSAGE_ROLES:
            raise ValueError(
                f"input[{i}].role must be one of 'user', 'assistant', 'system', 'developer'"
            )
        if not isinstance(item.get("content"), str | list):
            raise ValueError(f"input[{i}].content must be a string or an array")
        check.opt_str_or_list(item, "content", path, _check_part)
    elif kind == "function_call":
        for key in ("call_id", "name"):
            if not isinstance(item.get(key), str):
                raise ValueError(f"input[{i}].{key} must be a string")
        check.opt_str(item, "namespace", path)
        check.opt_str(item, "id", path)
        arguments = item.get("arguments")
        if arguments is not None and not isinstance(arguments, str | dict):
            check.fail(f"{path}.arguments", "a string", arguments)
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise ValueError(f"input[{i}].call_id must be a string")
        if not isinstance(item.get("output"), str | list):
            raise ValueError(f"input[{i}].output must be a string or an array")
        check.opt_str_or_list(item, "output", path, _check_part)
    elif kind == "reasoning":
        check.opt_str(item, "encrypted_content", path)
        check.opt_list(item, "summary", path, _check_summary)


def _check_function_tool(tool: dict[str, Any], path: str) -> None:
    check.opt_str(tool, "description", path)
    check.opt_object(tool, "parameters", path)


def _check_inner_tool(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "type", path)
    check.opt_str(value, "name", path)
    _check_function_tool(value, path)


def _check_tool_choice(body: dict[str, Any]) -> None:
    choice = check.tool_choice_object(body)
    if choice is not None:
        for key in ("type", "name", "namespace"):
            check.opt_str(choice, key, "tool_choice")


def _check_format(fmt: dict[str, Any], path: str) -> None:
    check.opt_str(fmt, "type", path)
    check_json_schema(fmt, path)


def _check_options(body: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        check.opt_number(body, key, "")
    _check_tool_choice(body)
    check.opt_object(
        body, "reasoning", "", lambda value, path: check.opt_str(value, "effort", path)
    )
    check.opt_object(
        body, "text", "", lambda value, path: check.opt_object(value, "format", path, _check_format)
    )


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise ValueError(f"tools[{i}] must be an object with a 'type' string")
        if tool["type"] in ("function", "namespace") and not isinstance(tool.get("name"), str):
            raise ValueError(f"tools[{i}].name must be a string")
        if tool["type"] == "function":
            _check_function_tool(tool, f"tools[{i}]")
        elif tool["type"] == "namespace":
            check.opt_list(tool, "tools", f"tools[{i}]", _check_inner_tool)


def validate_request(body: dict[str, Any]) -> None:
    items = body.get("input")
    if items is None:
        raise ValueError("'input' is a required property")
    if isinstance(items, list):
        for i, item in enumerate(items):
            _validate_item(i, item)
    elif not isinstance(items, str):
        raise ValueError("'input' must be a string or an array of input items")
    check.model_and_stream(body)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ValueError("'instructions' must be a string")
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise ValueError("'max_output_tokens' must be an integer")
    _validate_tools(body.get("tools"))
    _check_options(body)
