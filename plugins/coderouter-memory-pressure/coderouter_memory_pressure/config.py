"""Settings of ``[plugins.memory_pressure]`` (and
``[profiles.<p>.plugins.memory_pressure]``)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Action", "MemoryPressureConfig"]

Action = Literal["off", "warn", "skip"]


def _positive(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class MemoryPressureConfig:
    """``action``: ``off`` ignores out-of-memory failures, ``warn`` logs them, ``skip`` also
    keeps the provider out of chains for ``cooldown_s`` after its latest one."""

    action: Action = "warn"
    cooldown_s: float = attrs.field(default=120.0, validator=_positive)
