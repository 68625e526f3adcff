"""The shared skeleton of plugins that guard providers: a record per provider, kept in a store,
and the structured ``guard`` events they log.

A guard keeps what it has seen of each provider (failures, a cooldown, a circuit) in a
:class:`ProviderRecords` store. :class:`MemoryRecords` keeps them per worker process; a store
shared between workers implements the same four methods, so a guard never changes to use it.
A guard reads a record, changes it, and calls :meth:`ProviderRecords.save`, which a shared
store needs and the in-memory one ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from coderouter.plugins import AttachedPlugin

if TYPE_CHECKING:
    from coderouter.types import RequestView

__all__ = ["GuardPlugin", "MemoryRecords", "ProviderRecords", "remaining_s"]

R = TypeVar("R")


class ProviderRecords(Protocol[R]):
    """Where a guard keeps one record per provider."""

    scope: str
    """Said in ``describe_state``: how far the records are shared."""

    def get(self, provider: str) -> R | None: ...

    def record(self, provider: str) -> R:
        """The provider's record, created empty when there is none yet."""
        ...

    def save(self, provider: str, record: R) -> None: ...

    def __iter__(self) -> Iterator[str]: ...


class MemoryRecords(dict[str, R]):
    """Records in this worker's memory, by provider name."""

    scope = "per worker process, in memory"

    def __init__(self, new: Callable[[], R]) -> None:
        super().__init__()
        self._new = new

    def record(self, provider: str) -> R:
        found = self.get(provider)
        if found is None:
            found = self[provider] = self._new()
        return found

    def save(self, provider: str, record: R) -> None:
        self[provider] = record


def remaining_s(since: float | None, length_s: float, now: float) -> float:
    """What is left of a cooldown of ``length_s`` that started at ``since`` (0 when none)."""
    if since is None:
        return 0.0
    return max(0.0, since + length_s - now)


class GuardPlugin(AttachedPlugin, Generic[R]):
    """A plugin with one record per provider: subclasses set ``name``, ``Config`` and
    ``Record`` (a class whose no-argument instance is an empty record)."""

    Record: Callable[[], R]

    def __init__(
        self,
        config: Any = None,
        profile_configs: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        records: ProviderRecords[R] | None = None,
    ) -> None:
        super().__init__(config, profile_configs, clock=clock)
        self.records: ProviderRecords[R] = (
            records if records is not None else MemoryRecords(type(self).Record)
        )

    def guard_event(
        self, provider: str, profile: str, *, request: RequestView | None = None, **fields: Any
    ) -> None:
        """Log a ``guard`` event about ``provider``; with ``request``, the one that caused it
        (its ``request_id``)."""
        record = {"event": "guard", "plugin": self.name, "provider": provider}
        self.emit({**record, **fields, "profile": profile}, request=request)
