"""Feeds: small items one worker observes and every other worker adds to its own state (the
latency samples of the ``adaptive`` plugin, for instance).

A record is whole and its last writer wins it; a feed is for what adds up instead: each worker
publishes what it saw, and the others receive it. Publishing never waits: through Redis, items
wait in a bounded queue (past :attr:`RedisFeed.max_pending` the oldest are dropped and counted)
and the store's writer sends them in its next batch, one ``PUBLISH`` per namespace. Each item
carries the clock reading it was seen at, as wall time between hosts. A worker that starts or
reconnects receives what is published from then on: a feed has no history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from coderouter.state.link import RedisLink

__all__ = ["Feed", "LocalFeed", "Receiver", "RedisFeed"]

Receiver = Callable[[dict[str, Any], float], None]
"""Called with an item another worker published and its clock reading, as this worker's."""


class Feed(Protocol):
    @property
    def scope(self) -> str: ...

    def publish(self, item: dict[str, Any], at: float) -> None:
        """Send ``item`` (JSON values), seen at clock reading ``at``, to the other workers."""
        ...


class LocalFeed:
    """No other worker to tell: what a worker sees stays its own."""

    scope = "per worker process, in memory"

    def publish(self, item: dict[str, Any], at: float) -> None:
        return None


class RedisFeed:
    """One namespace's feed through the store's Redis channel."""

    max_pending = 4096

    def __init__(self, store: RedisLink, namespace: str, receive: Receiver) -> None:
        self.store = store
        self.namespace = namespace
        self.receive = receive
        self.pending: deque[list[Any]] = deque()
        self.dropped = 0
        self.received = 0

    @property
    def scope(self) -> str:
        if self.store.outage is not None:
            return "per worker process, in memory (Redis unreachable; shared again when it is back)"
        return f"shared through Redis ({self.store.where})"

    def publish(self, item: dict[str, Any], at: float) -> None:
        self.pending.append([round(self.store.to_wall(at), 4), item])
        while len(self.pending) > self.max_pending:
            self.pending.popleft()
            self.dropped += 1
        self.store.wake()

    def take(self) -> list[list[Any]]:
        batch = list(self.pending)
        self.pending.clear()
        return batch

    def give_back(self, batch: list[list[Any]]) -> None:
        """A batch that could not be sent goes back in front of what came since."""
        self.pending.extendleft(reversed(batch))
        while len(self.pending) > self.max_pending:
            self.pending.popleft()
            self.dropped += 1

    def deliver(self, items: Any) -> None:
        if not isinstance(items, list):
            return
        for entry in items:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
                continue
            wall, item = entry
            if not isinstance(wall, (int, float)):
                continue
            self.received += 1
            self.receive(item, self.store.to_local(float(wall)))

    def describe(self) -> dict[str, Any]:
        return {"pending": len(self.pending), "dropped": self.dropped, "received": self.received}
