"""Through the real router, in process: the app built by ``create_app`` with the plugin
registered under a fake clock, fake upstreams as real loopback servers, and concurrent
requests to show that a half-open circuit lets exactly one trial through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import falcon.testing
from coderouter_backend_health import BackendHealthConfig, BackendHealthPlugin

from coderouter.app import create_app
from coderouter.log import RequestLog
from coderouter.plugins import new_plugin_manager
from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


Scenario = Callable[[falcon.testing.ASGIConductor], Awaitable[None]]


def run_app(
    a: FakeUpstream,
    b: FakeUpstream,
    config: BackendHealthConfig,
    clock: FakeClock,
    scenario: Scenario,
) -> list[dict[str, Any]]:
    """Run ``scenario`` against one app (one lifespan); return the request-log records."""
    app_config = (
        ConfigBuilder().provider("a", a).provider("b", b).profile("default", ["a", "b"]).build()
    )
    pm = new_plugin_manager(app_config)
    pm.register(BackendHealthPlugin(config, clock=clock), name="backend_health")
    log = RequestLog(enabled=False)
    records: list[dict[str, Any]] = []
    log.listeners.append(records.append)
    app = create_app(app_config, pm=pm, clock=clock, log=log)

    async def main() -> None:
        async with falcon.testing.ASGIConductor(app) as conductor:
            await scenario(conductor)

    asyncio.run(main())
    return records


def test_circuit_opens_and_a_trial_after_the_default_30s_closes_it(fake_upstreams: Any) -> None:
    a, b = fake_upstreams(Answer.error(500, "boom")), fake_upstreams()
    clock = FakeClock()
    seen: list[tuple[str, str]] = []

    async def scenario(client: falcon.testing.ASGIConductor) -> None:
        async def post() -> None:
            result = await client.simulate_post("/v1/chat/completions", json=BODY, host="localhost")
            assert result.status_code == 200
            seen.append(
                (
                    result.headers["x-coderouter-provider"],
                    result.headers.get("x-coderouter-fallback", ""),
                )
            )

        await post()
        await post()
        await post()
        clock.now += 29.9
        await post()
        a.default = Answer.json(chat_completion("a is back"))
        clock.now += 0.1
        await post()
        await post()

    records = run_app(a, b, BackendHealthConfig(action="skip", threshold=1), clock, scenario)
    assert [provider for provider, _ in seen] == ["b", "b", "b", "b", "a", "a"]
    assert a.count == 4  # two failures, then the trial, then normal traffic
    assert seen[2][1].startswith("a=skipped: unhealthy, circuit open: 2 consecutive failures")
    assert seen[2][1].endswith("next trial in 30.0s")
    assert seen[4][1] == "" and seen[5][1] == ""
    requests = [r for r in records if r["event"] == "request"]
    assert requests[2]["attempts"][0]["outcome"] == "skipped"
    assert requests[4].get("health_trial") is True
    guards = [(r.get("from"), r.get("to")) for r in records if r["event"] == "guard" and "to" in r]
    assert guards == [("healthy", "degraded"), ("degraded", "unhealthy"), ("unhealthy", "healthy")]


def test_half_open_sends_one_trial_while_concurrent_requests_keep_skipping(
    fake_upstreams: Any,
) -> None:
    a, b = fake_upstreams(Answer.error(500, "boom")), fake_upstreams()
    clock = FakeClock()
    answers: dict[str, tuple[str, str]] = {}

    async def scenario(client: falcon.testing.ASGIConductor) -> None:
        async def post(tag: str) -> None:
            result = await client.simulate_post("/v1/chat/completions", json=BODY, host="localhost")
            answers[tag] = (
                result.headers["x-coderouter-provider"],
                result.headers.get("x-coderouter-fallback", ""),
            )

        await post("fail-1")
        await post("fail-2")
        clock.now += 30
        a.default = Answer.json(chat_completion("a is back"))
        a.script(Answer.hang(1.0, chat_completion("trial answer")))
        trial = asyncio.ensure_future(post("trial"))
        while a.count < 3:  # the trial has reached the upstream and is in flight
            await asyncio.sleep(0.01)
        await post("during-1")
        await post("during-2")
        await trial
        await post("after")

    run_app(a, b, BackendHealthConfig(action="skip", threshold=1), clock, scenario)
    assert answers["trial"] == ("a", "")
    for tag in ("during-1", "during-2"):
        provider, fallback = answers[tag]
        assert provider == "b"
        assert fallback == "a=skipped: unhealthy, circuit half-open: a trial request is in flight"
    assert answers["after"][0] == "a"
    assert a.count == 4
