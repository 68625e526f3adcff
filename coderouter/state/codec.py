"""Records as JSON text for a shared store, with clock readings carried as wall time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs

from coderouter.state.records import CLOCK

__all__ = ["decode", "encode"]

R = TypeVar("R")


def encode(record: Any, to_wall: Callable[[float], float]) -> dict[str, Any]:
    """The record's fields as plain JSON values; clock readings become wall time."""
    out: dict[str, Any] = {}
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        if field.metadata.get(CLOCK) and value is not None:
            value = to_wall(value)
        out[field.name] = value
    return out


def decode(data: Any, new: Callable[[], R], to_local: Callable[[float], float]) -> R:
    """A record built by ``new`` with the known fields of ``data`` set (a field another
    version wrote and this one does not know is left out)."""
    record: Any = new()
    if not isinstance(data, dict):
        return cast(R, record)
    for field in attrs.fields(type(record)):
        if field.name not in data:
            continue
        value = data[field.name]
        if field.metadata.get(CLOCK) and isinstance(value, (int, float)):
            value = to_local(float(value))
        setattr(record, field.name, value)
    return cast(R, record)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
