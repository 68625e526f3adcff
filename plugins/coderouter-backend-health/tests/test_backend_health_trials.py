"""One half-open trial per provider across hosts: two plugins, each on its own Redis store and
fake clock against one real ``redis-server``, asked for the trial in the same instant."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import Any

from coderouter_backend_health import BackendHealthConfig, BackendHealthPlugin

from coderouter.config import ProviderConfig, StateConfig
from coderouter.log import RequestLog
from coderouter.state.redis_store import RedisStore
from coderouter.testing import FakeClock, RedisServer
from coderouter.types import Attempt, Draft, RequestView, Result, Skip, UpstreamError, Usage

PROVIDER = ProviderConfig(name="a", base_url="http://127.0.0.1:9/a", timeout_s=60.0)
CONFIG = BackendHealthConfig(action="skip", threshold=1, half_open_s=30.0)


class Host:
    def __init__(self, url: str, clock: float) -> None:
        self.clock = FakeClock(clock)
        log = RequestLog(enabled=False)
        state = StateConfig(backend="redis", url=url, prefix="trials-test:")
        self.store = RedisStore(state, clock=self.clock, log=log, wall=lambda: 5000.0)
        self.plugin = BackendHealthPlugin(CONFIG, clock=self.clock)
        config = types.SimpleNamespace(provider_names=["a"])
        app = types.SimpleNamespace(log=log, clock=self.clock, store=self.store, config=config)
        self.plugin.attach(app)  # type: ignore[arg-type]

    def attempt(self) -> Attempt:
        view = RequestView("openai_chat", {"model": "m", "messages": []}, {}, profile="default")
        return Attempt(Draft(view), PROVIDER, 0, "default", clock=self.clock, started_at=0.0)

    def ask(self) -> tuple[Attempt, Skip | None]:
        attempt = self.attempt()
        return attempt, self.plugin.before_attempt(attempt)


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_two_hosts_asking_at_once_send_one_trial(redis_server: RedisServer) -> None:
    async def body(one: Host, two: Host) -> None:
        for _ in range(2):
            one.plugin.on_failure(one.attempt(), UpstreamError("status", "boom", status=500))
        await until(lambda: (two.plugin.records.get("a") or None) is not None)
        await until(lambda: two.plugin.records.get("a").failures == 2)  # type: ignore[union-attr]
        one.clock.advance(30.0)
        two.clock.advance(30.0)
        # Both ask in the same instant: neither waits on Redis, neither sends a trial yet.
        first = [one.ask()[1], two.ask()[1]]
        assert all(isinstance(verdict, Skip) for verdict in first)
        reasons = {verdict.reason for verdict in first if verdict is not None}
        assert reasons == {"unhealthy, circuit half-open: the trial request is another worker's"}
        await until(lambda: not one.store.background and not two.store.background)
        (attempt_one, verdict_one), (attempt_two, verdict_two) = one.ask(), two.ask()
        assert [verdict_one is None, verdict_two is None].count(True) == 1
        winner, attempt = (one, attempt_one) if verdict_one is None else (two, attempt_two)
        loser = two if winner is one else one
        assert loser.ask()[1] is not None
        winner.plugin.after_attempt(attempt, Result(200, Usage(), "stop", 0.1, None))
        await until(lambda: loser.plugin.records.get("a").failures == 0)  # type: ignore[union-attr]
        assert loser.ask()[1] is None  # the circuit is closed on both hosts

    async def run() -> None:
        one, two = Host(redis_server.url, 100.0), Host(redis_server.url, 900.0)
        await one.store.start()
        await two.store.start()
        try:
            await body(one, two)
        finally:
            await one.store.stop()
            await two.store.stop()

    asyncio.run(run())


def test_described_trials_say_who_holds_the_claim(redis_server: RedisServer) -> None:
    async def run() -> Any:
        host = Host(redis_server.url, 100.0)
        await host.store.start()
        try:
            for _ in range(2):
                host.plugin.on_failure(host.attempt(), UpstreamError("status", "x", status=500))
            host.clock.advance(30.0)
            host.ask()
            await until(lambda: not host.store.background)
            return host.plugin.describe_state()["trials"]
        finally:
            await host.store.stop()

    trials = asyncio.run(run())
    assert trials["scope"].startswith("one holder across hosts through Redis")
    assert trials["claims"] == {"a": {"held_s": 10.0, "holder": "this worker"}}
