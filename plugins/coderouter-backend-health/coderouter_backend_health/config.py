"""Settings of ``[plugins.backend_health]`` (and ``[profiles.<p>.plugins.backend_health]``)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Action", "BackendHealthConfig"]

Action = Literal["warn", "demote", "skip"]


def _at_least_one(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _positive(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class BackendHealthConfig:
    """A provider is degraded after ``threshold`` consecutive failures and unhealthy after
    twice that. ``action`` decides what an unhealthy provider costs it: nothing but a log line
    (``warn``), its place in the chain (``demote``), or its traffic until a trial request after
    ``half_open_s`` succeeds (``skip``)."""

    action: Action = "warn"
    threshold: int = attrs.field(default=3, validator=_at_least_one)
    half_open_s: float = attrs.field(default=30.0, validator=_positive)
