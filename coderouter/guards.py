"""The shared skeleton of plugins that guard providers: a record per provider, kept in a store,
and the structured ``guard`` events they log.

A guard keeps what it has seen of each provider (failures, a cooldown, a circuit) in
:class:`ProviderRecords`. It starts with :class:`MemoryRecords` (this worker's memory); at
``startup`` it takes the records of the app's state store (``app.store``), which are the same
memory records with the embedded store, and records shared between hosts with Redis. A guard
reads a record, changes it, and calls :meth:`ProviderRecords.save`, which a shared store needs
and the in-memory one ignores. Fields holding clock readings are declared with
:func:`clock_field`, so a shared store can carry them between hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from coderouter.plugins import AttachedPlugin
from coderouter.state import MemoryRecords, ProviderRecords, clock_field

if TYPE_CHECKING:
    from coderouter.context import AppContext
    from coderouter.types import RequestView

__all__ = ["GuardPlugin", "MemoryRecords", "ProviderRecords", "clock_field", "remaining_s"]

R = TypeVar("R")


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
        self._given = records is not None
        self._local: MemoryRecords[R] = MemoryRecords(type(self).Record)
        self.records: ProviderRecords[R] = records if records is not None else self._local

    def attach(self, app: AppContext) -> None:
        """Also take the records from the app's state store (unless records were given)."""
        super().attach(app)
        if not self._given:
            self.records = app.store.records(self.name, self._local)

    def detach(self) -> None:
        super().detach()
        if not self._given:
            self.records = self._local

    def guard_event(
        self, provider: str, profile: str, *, request: RequestView | None = None, **fields: Any
    ) -> None:
        """Log a ``guard`` event about ``provider``; with ``request``, the one that caused it
        (its ``request_id``)."""
        record = {"event": "guard", "plugin": self.name, "provider": provider}
        self.emit({**record, **fields, "profile": profile}, request=request)
