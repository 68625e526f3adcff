"""Shape checks of client bodies, each failure naming the JSON path of the value at fault.

Every field a converter reads is checked here before it runs, so a body of the wrong shape is a
400 that says where, not a crash deep in a translation. Fields the router does not read are
left alone: they pass through to a provider of the same format, which judges them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

__all__ = [
    "MAX_DEPTH",
    "fail",
    "find_text_problem",
    "join",
    "kind_of",
    "model_and_stream",
    "object_with_type",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_number",
    "opt_object",
    "opt_str",
    "opt_str_or_list",
    "req_str",
    "str_item",
    "text_problem",
    "tool_choice_object",
    "where",
]

Check = Callable[[Any, str], None]


def where(path: str) -> str:
    """Top-level keys quoted (``'max_tokens'``), nested paths as they are
    (``messages[0].content``)."""
    return f"'{path}'" if path.isidentifier() else path


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def fail(path: str, expected: str, value: Any) -> NoReturn:
    raise ValueError(f"{where(path)} must be {expected}, got {kind_of(value)}")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def req_str(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if not isinstance(value, str):
        if key not in obj:
            raise ValueError(f"{where(join(path, key))} is a required property")
        fail(join(path, key), "a string", value)


def opt_str(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        fail(join(path, key), "a string", value)


def opt_bool(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        fail(join(path, key), "a boolean", value)


def opt_int(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        fail(join(path, key), "an integer", value)


def opt_number(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        fail(join(path, key), "a number", value)


def opt_object(obj: dict[str, Any], key: str, path: str, check: Check | None = None) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        fail(join(path, key), "an object", value)
    if check is not None:
        check(value, join(path, key))


def opt_list(obj: dict[str, Any], key: str, path: str, item: Check | None = None) -> None:
    """An optional array; ``item(value, path)`` checks each element."""
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        fail(join(path, key), "an array", value)
    if item is not None:
        at = join(path, key)
        for i, element in enumerate(value):
            item(element, f"{at}[{i}]")


def opt_str_or_list(obj: dict[str, Any], key: str, path: str, item: Check) -> None:
    """An optional string or array (content that may be plain text or parts)."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        fail(join(path, key), "a string or an array", value)
    at = join(path, key)
    for i, element in enumerate(value):
        item(element, f"{at}[{i}]")


def model_and_stream(body: dict[str, Any]) -> None:
    """The OpenAI formats' top-level ``model`` (a string) and ``stream`` (a boolean), where
    present."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ValueError("'model' must be a string")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise ValueError("'stream' must be a boolean")


def tool_choice_object(body: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenAI formats' ``tool_choice`` when it is an object; ``None`` when it is absent or a
    keyword string. Anything else fails."""
    choice = body.get("tool_choice")
    if choice is None or isinstance(choice, str):
        return None
    if not isinstance(choice, dict):
        fail("tool_choice", "a string or an object", choice)
    return choice


def object_with_type(value: Any, path: str) -> dict[str, Any]:
    """``value`` as an object whose ``type`` is a string."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ValueError(f"{where(path)} must be an object with a 'type' string")
    return value


def str_item(value: Any, path: str) -> None:
    if not isinstance(value, str):
        fail(path, "a string", value)


def text_problem(value: Any) -> str:
    """Why ``value`` cannot be sent on as UTF-8 JSON (see :func:`find_text_problem`)."""
    return find_text_problem(value) or "the body cannot be encoded as JSON"


def find_text_problem(value: Any, *, max_depth: int | None = None) -> str | None:
    """The path of the first string in ``value`` holding a lone surrogate (``"\\ud800"`` is
    valid JSON but no character), or of a nesting deeper than :data:`MAX_DEPTH`; None when
    there is neither (``max_depth`` None: :data:`MAX_DEPTH`; 0: no limit). Callers walk only
    bodies that may hold one, so good bodies pay nothing."""
    limit = MAX_DEPTH if max_depth is None else max_depth or float("inf")
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > limit:
            return f"{where(path) if path else 'the body'} is nested more than {MAX_DEPTH} deep"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"{where(path) if path else 'the body'} holds a lone UTF-16 surrogate"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((child, join(path, str(key)), depth + 1))
                stack.append((key, join(path, str(key)), depth + 1))
        elif isinstance(item, list):
            for i, child in enumerate(item):
                stack.append((child, f"{path}[{i}]", depth + 1))
    return None


MAX_DEPTH = 200
"""Deeper bodies are refused; real requests (tool schemas included) nest a few tens deep."""
