"""Which decoded values are tool calls of *this* request, and what they call.

Everything here is strict on purpose: a value is a call only when it names a tool the request
declared, its arguments are an object holding every top-level ``required`` key, and (when the
schema lists ``properties`` without allowing others) no key outside them. Anything else is text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "ARG_KEYS",
    "CALL_KEYS",
    "NAME_KEYS",
    "Call",
    "ToolSet",
    "call_from_function_form",
    "calls_from_json",
    "calls_from_value",
]

NAME_KEYS = ("name", "tool", "tool_name", "function")
ARG_KEYS = ("arguments", "parameters", "input", "args")
META_KEYS = frozenset({"id", "type", "index", "call_id"})
CALL_TYPES = (None, "function", "tool_use", "tool_call")
ENVELOPE_KEYS = frozenset({"tool_calls", "role", "content"})
WRAPPED_KEYS = ("function_call", "tool_call")
CALL_KEYS = frozenset({*NAME_KEYS, *ARG_KEYS, *META_KEYS, *ENVELOPE_KEYS, *WRAPPED_KEYS})
"""Keys a call (or an envelope of calls) may start with; any other first key means data."""

_PARAMETER = re.compile(r"<parameter=([^>\s]+)>(.*?)</parameter>", re.DOTALL)


@attrs.frozen
class Call:
    """A recovered tool call."""

    name: str
    arguments: dict[str, Any]


@attrs.frozen
class _Spec:
    required: frozenset[str]
    properties: frozenset[str] | None
    types: Mapping[str, str]


def _spec(schema: Any) -> _Spec:
    if not isinstance(schema, dict):
        return _Spec(frozenset(), None, {})
    required = schema.get("required")
    required_keys = (
        frozenset(k for k in required if isinstance(k, str))
        if isinstance(required, list)
        else frozenset()
    )
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    open_ended = schema.get("additionalProperties", False) not in (False, None)
    types: dict[str, str] = {
        k: v["type"]
        for k, v in props.items()
        if isinstance(v, dict) and isinstance(v.get("type"), str)
    }
    return _Spec(required_keys, None if open_ended or not props else frozenset(props), types)


class ToolSet:
    """The tools one request declared (``{"name", "description", "input_schema"}`` each)."""

    __slots__ = ("_specs",)

    def __init__(self, tools: Iterable[Mapping[str, Any]]) -> None:
        self._specs: dict[str, _Spec] = {}
        for tool in tools:
            name = tool.get("name")
            if isinstance(name, str) and name:
                self._specs[name] = _spec(tool.get("input_schema"))

    def __bool__(self) -> bool:
        return bool(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def accepts(self, name: str, arguments: Mapping[str, Any]) -> bool:
        spec = self._specs.get(name)
        if spec is None or not spec.required.issubset(arguments):
            return False
        return spec.properties is None or spec.properties.issuperset(arguments)

    def property_type(self, name: str, key: str) -> str | None:
        spec = self._specs.get(name)
        return None if spec is None else spec.types.get(key)


def _arguments(value: Any) -> dict[str, Any] | None:
    """Arguments as an object, or as a JSON string holding one."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def call_from_object(obj: Any, tools: ToolSet) -> Call | None:
    """One call from one object in any of the accepted shapes, or ``None``."""
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    if isinstance(function, dict):
        if set(obj) - {"function"} - META_KEYS or obj.get("type") not in CALL_TYPES:
            return None
        return call_from_object(function, tools)
    for key in WRAPPED_KEYS:
        if len(obj) == 1 and isinstance(obj.get(key), dict):
            return call_from_object(obj[key], tools)
    names = [k for k in NAME_KEYS if k in obj]
    args = [k for k in ARG_KEYS if k in obj]
    if len(names) != 1 or len(args) > 1 or obj.get("type") not in CALL_TYPES:
        return None
    if set(obj) - {names[0], *args} - META_KEYS:
        return None
    name = obj[names[0]]
    arguments = _arguments(obj[args[0]]) if args else {}
    if not isinstance(name, str) or arguments is None or not tools.accepts(name, arguments):
        return None
    return Call(name, arguments)


def calls_from_value(value: Any, tools: ToolSet) -> list[Call] | None:
    """Every call in ``value`` (one call, a list of calls or a ``{"tool_calls": [...]}``
    envelope); ``None`` unless all of them are valid calls."""
    items: Any = value
    if isinstance(value, dict) and "tool_calls" in value:
        if set(value) - ENVELOPE_KEYS or value.get("content") not in (None, ""):
            return None
        if value.get("role") not in (None, "assistant"):
            return None
        items = value["tool_calls"]
    elif isinstance(value, dict):
        items = [value]
    if not isinstance(items, list) or not items:
        return None
    calls = []
    for item in items:
        call = call_from_object(item, tools)
        if call is None:
            return None
        calls.append(call)
    return calls


def calls_from_json(text: str, tools: ToolSet) -> list[Call] | None:
    """Calls from JSON text (one value), or ``None``."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return calls_from_value(value, tools)


def _parameter_value(raw: str, kind: str | None) -> Any:
    value = raw[1:] if raw.startswith("\n") else raw
    value = value[:-1] if value.endswith("\n") else value
    if kind in (None, "string"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def call_from_function_form(name: str, body: str, tools: ToolSet) -> Call | None:
    """``<function=NAME>`` bodies: a JSON object, or ``<parameter=KEY>VALUE</parameter>``
    elements (values converted by the schema's property type; strings stay as written)."""
    if name not in tools:
        return None
    stripped = body.strip()
    arguments: dict[str, Any] | None
    if stripped.startswith("{"):
        arguments = _arguments(stripped)
    elif _PARAMETER.sub("", body).strip():
        return None
    else:
        arguments = {
            key: _parameter_value(raw, tools.property_type(name, key))
            for key, raw in _PARAMETER.findall(body)
        }
    if arguments is None or not tools.accepts(name, arguments):
        return None
    return Call(name, arguments)
