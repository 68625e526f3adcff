"""Settings of ``[plugins.output_filters]``, its per-provider tables and per-profile overrides."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from coderouter.config import Config as HostConfig
from coderouter.config import ConfigError, ProviderConfig
from coderouter_output_filters.text import DEFAULT_STOP_MARKERS, Patterns, compile_patterns

__all__ = [
    "FilterSettings",
    "OutputFiltersConfig",
    "ProviderFilters",
    "Reasoning",
    "check_providers",
    "settings_for",
]

Reasoning = Literal["strip", "thinking", "pass"]


def _markers_valid(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        compile_patterns(strip_thinking=False, stop_markers=value)


@attrs.frozen
class ProviderFilters:
    """``[plugins.output_filters.providers.<name>]``: any key left out keeps the plugin-wide
    value. A table here applies the filters to that provider whatever its ``kind``;
    ``enabled = false`` turns them off for it."""

    enabled: bool | None = None
    strip_thinking: bool | None = None
    strip_stop_markers: bool | None = None
    reasoning: Reasoning | None = None
    stop_markers: list[str] | None = attrs.field(default=None, validator=_markers_valid)


@attrs.frozen
class OutputFiltersConfig:
    """``[plugins.output_filters]``: the defaults for every ``kind = "openai"`` provider."""

    strip_thinking: bool = True
    strip_stop_markers: bool = True
    reasoning: Reasoning = "strip"
    stop_markers: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_STOP_MARKERS), validator=_markers_valid
    )
    providers: dict[str, ProviderFilters] = attrs.Factory(dict)


@attrs.frozen
class FilterSettings:
    """What runs for one provider: compiled text patterns and the reasoning mode."""

    patterns: Patterns
    reasoning: Reasoning


def settings_for(config: OutputFiltersConfig, provider: ProviderConfig) -> FilterSettings | None:
    """The filters for ``provider``, or ``None`` when none apply."""
    override = config.providers.get(provider.name)
    if override is None:
        if provider.kind != "openai":
            return None
        override = ProviderFilters()
    if override.enabled is False:
        return None

    def pick(name: str) -> Any:
        value = getattr(override, name)
        return getattr(config, name) if value is None else value

    markers: list[str] = pick("stop_markers") if pick("strip_stop_markers") else []
    patterns = compile_patterns(strip_thinking=pick("strip_thinking"), stop_markers=markers)
    reasoning: Reasoning = pick("reasoning")
    if patterns.empty and reasoning == "pass":
        return None
    return FilterSettings(patterns, reasoning)


def check_providers(configs: dict[str, OutputFiltersConfig], host: HostConfig) -> None:
    """Every ``providers.<name>`` table must name a configured provider.

    ``configs`` maps a key path prefix (``plugins.output_filters``,
    ``profiles.<p>.plugins.output_filters``) to the settings found there.
    """
    known = host.provider_names
    errors = [
        f"config error in {host.source}: {prefix}.providers.{name}: unknown provider "
        f"{name!r} (known: {', '.join(known) or 'none configured'})"
        for prefix, config in configs.items()
        for name in config.providers
        if name not in known
    ]
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(errors)))
