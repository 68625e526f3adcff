"""Settings of ``[plugins.tool_repair]`` (and ``[profiles.<p>.plugins.tool_repair]``)."""

from __future__ import annotations

from typing import Any

import attrs

from coderouter.config import Config as HostConfig
from coderouter.config import ConfigError

__all__ = ["ToolRepairConfig", "check_providers"]

MIN_HOLD = 256


def _hold_valid(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < MIN_HOLD:
        raise ValueError(f"{attribute.name} must be at least {MIN_HOLD}, got {value}")


@attrs.frozen
class ToolRepairConfig:
    """``enabled_providers``: the providers whose answers are repaired (any kind); unset means
    every ``kind = "openai"`` provider. ``max_hold_chars``: how much text a possible call may
    hold back before it is released as text."""

    enabled_providers: list[str] | None = None
    max_hold_chars: int = attrs.field(default=16384, validator=_hold_valid)


def check_providers(configs: dict[str, ToolRepairConfig], host: HostConfig) -> None:
    """Every name in ``enabled_providers`` must be a configured provider.

    ``configs`` maps a key path prefix to the settings found there.
    """
    known = host.provider_names
    errors = [
        f"config error in {host.source}: {prefix}.enabled_providers: unknown provider "
        f"{name!r} (known: {', '.join(known) or 'none configured'})"
        for prefix, config in configs.items()
        for name in config.enabled_providers or ()
        if name not in known
    ]
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(errors)))
