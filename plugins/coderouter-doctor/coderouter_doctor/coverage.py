"""Whether the router's repair and filter plugins already cover a provider, and the patches
that make them (or a capability flag) do so.

Plugin-wide settings decide (``[plugins.<name>]``); per-profile overrides are not looked at.
"""

from __future__ import annotations

from typing import Any

from coderouter_output_filters import OutputFiltersConfig, TextFilter
from coderouter_output_filters.config import FilterSettings, settings_for
from coderouter_tool_repair import ToolRepairConfig

from coderouter.config import Config, ProviderConfig, structure
from coderouter_doctor.patch import Append, Enable, Op, Patch, Set

__all__ = [
    "capability_patch",
    "filtered_text",
    "output_filters_patch",
    "output_filters_settings",
    "tool_repair_covers",
    "tool_repair_patch",
]

OUTPUT_FILTERS = "output_filters"
TOOL_REPAIR = "tool_repair"


def _settings(config: Config, name: str, cls: type[Any]) -> Any:
    raw = config.plugins.settings.get(name, {})
    return structure(raw, cls, source=config.source, prefix=f"plugins.{name}")


def capability_patch(provider: ProviderConfig, **flags: Any) -> Patch:
    """``providers[<name>].capabilities.<flag> = value`` for each flag."""
    return Patch(
        tuple(Set(("providers", provider.name, "capabilities", k), v) for k, v in flags.items())
    )


# --- tool_repair -------------------------------------------------------------------------------


def tool_repair_covers(config: Config, provider: ProviderConfig) -> bool:
    if TOOL_REPAIR not in config.plugins.enabled:
        return False
    settings: ToolRepairConfig = _settings(config, TOOL_REPAIR, ToolRepairConfig)
    if settings.enabled_providers is None:
        return provider.kind == "openai"
    return provider.name in settings.enabled_providers


def tool_repair_patch(config: Config, provider: ProviderConfig) -> Patch:
    """Enable ``tool_repair`` for this provider only (or add it to the providers it serves)."""
    path = ("plugins", TOOL_REPAIR, "enabled_providers")
    if TOOL_REPAIR not in config.plugins.enabled:
        return Patch((Enable(TOOL_REPAIR), Append(path, provider.name)))
    settings: ToolRepairConfig = _settings(config, TOOL_REPAIR, ToolRepairConfig)
    if settings.enabled_providers is None:
        # Unset means every openai-kind provider: keep serving those when naming this one.
        served = [p.name for p in config.providers if p.kind == "openai"]
        return Patch((Set(path, [*served, provider.name]),))
    return Patch((Append(path, provider.name),))


# --- output_filters ----------------------------------------------------------------------------


def output_filters_settings(config: Config, provider: ProviderConfig) -> FilterSettings | None:
    """The filters the router runs on this provider's answers (``None``: none)."""
    if OUTPUT_FILTERS not in config.plugins.enabled:
        return None
    return settings_for(_settings(config, OUTPUT_FILTERS, OutputFiltersConfig), provider)


def filtered_text(config: Config, provider: ProviderConfig, text: str) -> str:
    """``text`` as the router's output filters leave it for this provider."""
    settings = output_filters_settings(config, provider)
    if settings is None or settings.patterns.empty:
        return text
    flt = TextFilter(settings.patterns)
    return str(flt.feed(text) + flt.finish())


def output_filters_patch(
    config: Config, provider: ProviderConfig, *, think: bool, markers: list[str], reasoning: bool
) -> Patch:
    """What makes ``output_filters`` remove think blocks, ``markers`` and reasoning fields from
    this provider's answers."""
    here = ("plugins", OUTPUT_FILTERS, "providers", provider.name)
    ops: list[Op] = []
    if OUTPUT_FILTERS not in config.plugins.enabled:
        ops.append(Enable(OUTPUT_FILTERS, before=(TOOL_REPAIR,)))
        if provider.kind != "openai":
            ops.append(Set((*here, "enabled"), True))
        settings = _settings(config, OUTPUT_FILTERS, OutputFiltersConfig)
    else:
        settings = _settings(config, OUTPUT_FILTERS, OutputFiltersConfig)
        if settings_for(settings, provider) is None:
            ops.append(Set((*here, "enabled"), True))
    override = settings.providers.get(provider.name)

    def value(key: str) -> Any:
        own = getattr(override, key, None) if override is not None else None
        return getattr(settings, key) if own is None else own

    if think and not value("strip_thinking"):
        ops.append(Set((*here, "strip_thinking"), True))
    if markers and not value("strip_stop_markers"):
        ops.append(Set((*here, "strip_stop_markers"), True))
    missing = [m for m in markers if m not in value("stop_markers")]
    if missing:
        ops.append(Set((*here, "stop_markers"), [*value("stop_markers"), *missing]))
    if reasoning and value("reasoning") == "pass":
        ops.append(Set((*here, "reasoning"), "strip"))
    return Patch(tuple(ops))
