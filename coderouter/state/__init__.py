"""State that plugins keep per provider, in this worker or shared between hosts.

``[state] backend`` picks the store: ``embedded`` (each worker's memory) or ``redis`` (shared
by every worker and host that names the same Redis and prefix). Plugins get it from the app
context as ``app.store`` and never talk to Redis themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from coderouter.state.claims import Claims
from coderouter.state.feed import Feed
from coderouter.state.records import (
    CLOCK,
    CooldownRecord,
    MemoryRecords,
    ProviderRecords,
    clock_field,
)
from coderouter.state.store import EmbeddedStore, StateStore

if TYPE_CHECKING:
    from coderouter.config import Config
    from coderouter.log import RequestLog

__all__ = [
    "CLOCK",
    "Claims",
    "CooldownRecord",
    "EmbeddedStore",
    "Feed",
    "MemoryRecords",
    "ProviderRecords",
    "StateStore",
    "build_store",
    "clock_field",
]


def build_store(config: Config, *, clock: Callable[[], float], log: RequestLog) -> StateStore:
    """The store ``[state]`` asks for."""
    if config.state.backend == "redis":
        from coderouter.state.redis_store import RedisStore

        return RedisStore(config.state, clock=clock, log=log)
    return EmbeddedStore(clock)
