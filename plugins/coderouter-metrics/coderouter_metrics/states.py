"""Reading provider health, cooldowns and numbers out of plugins' ``describe_state`` answers.

Plugins describe their state freely, so this looks for the shapes such state takes: a table
keyed by provider name whose entries carry a ``state``/``status``/``health`` string and
``cooldown`` numbers, and numeric leaves anywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = ["ProviderState", "numeric_leaves", "provider_states"]

STATE_KEYS = ("state", "status", "health", "circuit")
# Seconds until a provider is tried again, under the names plugins give them.
WAIT_KEYS = ("next_trial_in_s", "retry_in_s", "retry_after_s")
MAX_DEPTH = 5


@attrs.define(slots=True)
class ProviderState:
    plugin: str
    provider: str
    state: str | None = None
    cooldown_s: float | None = None
    values: dict[str, float] = attrs.Factory(dict)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _is_cooldown_key(key: str) -> bool:
    lowered = key.lower()
    if lowered in WAIT_KEYS:
        return True
    # "cooldown_until"/"cooldown_at" are clock readings, not durations.
    return "cooldown" in lowered and not lowered.endswith(("_until", "_at", "until", "_ts"))


def _provider_tables(
    state: Any, providers: set[str], depth: int = 0
) -> Iterator[Mapping[str, Any]]:
    if not isinstance(state, Mapping) or depth > MAX_DEPTH:
        return
    keys = [k for k in state if isinstance(k, str)]
    if keys and all(k in providers for k in keys):
        yield state
        return
    for value in state.values():
        yield from _provider_tables(value, providers, depth + 1)


def _read_entry(plugin: str, provider: str, entry: Any) -> ProviderState:
    found = ProviderState(plugin, provider)
    if isinstance(entry, str):
        found.state = entry
        return found
    if not isinstance(entry, Mapping):
        number = _number(entry)
        if number is not None:
            found.values["value"] = number
        return found
    for key, value in entry.items():
        key = str(key)
        if key.lower() in STATE_KEYS and isinstance(value, str) and found.state is None:
            found.state = value
            continue
        number = _number(value)
        if number is None:
            continue
        if _is_cooldown_key(key) and not isinstance(value, bool):
            found.cooldown_s = max(found.cooldown_s or 0.0, number)
        found.values[key] = number
    return found


def provider_states(
    states: Mapping[str, Any], providers: set[str], *, skip: str = ""
) -> list[ProviderState]:
    """Every (plugin, provider) entry found in ``states`` (``plugin_states(pm)``)."""
    out: list[ProviderState] = []
    for plugin, state in states.items():
        if plugin == skip:
            continue
        for table in _provider_tables(state, providers):
            for provider, entry in table.items():
                out.append(_read_entry(plugin, provider, entry))
    return out


def numeric_leaves(
    state: Any, *, limit: int = 100, prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, float]]:
    """``(dotted.key.path, number)`` for every number or bool in ``state``, at most
    ``limit`` of them."""
    if depth > MAX_DEPTH or limit <= 0:
        return
    if isinstance(state, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in state.items()]
    elif isinstance(state, list | tuple):
        items = [(str(i), v) for i, v in enumerate(state[:20])]
    else:
        return
    produced = 0
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else key
        number = _number(value)
        if number is not None:
            yield path, number
            produced += 1
        else:
            for leaf in numeric_leaves(value, limit=limit - produced, prefix=path, depth=depth + 1):
                yield leaf
                produced += 1
        if produced >= limit:
            return
