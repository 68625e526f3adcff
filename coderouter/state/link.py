"""What the Redis store offers the parts built on it (:mod:`coderouter.state.claims`,
:mod:`coderouter.state.feed`), so they need not import the store that imports them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio

__all__ = ["RedisLink"]


class RedisLink(Protocol):
    clock: Callable[[], float]
    prefix: str
    writer: str
    where: str
    errors: tuple[type[BaseException], ...]

    @property
    def client(self) -> redis.asyncio.Redis | None: ...

    @property
    def outage(self) -> dict[str, Any] | None: ...

    def down(self, exc: BaseException) -> None:
        """Note an outage (logged once)."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in the background, kept until it ends."""
        ...

    def wake(self) -> None:
        """Have the writer send what is pending."""
        ...

    def changed(self, namespace: str, provider: str, record: Any) -> None:
        """Queue a record to be written through (``None``: removed)."""
        ...

    def to_wall(self, reading: float) -> float: ...

    def to_local(self, wall_time: float) -> float: ...
