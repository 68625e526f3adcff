"""The chain a request starts from: the profile's providers, less the paid ones unless paid use
is allowed, less the ones cooling down after a rate limit. The router applies these steps; the
core plugin offers the first as the default ``resolve_chain``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from coderouter.config import Config
from coderouter.types import Chain, UpstreamError

__all__ = ["Cooldowns", "apply_paid_gate", "default_chain"]


def default_chain(config: Config, profile: str) -> Chain:
    return Chain(profile=profile, providers=config.profile_chain(profile))


def apply_paid_gate(config: Config, chain: Chain) -> None:
    """Paid providers leave the chain unless paid use is allowed (router, profile or
    ``CODEROUTER_ALLOW_PAID=1``)."""
    if config.paid_allowed(chain.profile):
        return
    for provider in list(chain.providers):
        if provider.paid:
            chain.skip(provider.name, "paid provider; allow_paid is off", by="core")


class Cooldowns:
    """Providers that answered 429 with a time to wait (``retry-after`` or a
    ``x-ratelimit-reset-*`` header) leave every chain until that time, so the next turn does
    not hit them again. Kept per worker, in memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}

    def note(self, provider: str, err: UpstreamError) -> None:
        if err.status == 429 and err.retry_after_s:
            until = self.clock() + err.retry_after_s
            self._until[provider] = max(until, self._until.get(provider, 0.0))

    def remaining_s(self, provider: str) -> float:
        until = self._until.get(provider)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._until[provider]
            return 0.0
        return left

    def apply(self, chain: Chain) -> float | None:
        """Skip the providers cooling down; returns the shortest wait among them (None when
        none was skipped)."""
        waits: list[float] = []
        for provider in list(chain.providers):
            left = self.remaining_s(provider.name)
            if left > 0:
                chain.skip(
                    provider.name, f"rate limited (429), cooling down {left:.0f}s more", by="core"
                )
                waits.append(left)
        return min(waits) if waits else None

    def describe(self) -> dict[str, Any]:
        """For ``GET /-/plugins``: each provider cooling down and the seconds left."""
        left = {name: self.remaining_s(name) for name in list(self._until)}
        return {name: {"remaining_s": round(s, 1)} for name, s in left.items() if s > 0}
