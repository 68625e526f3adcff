"""The chain a request starts from: the profile's providers, less the paid ones unless paid use
is allowed, less the ones cooling down after a rate limit. The router applies these steps; the
core plugin offers the first as the default ``resolve_chain``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import attrs

from coderouter.config import Config
from coderouter.types import Chain, UpstreamError

__all__ = ["CooldownRecords", "Cooldowns", "apply_paid_gate", "default_chain"]


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


class CooldownRecord(Protocol):
    until: float | None


class CooldownRecords(Protocol):
    """Where :class:`Cooldowns` keeps each provider's end of cooldown: this worker's memory, or
    records of the app's state store (``coderouter.state``), which sit above this layer."""

    def get(self, provider: str) -> Any: ...

    def record(self, provider: str) -> Any: ...

    def save(self, provider: str, record: Any) -> None: ...

    def __iter__(self) -> Iterator[str]: ...


@attrs.define
class _Until:
    until: float | None = None


class _LocalCooldowns(dict[str, _Until]):
    def record(self, provider: str) -> _Until:
        return self.setdefault(provider, _Until())

    def save(self, provider: str, record: Any) -> None:
        self[provider] = record


class Cooldowns:
    """Providers that answered 429 with a time to wait (``retry-after`` or a
    ``x-ratelimit-reset-*`` header) leave every chain until that time, so the next turn does
    not hit them again. Kept in :attr:`records`: this worker's memory unless the app gives
    records of its state store (with ``[state] backend = "redis"``, a 429 through one host
    cools the provider on every host)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.records: CooldownRecords = _LocalCooldowns()

    def note(self, provider: str, err: UpstreamError) -> None:
        if err.status == 429 and err.retry_after_s:
            until = self.clock() + err.retry_after_s
            record: CooldownRecord = self.records.record(provider)
            if record.until is None or until > record.until:
                record.until = until
                self.records.save(provider, record)

    def remaining_s(self, provider: str) -> float:
        record: CooldownRecord | None = self.records.get(provider)
        if record is None or record.until is None:
            return 0.0
        return max(0.0, record.until - self.clock())

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
        left = {name: self.remaining_s(name) for name in list(self.records)}
        return {name: {"remaining_s": round(s, 1)} for name, s in left.items() if s > 0}
