"""Chat Completions requests in: the shape checks of a client body, each failure a
``ValueError`` naming its JSON path."""

from __future__ import annotations

from typing import Any

from coderouter.wire import check
from coderouter.wire.effort import EFFORT_BUDGETS

REASONING_EFFORTS = ("none", *EFFORT_BUDGETS)


def _check_part(value: Any, path: str) -> None:
    part = check.object_with_type(value, path)
    kind = part["type"]
    if kind in ("text", "input_text"):
        check.req_str(part, "text", path)
    elif kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, dict):
            check.opt_str(image, "url", check.join(path, "image_url"))
        elif image is not None and not isinstance(image, str):
            check.fail(check.join(path, "image_url"), "an object with a 'url' string", image)


def _check_function_call(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "id", path)
    function = value.get("function")
    if not isinstance(function, dict):
        check.fail(check.join(path, "function"), "an object", function)
    at = check.join(path, "function")
    check.opt_str(function, "name", at)
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str | dict):
        check.fail(check.join(at, "arguments"), "a string", arguments)


_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})


def _check_message(msg: dict[str, Any], path: str) -> None:
    content = msg.get("content")
    if isinstance(content, list):
        at = check.join(path, "content")
        for j, part in enumerate(content):
            _check_part(part, f"{at}[{j}]")
    elif content is not None and not isinstance(content, str):
        check.fail(
            check.join(path, "content"), "a string, an array of content parts or null", content
        )
    if msg.keys() <= _PLAIN_MESSAGE_KEYS:  # most turns: nothing else to check
        return
    for key in ("reasoning_content", "reasoning", "tool_call_id", "name"):
        if not isinstance(msg.get(key), dict):  # some servers put reasoning objects here
            check.opt_str(msg, key, path)
    check.opt_list(msg, "tool_calls", path, _check_function_call)


def _check_tool(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        check.fail(path, "an object", value)
    check.opt_str(value, "type", path)
    check.opt_object(value, "function", path, _check_function)


def _check_function(function: dict[str, Any], path: str) -> None:
    check.opt_str(function, "name", path)
    check.opt_str(function, "description", path)
    check.opt_object(function, "parameters", path)


def _check_allowed_tools(allowed: dict[str, Any], path: str) -> None:
    check.opt_str(allowed, "mode", path)
    check.opt_list(allowed, "tools", path, _check_tool)


def _check_tool_choice(body: dict[str, Any]) -> None:
    choice = check.tool_choice_object(body)
    if choice is not None:
        check.opt_object(choice, "function", "tool_choice", _check_function)
        check.opt_object(choice, "allowed_tools", "tool_choice", _check_allowed_tools)


def _check_response_format(fmt: dict[str, Any], path: str) -> None:
    check.opt_str(fmt, "type", path)
    check.opt_object(fmt, "json_schema", path, check_json_schema)


def check_json_schema(spec: dict[str, Any], path: str) -> None:
    """The fields of an OpenAI JSON-schema spec (Chat's ``response_format.json_schema``,
    Responses' ``text.format``)."""
    check.opt_str(spec, "name", path)
    check.opt_object(spec, "schema", path)
    check.opt_bool(spec, "strict", path)


def _check_options(body: dict[str, Any]) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        check.opt_int(body, key, "")
    for key in ("temperature", "top_p"):
        check.opt_number(body, key, "")
    stop = body.get("stop")
    if not isinstance(stop, str):
        check.opt_list(body, "stop", "", check.str_item)
    check.opt_object(body, "stream_options", "")
    check.opt_object(body, "response_format", "", _check_response_format)
    _check_tool_choice(body)
    check.opt_list(body, "tools", "", _check_tool)
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ValueError(
            f"'reasoning_effort' must be one of {', '.join(REASONING_EFFORTS)}, got {effort!r}"
        )


def validate_request(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise ValueError("'messages' is a required property")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with a 'role' string")
        _check_message(msg, f"messages[{i}]")
    check.model_and_stream(body)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    _check_options(body)
