"""The ``output_filters`` plugin: picks each provider's filters and hands out transforms."""

from __future__ import annotations

from collections import Counter
from typing import Any

from coderouter import Plugin, hookimpl
from coderouter.config import Config as HostConfig
from coderouter.config import ProviderConfig
from coderouter.types import Attempt, RequestView
from coderouter.wire.model import Event
from coderouter_output_filters.config import (
    FilterSettings,
    OutputFiltersConfig,
    check_providers,
    settings_for,
)
from coderouter_output_filters.transform import OutputFilterTransform

__all__ = ["OutputFiltersPlugin", "client_wants_thinking"]

LOG_KEY = "output_filters"


def client_wants_thinking(request: RequestView) -> bool:
    """True when the client's request turned thinking on."""
    thinking = request.conversation().thinking
    return thinking is not None and thinking.get("type") != "disabled"


class _Reporting(OutputFilterTransform):
    """Adds what this attempt removed to the request log line and the plugin's totals."""

    __slots__ = ("_attempt", "_totals")

    def __init__(
        self,
        settings: FilterSettings,
        *,
        drop_reasoning: bool,
        attempt: Attempt,
        totals: Counter[str],
    ) -> None:
        super().__init__(settings.patterns, drop_reasoning=drop_reasoning)
        self._attempt = attempt
        self._totals = totals

    def flush(self) -> list[Event]:
        events = super().flush()
        removed = {k: v for k, v in self.counts.items() if v}
        if removed:
            self._attempt.log_fields[LOG_KEY] = removed
            self._totals.update(removed)
            self._totals["responses_filtered"] += 1
        return events


class OutputFiltersPlugin(Plugin):
    """Strips leaked ``<think>`` blocks, chat-template markers and reasoning fields."""

    Config = OutputFiltersConfig

    def __init__(
        self,
        config: OutputFiltersConfig | None = None,
        profile_configs: dict[str, OutputFiltersConfig] | None = None,
    ) -> None:
        super().__init__(config or OutputFiltersConfig(), profile_configs)
        self._settings: dict[tuple[str, str], FilterSettings | None] = {}
        self.totals: Counter[str] = Counter()

    def settings(self, profile: str, provider: ProviderConfig) -> FilterSettings | None:
        """The filters for ``provider`` in ``profile`` (computed once, then cached)."""
        key = (profile if profile in self.profile_configs else "", provider.name)
        try:
            return self._settings[key]
        except KeyError:
            found = self._settings[key] = settings_for(self.config_for(profile), provider)
            return found

    @hookimpl
    def check_config(self, config: HostConfig) -> None:
        configs = {"plugins.output_filters": self.config}
        for name, settings in self.profile_configs.items():
            configs[f"profiles.{name}.plugins.output_filters"] = settings
        check_providers(configs, config)

    @hookimpl
    def stream_transforms(self, attempt: Attempt) -> OutputFilterTransform | None:
        settings = self.settings(attempt.profile, attempt.provider)
        if settings is None:
            return None
        if settings.reasoning == "thinking":
            drop = not client_wants_thinking(attempt.request)
        else:
            drop = settings.reasoning == "strip"
        if settings.patterns.empty and not drop:
            return None
        return _Reporting(settings, drop_reasoning=drop, attempt=attempt, totals=self.totals)

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {"removed": dict(self.totals)}
