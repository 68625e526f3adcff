"""Three ``coderouter serve`` processes as three hosts (separate state dirs, one real
``redis-server``): a circuit opened through one host is kept by the others, and Redis going
away leaves every host serving on its own state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai

from coderouter.testing import (
    Answer,
    FakeUpstream,
    RedisServer,
    RouterProcess,
    answered_by,
    fleet_hosts,
    wait_until,
)


def start_hosts(
    router_process: Any, tmp_path: Path, redis: RedisServer, a: FakeUpstream, b: FakeUpstream
) -> list[RouterProcess]:
    health = {"action": "skip", "threshold": 1}
    return fleet_hosts(
        router_process, tmp_path, redis, {"a": a, "b": b}, plugins={"backend_health": health}
    )


def ask(host: RouterProcess, client: openai.OpenAI | None = None) -> tuple[str, str]:
    return answered_by(host.url, client)


def circuit_of(host: RouterProcess, provider: str) -> Any:
    state = httpx.get(host.url + "/-/plugins").json()["state"]["backend_health"]
    return state["providers"].get(provider, {}).get("circuit")


def test_a_circuit_opened_through_one_host_is_kept_by_the_others(
    router_process: Any, fake_upstreams: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    a, b = fake_upstreams(Answer.error(500, "boom")), fake_upstreams()
    one, two, three = start_hosts(router_process, tmp_path, redis_server, a, b)
    assert ask(one)[0] == "b"
    assert ask(one)[0] == "b"  # the second failure makes a unhealthy: its circuit opens
    assert a.count == 2
    for host in (two, three):
        wait_until(lambda host=host: circuit_of(host, "a") == "open")
        provider, fallback = ask(host)
        assert provider == "b"
        assert fallback.startswith("a=skipped: unhealthy, circuit open: 2 consecutive failures")
    assert a.count == 2  # neither host sent a request to a
    store = httpx.get(two.url + "/-/plugins").json()["store"]
    assert store["backend"] == "redis" and store["connected"] is True
    scope = httpx.get(three.url + "/-/plugins").json()["state"]["backend_health"]["scope"]
    assert scope.startswith("shared through Redis")


def test_redis_going_down_mid_run_leaves_every_host_serving_on_local_state(
    router_process: Any, fake_upstreams: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    a, b = fake_upstreams(Answer.error(500, "boom")), fake_upstreams()
    hosts = start_hosts(router_process, tmp_path, redis_server, a, b)
    for host in hosts:
        assert httpx.get(host.url + "/-/plugins").json()["store"]["connected"] is True

    redis_server.stop()
    for host in hosts:
        wait_until(lambda host=host: host.log_lines("state_outage"))
        assert ask(host)[0] == "b"
        assert ask(host)[0] == "b"
    # Each host opened its own circuit: two failures each, none shared while Redis is away.
    assert a.count == 6
    for host in hosts:
        provider, fallback = ask(host)
        assert provider == "b" and fallback.startswith("a=skipped: unhealthy, circuit open")
        assert circuit_of(host, "a") == "open"
        described = httpx.get(host.url + "/-/plugins").json()
        assert described["store"]["connected"] is False
        assert described["store"]["outage"]["error"]
        assert "Redis unreachable" in described["state"]["backend_health"]["scope"]
        assert len(host.log_lines("state_outage")) == 1
    assert a.count == 6
    for host in hosts:
        assert [r["status"] for r in host.log_lines()] == [200] * 3
