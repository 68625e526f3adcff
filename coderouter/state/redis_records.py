"""One namespace's records through Redis: hooks read the worker's in-memory view; saves and
removals are queued for the store's writer (see :mod:`coderouter.state.redis_store`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from coderouter.state.codec import decode
from coderouter.state.records import MemoryRecords

if TYPE_CHECKING:
    from coderouter.state.link import RedisLink

__all__ = ["RedisRecords"]

R = TypeVar("R")


class RedisRecords(Generic[R]):
    """One namespace's records: reads from the worker's view, saves written through."""

    def __init__(self, store: RedisLink, namespace: str, view: MemoryRecords[R]) -> None:
        self.store = store
        self.namespace = namespace
        self.view = view

    @property
    def scope(self) -> str:
        if self.store.outage is not None:
            return "per worker process, in memory (Redis unreachable; shared again when it is back)"
        return f"shared through Redis ({self.store.where})"

    def get(self, provider: str) -> R | None:
        return self.view.get(provider)

    def record(self, provider: str) -> R:
        return self.view.record(provider)

    def save(self, provider: str, record: R) -> None:
        self.view.save(provider, record)
        self.store.changed(self.namespace, provider, record)

    def forget(self, provider: str) -> None:
        self.view.forget(provider)
        self.store.changed(self.namespace, provider, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.view))

    def apply(self, provider: str, data: Any) -> None:
        """Lay a record another worker wrote over the view (``None``: it was forgotten)."""
        if data is None:
            self.view.forget(provider)
            return
        self.view[provider] = decode(data, self.view.new, self.store.to_local)
