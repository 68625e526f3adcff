"""Per-provider records as guards keep them: the :class:`ProviderRecords` interface, the
in-memory :class:`MemoryRecords`, and the marker for fields that hold a clock reading.

A guard reads a record, changes it, and calls :meth:`ProviderRecords.save`, which a shared
store needs (it writes the record through) and the in-memory one ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import attrs

__all__ = ["CLOCK", "CooldownRecord", "MemoryRecords", "ProviderRecords", "clock_field"]

R = TypeVar("R")

CLOCK = "coderouter.clock"
"""attrs metadata key: the field holds a reading of the app's clock (or ``None``)."""


def clock_field() -> Any:
    """An optional clock reading in a record. A shared store carries it between hosts as wall
    time, since each host's monotonic clock starts somewhere else."""
    return attrs.field(default=None, metadata={CLOCK: True})


class ProviderRecords(Protocol[R]):
    """Where a guard keeps one record per provider."""

    @property
    def scope(self) -> str:
        """Said in ``describe_state``: how far the records are shared."""
        ...

    def get(self, provider: str) -> R | None: ...

    def record(self, provider: str) -> R:
        """The provider's record, created empty when there is none yet."""
        ...

    def save(self, provider: str, record: R) -> None: ...

    def forget(self, provider: str) -> None:
        """Drop the provider's record (a shared store drops it everywhere)."""
        ...

    def __iter__(self) -> Iterator[str]: ...


class MemoryRecords(dict[str, R]):
    """Records in this worker's memory, by provider name."""

    scope = "per worker process, in memory"

    def __init__(self, new: Callable[[], R]) -> None:
        super().__init__()
        self.new = new

    def record(self, provider: str) -> R:
        found = self.get(provider)
        if found is None:
            found = self[provider] = self.new()
        return found

    def save(self, provider: str, record: R) -> None:
        self[provider] = record

    def forget(self, provider: str) -> None:
        self.pop(provider, None)


@attrs.define
class CooldownRecord:
    """The end of a provider's 429 cooldown (the core's ``Cooldowns`` keep these)."""

    until: float | None = clock_field()
