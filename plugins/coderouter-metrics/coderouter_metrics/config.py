"""``[plugins.metrics]`` settings."""

from __future__ import annotations

import itertools

import attrs

__all__ = ["DEFAULT_LATENCY_BUCKETS_S", "DEFAULT_OVERHEAD_BUCKETS_S", "MetricsConfig"]

DEFAULT_LATENCY_BUCKETS_S = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
]
DEFAULT_OVERHEAD_BUCKETS_S = [
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    5.0,
]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name}: must be positive, got {value}")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name}: must be at least 1, got {value}")


def _not_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative, got {value}")


def _buckets(instance: object, attribute: attrs.Attribute[list[float]], value: list[float]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: needs at least one bucket bound")
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise ValueError(
            f"{attribute.name}: bucket bounds must be strictly increasing, got {value}"
        )


@attrs.frozen
class MetricsConfig:
    """Settings of the metrics plugin (see the README for each key)."""

    metrics_dir: str = ""
    snapshot_interval_s: float = attrs.field(default=0.5, validator=_positive)
    state_refresh_s: float = attrs.field(default=5.0, validator=_positive)
    recent_events: int = attrs.field(default=200, validator=_at_least_one)
    max_label_values: int = attrs.field(default=50, validator=_at_least_one)
    cost_field: str = "cost_usd"
    savings_field: str = "cache_savings_usd"
    latency_buckets_s: list[float] = attrs.field(
        factory=lambda: list(DEFAULT_LATENCY_BUCKETS_S), validator=_buckets
    )
    overhead_buckets_s: list[float] = attrs.field(
        factory=lambda: list(DEFAULT_OVERHEAD_BUCKETS_S), validator=_buckets
    )
    event_log_file: str = ""
    event_log_max_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=_not_negative)
    event_log_backups: int = attrs.field(default=5, validator=_not_negative)
