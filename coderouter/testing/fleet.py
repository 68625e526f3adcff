"""Several hosts in tests: Redis state stores standing for hosts inside one process
(:class:`StoreHost`, :func:`run_hosts`), and ``coderouter serve`` hosts sharing one
``redis-server`` (:func:`fleet_hosts`); :func:`until` and :func:`wait_until` wait for what
travels between them."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from coderouter.config import StateConfig
from coderouter.log import RequestLog
from coderouter.state.redis_store import RedisStore
from coderouter.testing.harness import FakeClock
from coderouter.testing.redis_server import RedisServer
from coderouter.testing.router import ConfigBuilder, RouterProcess
from coderouter.testing.upstream import FakeUpstream

__all__ = ["StoreHost", "fleet_hosts", "run_hosts", "until", "wait_until"]


class StoreHost:
    """One Redis state store with its own clock, wall time and request log, as one host has
    them. Hosts given one ``wall`` agree on wall time; their monotonic clocks never do."""

    def __init__(
        self,
        url: str,
        *,
        clock: float = 0.0,
        wall: FakeClock | None = None,
        prefix: str = "test:",
    ) -> None:
        self.clock = FakeClock(clock)
        self.wall = wall if wall is not None else FakeClock(1000.0)
        self.events: list[dict[str, Any]] = []
        self.log = RequestLog(enabled=False)
        self.log.listeners.append(self.events.append)
        config = StateConfig(backend="redis", url=url, prefix=prefix)
        self.store = RedisStore(config, clock=self.clock, log=self.log, wall=self.wall)
        self.store.retry_s = 0.05

    def app(self, **fields: Any) -> Any:
        """What a plugin's ``attach`` reads of the app: this host's log, clock and store."""
        return types.SimpleNamespace(log=self.log, clock=self.clock, store=self.store, **fields)


def run_hosts(body: Callable[..., Awaitable[None]], *hosts: StoreHost) -> None:
    """Start every host's store, run ``body(*hosts)``, stop them all."""

    async def run() -> None:
        for host in hosts:
            await host.store.start()
        try:
            await body(*hosts)
        finally:
            for host in hosts:
                await host.store.stop()

    asyncio.run(run())


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def fleet_hosts(
    router_process: Any,
    tmp_path: Path,
    redis: RedisServer,
    providers: dict[str, FakeUpstream],
    *,
    count: int = 3,
    prefix: str = "fleet-test:",
    plugins: dict[str, dict[str, Any]] | None = None,
) -> list[RouterProcess]:
    """``count`` ``coderouter serve`` processes (``router_process`` is the fixture), each with
    its own state dir and the same Redis: the providers in order as the default profile,
    and ``plugins`` with their settings."""
    hosts = []
    for n in range(1, count + 1):
        folder = tmp_path / f"host{n}"
        folder.mkdir()
        builder = ConfigBuilder()
        for name, upstream in providers.items():
            builder = builder.provider(name, upstream)
        builder = (
            builder.profile("default", list(providers))
            .router(state_dir=str(folder / "state"))
            .state(backend="redis", url=redis.url, prefix=prefix)
        )
        for name, settings in (plugins or {}).items():
            builder = builder.plugin(name, **settings)
        hosts.append(router_process(builder.write(folder)))
    return hosts
