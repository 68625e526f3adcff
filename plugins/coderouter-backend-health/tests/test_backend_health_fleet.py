"""Three ``coderouter serve`` processes as three hosts (separate state dirs, one real
``redis-server``): a circuit opened through one host is kept by the others, and Redis going
away leaves every host serving on its own state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    RedisServer,
    RouterProcess,
    chat_headers,
)


def host_config(
    tmp_path: Path, n: int, redis: RedisServer, a: FakeUpstream, b: FakeUpstream
) -> Path:
    folder = tmp_path / f"host{n}"
    folder.mkdir()
    builder = (
        ConfigBuilder()
        .provider("a", a)
        .provider("b", b)
        .profile("default", ["a", "b"])
        .router(state_dir=str(folder / "state"))
        .state(backend="redis", url=redis.url, prefix="fleet-test:")
        .plugin("backend_health", action="skip", threshold=1)
    )
    return builder.write(folder)


def start_hosts(
    router_process: Any, tmp_path: Path, redis: RedisServer, a: FakeUpstream, b: FakeUpstream
) -> list[RouterProcess]:
    return [router_process(host_config(tmp_path, n, redis, a, b)) for n in (1, 2, 3)]


def ask(host: RouterProcess) -> tuple[str, str]:
    client = openai.OpenAI(base_url=host.url + "/v1", api_key="k", max_retries=0)
    headers = chat_headers(client)
    return headers["x-coderouter-provider"], headers.get("x-coderouter-fallback", "")


def circuit_of(host: RouterProcess, provider: str) -> Any:
    state = httpx.get(host.url + "/-/plugins").json()["state"]["backend_health"]
    return state["providers"].get(provider, {}).get("circuit")


def wait_until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


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
