"""The capability flags, their types, and checking a table of them.

The same flags appear in a provider's own ``[providers.capabilities]`` table, in the user's
registry file and in the bundled registry, so one checker serves all three and every error
names the exact key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from coderouter.types import Capabilities

__all__ = ["FIELDS", "SUITABILITY", "capabilities_of", "check_values"]

BOOL_FIELDS = ("tools", "vision", "thinking", "cache_control", "forced_tool_choice")
INT_FIELDS = ("max_context_tokens", "max_output_tokens")
STRING_FIELDS = ("reasoning_field", "thinking_switch")
FIELDS = (*BOOL_FIELDS, *INT_FIELDS, *STRING_FIELDS, "agent_suitability")
SUITABILITY = ("ok", "degraded")


def _problem(key: str, value: Any) -> str | None:
    if key in BOOL_FIELDS:
        if not isinstance(value, bool):
            return f"expected true or false, got {value!r}"
    elif key in INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"expected a positive whole number of tokens, got {value!r}"
    elif key == "reasoning_field":
        if not isinstance(value, str) or not value:
            return f"expected the name of a response field, got {value!r}"
    elif key == "thinking_switch":
        if not isinstance(value, str) or not value:
            return f"expected the name of a chat_template_kwargs switch, got {value!r}"
    elif key == "agent_suitability" and value not in SUITABILITY:
        return f"unknown value {value!r} (valid: {', '.join(SUITABILITY)})"
    return None


def check_values(
    table: Mapping[str, Any], where: str, other_keys: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The valid flags of ``table`` and one error line per bad key (``<where>.<key>: ...``).

    ``other_keys`` are keys the caller handles itself (a registry rule's ``kind`` and
    ``model``); they are neither flags nor errors.
    """
    extra = tuple(other_keys)
    values: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in table.items():
        if key in extra:
            continue
        if key not in FIELDS:
            valid = ", ".join((*extra, *FIELDS))
            errors.append(f"{where}.{key}: unknown key (valid keys: {valid})")
            continue
        problem = _problem(key, value)
        if problem is None:
            values[key] = value
        else:
            errors.append(f"{where}.{key}: {problem}")
    return values, errors


def capabilities_of(values: Mapping[str, Any], sources: Mapping[str, str]) -> Capabilities:
    return Capabilities(**dict(values), sources=dict(sources))
