"""The ``memory_pressure`` plugin: out-of-memory failures rest a provider for a while."""

from __future__ import annotations

from typing import Any

import attrs

from coderouter import hookimpl
from coderouter.guards import GuardPlugin, ProviderRecords, clock_field, remaining_s
from coderouter.types import Attempt, Chain, RequestView, Skip, UpstreamError
from coderouter_memory_pressure.config import MemoryPressureConfig
from coderouter_memory_pressure.phrases import find_oom

__all__ = ["MemoryPressurePlugin", "Pressure"]

NAME = "memory_pressure"


@attrs.define
class Pressure:
    """Out-of-memory failures one worker has seen from one provider."""

    count: int = 0
    last_at: float | None = clock_field()
    phrase: str = ""
    error: str = ""

    def remaining(self, now: float, cooldown_s: float) -> float:
        return remaining_s(self.last_at, cooldown_s, now)


class MemoryPressurePlugin(GuardPlugin[Pressure]):
    """Recognises out-of-memory answers (``CUDA out of memory``, ``model requires more system
    memory``, ...) and logs them, or skips the provider for ``cooldown_s``."""

    name = NAME
    Config = MemoryPressureConfig
    Record = Pressure

    @property
    def pressure(self) -> ProviderRecords[Pressure]:
        """The records, under this plugin's own word for them."""
        return self.records

    # --- observing -----------------------------------------------------------------------------

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        config: MemoryPressureConfig = self.config_for(attempt.profile)
        if config.action == "off":
            return
        phrase = find_oom(error.message, error.body)
        if phrase is None:
            return
        pressure = self.records.record(attempt.provider.name)
        pressure.count += 1
        pressure.last_at = self.clock()
        pressure.phrase = phrase
        pressure.error = " ".join(str(error).split())[:200]
        self.records.save(attempt.provider.name, pressure)
        fields: dict[str, Any] = {"action": config.action, "phrase": phrase}
        fields["error"] = pressure.error
        if config.action == "skip":
            fields["cooldown_s"] = config.cooldown_s
        self.guard_event(attempt.provider.name, attempt.profile, request=attempt.request, **fields)

    # --- the chain -----------------------------------------------------------------------------

    def _resting(self, provider: str, config: MemoryPressureConfig) -> str:
        """Why ``provider`` is resting now, or ``""``."""
        pressure = self.records.get(provider)
        if config.action != "skip" or pressure is None:
            return ""
        remaining = pressure.remaining(self.clock(), config.cooldown_s)
        if remaining <= 0:
            return ""
        return (
            f'out of memory ("{pressure.phrase}"); resting for another '
            f"{remaining:.0f}s of {config.cooldown_s:g}s"
        )

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        config: MemoryPressureConfig = self.config_for(chain.profile)
        for provider in list(chain.providers):
            reason = self._resting(provider.name, config)
            if reason:
                chain.skip(provider.name, reason, by=NAME)

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | None:
        # Requests whose chain was built before the failure arrived are stopped here.
        reason = self._resting(attempt.provider.name, self.config_for(attempt.profile))
        return Skip(reason) if reason else None

    # --- state ---------------------------------------------------------------------------------

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        config: MemoryPressureConfig = self.config
        now = self.clock()
        providers: dict[str, Any] = {}
        for name in self.records:
            pressure = self.records.record(name)
            entry: dict[str, Any] = {
                "ooms": pressure.count,
                "last_phrase": pressure.phrase,
                "last_error": pressure.error,
                "last_oom_s_ago": None
                if pressure.last_at is None
                else round(now - pressure.last_at, 1),
            }
            if config.action == "skip":
                entry["cooldown_remaining_s"] = round(pressure.remaining(now, config.cooldown_s), 1)
            providers[name] = entry
        return {
            "scope": self.records.scope,
            "action": config.action,
            "cooldown_s": config.cooldown_s,
            "providers": providers,
        }
