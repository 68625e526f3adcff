"""The ``memory_pressure`` plugin: out-of-memory failures rest a provider for a while."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from coderouter import Plugin, hookimpl
from coderouter.types import Attempt, Chain, RequestView, Skip, UpstreamError
from coderouter_memory_pressure.config import MemoryPressureConfig
from coderouter_memory_pressure.phrases import find_oom

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["MemoryPressurePlugin", "Pressure"]

NAME = "memory_pressure"


@attrs.define
class Pressure:
    """Out-of-memory failures one worker has seen from one provider."""

    count: int = 0
    last_at: float | None = None
    phrase: str = ""
    error: str = ""

    def remaining(self, now: float, cooldown_s: float) -> float:
        if self.last_at is None:
            return 0.0
        return max(0.0, self.last_at + cooldown_s - now)


class MemoryPressurePlugin(Plugin):
    """Recognises out-of-memory answers (``CUDA out of memory``, ``model requires more system
    memory``, ...) and logs them, or skips the provider for ``cooldown_s``."""

    Config = MemoryPressureConfig

    def __init__(
        self,
        config: MemoryPressureConfig | None = None,
        profile_configs: dict[str, MemoryPressureConfig] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(config or MemoryPressureConfig(), profile_configs, clock=clock)
        self.pressure: dict[str, Pressure] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def startup(self, app: AppContext) -> None:
        self.attach(app)

    @hookimpl
    def shutdown(self, app: AppContext) -> None:
        self.detach()

    # --- observing -----------------------------------------------------------------------------

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        config: MemoryPressureConfig = self.config_for(attempt.profile)
        if config.action == "off":
            return
        phrase = find_oom(error.message, error.body)
        if phrase is None:
            return
        pressure = self.pressure.setdefault(attempt.provider.name, Pressure())
        pressure.count += 1
        pressure.last_at = self.clock()
        pressure.phrase = phrase
        pressure.error = " ".join(str(error).split())[:200]
        record: dict[str, Any] = {
            "event": "guard",
            "plugin": NAME,
            "provider": attempt.provider.name,
            "action": config.action,
            "phrase": phrase,
            "error": pressure.error,
            "profile": attempt.profile,
        }
        if config.action == "skip":
            record["cooldown_s"] = config.cooldown_s
        self.emit(record)

    # --- the chain -----------------------------------------------------------------------------

    def _resting(self, provider: str, config: MemoryPressureConfig) -> str:
        """Why ``provider`` is resting now, or ``""``."""
        pressure = self.pressure.get(provider)
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
        for name, pressure in self.pressure.items():
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
            "scope": "per worker process, in memory",
            "action": config.action,
            "cooldown_s": config.cooldown_s,
            "providers": providers,
        }
