"""Latency windows shared across hosts: two plugins, each on its own Redis store and fake
clock against one real ``redis-server``; one host's samples move a provider back on the
other, which has seen no traffic of its own."""

from __future__ import annotations

import types

from coderouter_adaptive import AdaptivePlugin

from coderouter.config import ProviderConfig
from coderouter.testing import FakeClock, RedisServer, StoreHost, run_hosts, until
from coderouter.types import Attempt, Chain, Draft, RequestView, Result, UpstreamError, Usage

PROVIDERS = {n: ProviderConfig(name=n, base_url=f"http://127.0.0.1:9/{n}") for n in "ab"}


class Host(StoreHost):
    """One host: its store and an adaptive plugin attached to it."""

    def __init__(self, url: str, clock: float) -> None:
        super().__init__(url, clock=clock, wall=FakeClock(7000.0), prefix="adaptive-test:")
        self.plugin = AdaptivePlugin(clock=self.clock)
        config = types.SimpleNamespace(provider_names=["a", "b"], profiles={})
        self.plugin.attach(self.app(config=config))

    def attempt(self, name: str) -> Attempt:
        view = RequestView("openai_chat", {"model": "m", "messages": [], "stream": False}, {})
        return Attempt(Draft(view), PROVIDERS[name], 0, "default")

    def ok(self, name: str, seconds: float, times: int = 5) -> None:
        for _ in range(times):
            result = Result(200, Usage(), "stop", seconds, None)
            self.plugin.after_attempt(self.attempt(name), result)

    def chain(self) -> Chain:
        chain = Chain("default", [PROVIDERS["a"], PROVIDERS["b"]])
        view = RequestView("openai_chat", {"model": "m", "messages": [], "stream": False}, {})
        self.plugin.filter_chain(view, chain)
        return chain


def test_samples_taken_through_one_host_move_a_provider_back_on_the_other(
    redis_server: RedisServer,
) -> None:
    async def body(one: Host, two: Host) -> None:
        one.ok("a", 2.0)
        one.ok("b", 0.5)
        one.plugin.on_failure(one.attempt("b"), UpstreamError("status", "boom", status=500))
        window = lambda: two.plugin.windows.get("b")  # noqa: E731
        await until(lambda: window() is not None and len(window().samples) == 6)  # type: ignore[union-attr]
        a = two.plugin.windows["a"].samples
        # Taken at one's clock reading 50.0, seen as two's 900.0 (the hosts share wall time).
        assert [(s.at, s.ok, s.measure, s.seconds) for s in a] == [
            (900.0, True, "latency", 2.0)
        ] * 5
        assert [s.ok for s in window().samples] == [True] * 5 + [False]  # type: ignore[union-attr]
        assert two.chain().names() == ["b", "a"]
        assert two.plugin.describe_state()["scope"].startswith("shared through Redis")

    run_hosts(body, Host(redis_server.url, 50.0), Host(redis_server.url, 900.0))


def test_a_sample_of_a_provider_this_host_does_not_route_to_is_left_out(
    redis_server: RedisServer,
) -> None:
    host = Host(redis_server.url, 0.0)
    host.plugin._received({"p": "elsewhere", "ok": True, "m": "latency", "s": 1.0}, 0.0)
    host.plugin._received({"p": "a", "ok": "yes"}, 0.0)
    assert host.plugin.windows == {}
