"""Settings of ``[plugins.adaptive]`` (and ``[profiles.<p>.plugins.adaptive]``)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["AdaptiveConfig"]


def _positive(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _not_negative(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


def _factor(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _rate(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value}")


def _at_least_one(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class AdaptiveConfig:
    """Over the last ``window_s`` seconds, a provider with at least ``min_samples`` outcomes
    whose median latency is over ``latency_factor`` times its chain peers' median, or whose
    error rate is over ``max_error_rate``, moves back one place. Its standing changes at most
    once every ``min_move_interval_s``."""

    window_s: float = attrs.field(default=60.0, validator=_positive)
    latency_factor: float = attrs.field(default=1.5, validator=_factor)
    max_error_rate: float = attrs.field(default=0.10, validator=_rate)
    min_samples: int = attrs.field(default=5, validator=_at_least_one)
    min_move_interval_s: float = attrs.field(default=30.0, validator=_not_negative)
