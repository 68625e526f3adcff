"""One half-open trial per provider across hosts: two plugins, each on its own Redis store and
fake clock against one real ``redis-server``, asked for the trial in the same instant."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pluggy
from coderouter_backend_health import BackendHealthConfig, BackendHealthPlugin

from coderouter.config import ProviderConfig
from coderouter.hookcalls import HookCalls
from coderouter.testing import FakeClock, RedisServer, StoreHost, run_hosts, until
from coderouter.types import Attempt, Draft, RequestView, Result, Skip, UpstreamError, Usage

PROVIDER = ProviderConfig(name="a", base_url="http://127.0.0.1:9/a", timeout_s=60.0)
CONFIG = BackendHealthConfig(action="skip", threshold=1, half_open_s=30.0)


class Host(StoreHost):
    """One host: its store and a backend_health plugin attached to it."""

    def __init__(self, url: str, clock: float) -> None:
        super().__init__(url, clock=clock, wall=FakeClock(5000.0), prefix="trials-test:")
        self.plugin = BackendHealthPlugin(CONFIG, clock=self.clock)
        self.plugin.attach(self.app(config=types.SimpleNamespace(provider_names=["a"])))

    def attempt(self) -> Attempt:
        view = RequestView("openai_chat", {"model": "m", "messages": []}, {}, profile="default")
        return Attempt(Draft(view), PROVIDER, 0, "default", clock=self.clock, started_at=0.0)

    def ask(self) -> tuple[Attempt, Skip | None]:
        attempt = self.attempt()
        return attempt, self.plugin.before_attempt(attempt)


def test_two_hosts_asking_at_once_send_one_trial(redis_server: RedisServer) -> None:
    async def body(one: Host, two: Host) -> None:
        for _ in range(2):
            one.plugin.on_failure(one.attempt(), UpstreamError("status", "boom", status=500))
        await until(lambda: getattr(two.plugin.records.get("a"), "failures", 0) == 2)
        one.clock.advance(30.0)
        two.clock.advance(30.0)
        # Both hosts' before_attempt let the candidate trial go, in the same instant, without
        # waiting; their admissions then claim the trial in Redis at once.
        (attempt_one, verdict_one), (attempt_two, verdict_two) = one.ask(), two.ask()
        assert verdict_one is None and verdict_two is None
        assert one.plugin.admit_attempt(one.attempt()) is None  # not a candidate: no wait
        admitted = await asyncio.gather(
            one.plugin.admit_attempt(attempt_one),  # type: ignore[arg-type]
            two.plugin.admit_attempt(attempt_two),  # type: ignore[arg-type]
        )
        assert [verdict is None for verdict in admitted].count(True) == 1
        skipped = next(v for v in admitted if v is not None)
        assert skipped == Skip("unhealthy, circuit half-open: another worker holds the trial")
        winner, attempt = (one, attempt_one) if admitted[0] is None else (two, attempt_two)
        loser = two if winner is one else one
        assert attempt.log_fields["health_trial"] is True
        assert isinstance(loser.ask()[1], Skip)  # told who holds it: skipped without a wait
        winner.plugin.after_attempt(attempt, Result(200, Usage(), "stop", 0.1, None))
        await until(lambda: getattr(loser.plugin.records.get("a"), "failures", 1) == 0)
        assert loser.ask()[1] is None  # the circuit is closed on both hosts

    run_hosts(body, Host(redis_server.url, 100.0), Host(redis_server.url, 900.0))


def test_a_trial_never_sent_frees_its_claim_and_lease(redis_server: RedisServer) -> None:
    async def body(host: Host) -> None:
        for _ in range(2):
            host.plugin.on_failure(host.attempt(), UpstreamError("status", "x", status=500))
        host.clock.advance(30.0)
        attempt, _ = host.ask()
        assert await host.plugin.admit_attempt(attempt) is None  # type: ignore[misc]
        assert host.plugin.claims.held("a")
        host.plugin.release_attempt(attempt)  # the client left before it was sent
        assert not host.plugin.claims.held("a")
        assert host.plugin.records.get("a").trial_since is None  # type: ignore[union-attr]
        again, verdict = host.ask()
        assert verdict is None and again.scratch["backend_health"] == {"claim": True}

    run_hosts(body, Host(redis_server.url, 100.0))


def test_described_trials_say_who_holds_the_claim(redis_server: RedisServer) -> None:
    described: dict[str, Any] = {}

    async def body(host: Host) -> None:
        for _ in range(2):
            host.plugin.on_failure(host.attempt(), UpstreamError("status", "x", status=500))
        host.clock.advance(30.0)
        attempt, _ = host.ask()
        await host.plugin.admit_attempt(attempt)  # type: ignore[misc]
        described.update(host.plugin.describe_state()["trials"])

    run_hosts(body, Host(redis_server.url, 100.0))
    assert described["scope"].startswith("one holder across hosts through Redis")
    assert described["claims"] == {"a": {"held_s": 60.0, "holder": "this worker"}}


def test_a_profile_without_skip_pays_for_no_admission(
    plugin_manager: pluggy.PluginManager,
) -> None:
    strict = BackendHealthConfig(action="skip")
    plugin = BackendHealthPlugin(BackendHealthConfig(action="warn"), {"strict": strict})
    plugin_manager.register(plugin, name="backend_health")
    calls = HookCalls(plugin_manager, idle=lambda name, found, profile: found.idle_hooks(profile))
    assert not calls.for_profile("default").implemented("admit_attempt")
    assert calls.for_profile("strict").implemented("admit_attempt")
