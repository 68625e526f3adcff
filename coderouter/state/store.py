"""The state store plugins get from the app context (``app.store``).

A guard hands the store its in-memory records and gets back the records it uses from then on.
The embedded store gives the same records back: they stay in this worker. A shared store
(:mod:`coderouter.state.redis_store`) keeps those in-memory records as the view that hooks
read, so a hook never waits on the network, and writes changes through in the background.
Besides records a store offers claims (:mod:`coderouter.state.claims`: one holder of a name at
a time) and feeds (:mod:`coderouter.state.feed`: items every other worker receives).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from coderouter.state.buckets import LocalBuckets
from coderouter.state.budgets import BudgetBook
from coderouter.state.claims import Claims, MemoryClaims
from coderouter.state.feed import Feed, LocalFeed, Receiver
from coderouter.state.records import MemoryRecords, ProviderRecords

__all__ = ["EmbeddedStore", "StateStore", "worker_id"]

R = TypeVar("R")


def worker_id() -> str:
    """``host:pid:token``: unique to one worker process of one start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StateStore(Protocol):
    """Where plugins keep state that may be shared between workers and hosts."""

    @property
    def budgets(self) -> BudgetBook | None:
        """Budget reservations every host counts against, or ``None`` (the embedded store:
        each plugin keeps its budgets in its own ledger)."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other workers see this store's state (False: this worker alone)."""
        ...

    @property
    def writer(self) -> str:
        """This worker's name in the store (see :func:`worker_id`)."""
        ...

    def records(self, namespace: str, local: MemoryRecords[R]) -> ProviderRecords[R]:
        """The records of ``namespace`` (a plugin's name), with ``local`` as this worker's
        copy of them."""
        ...

    def claims(self, namespace: str) -> Claims:
        """Leases on names of ``namespace``, one holder at a time."""
        ...

    def feed(self, namespace: str, receive: Receiver) -> Feed:
        """The feed of ``namespace``: ``receive`` gets what other workers publish."""
        ...

    def describe(self) -> dict[str, Any]:
        """For ``GET /-/plugins``: the backend and whether it is reachable."""
        ...

    async def take_token(self, bucket: str, rate_per_s: float, size: int) -> float:
        """Take one token from the token bucket ``bucket`` (see
        :mod:`coderouter.state.buckets`): 0 when taken, else the seconds until one is
        there."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class EmbeddedStore:
    """State in each worker's memory (the default: one host, nothing to run beside it).
    ``clock`` is the app's clock, which token buckets refill by."""

    budgets: BudgetBook | None = None
    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.writer = worker_id()
        self.buckets = LocalBuckets(clock)

    async def take_token(self, bucket: str, rate_per_s: float, size: int) -> float:
        return self.buckets.take(bucket, rate_per_s, size)

    def records(self, namespace: str, local: MemoryRecords[R]) -> ProviderRecords[R]:
        return local

    def claims(self, namespace: str) -> Claims:
        return MemoryClaims(self.clock)

    def feed(self, namespace: str, receive: Receiver) -> Feed:
        return LocalFeed()

    def describe(self) -> dict[str, Any]:
        return {"backend": "embedded", "scope": MemoryRecords.scope}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
