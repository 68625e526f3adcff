"""Three ``coderouter serve`` processes as three hosts on one real ``redis-server``: a
half-open circuit sends one trial request across the fleet, and a 429 with ``retry-after``
through one host keeps the provider out of the other hosts' chains."""

from __future__ import annotations

import concurrent.futures
import threading
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
    router_process: Any,
    tmp_path: Path,
    redis: RedisServer,
    a: FakeUpstream,
    b: FakeUpstream,
    **plugins: dict[str, Any],
) -> list[RouterProcess]:
    return fleet_hosts(
        router_process, tmp_path, redis, {"a": a, "b": b}, prefix="fleet-shared:", plugins=plugins
    )


def ask(host: RouterProcess, client: openai.OpenAI | None = None) -> tuple[str, str]:
    return answered_by(host.url, client)


def described(host: RouterProcess) -> Any:
    return httpx.get(host.url + "/-/plugins").json()


def test_a_half_open_circuit_sends_one_trial_across_the_fleet(
    router_process: Any, fake_upstreams: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    # a fails twice (its circuit opens), then its trial answers after a while: long enough
    # for every host to be asked again and again while it is in flight.
    a = fake_upstreams().script(Answer.error(500), Answer.error(500), Answer.hang(3.0))
    b = fake_upstreams()
    health = {"action": "skip", "threshold": 1, "half_open_s": 2.0}
    hosts = start_hosts(router_process, tmp_path, redis_server, a, b, backend_health=health)
    assert ask(hosts[0])[0] == "b" and ask(hosts[0])[0] == "b"
    assert a.count == 2
    # Each host's client is connected before the race, so the three trials-to-be arrive
    # within a fraction of the time a record takes to reach the other hosts.
    clients = [openai.OpenAI(base_url=h.url + "/v1", api_key="k", max_retries=0) for h in hosts]
    for host, client in zip(hosts, clients, strict=True):
        assert ask(host, client)[0] == "b"  # the circuit is still open

    def circuit(host: RouterProcess) -> Any:
        return described(host)["state"]["backend_health"]["providers"]["a"]["circuit"]

    for host in hosts:
        wait_until(lambda host=host: circuit(host) == "half_open")

    start = threading.Barrier(3)

    def keep_asking(host: RouterProcess, client: openai.OpenAI) -> list[tuple[str, str]]:
        start.wait()  # the three hosts are asked in the same instant
        return [ask(host, client) for _ in range(6)]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        runs = [pool.submit(keep_asking, h, c) for h, c in zip(hosts, clients, strict=True)]
        # Two hosts answer all six from b while the third's trial hangs at a.
        wait_until(lambda: sum(run.done() for run in runs) == 2)
        assert a.count == 3  # the two failures and one trial, from one host
        answers = [run.result() for run in runs if run.done()]
    for answered in answers:
        assert [provider for provider, _ in answered] == ["b"] * 6
        reasons = {fallback for _, fallback in answered}
        assert reasons <= {
            "a=skipped: unhealthy, circuit half-open: another worker holds the trial",
            "a=skipped: unhealthy, circuit half-open: a trial request is in flight",
        }
    trials = described(hosts[0])["state"]["backend_health"]["trials"]
    assert trials["scope"].startswith("one holder across hosts through Redis")


def test_a_429_through_one_host_cools_the_provider_on_the_others(
    router_process: Any, fake_upstreams: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    limited = Answer.error(429, "slow down", headers={"retry-after": "60"})
    a, b = fake_upstreams().script(limited), fake_upstreams()
    one, two, three = start_hosts(router_process, tmp_path, redis_server, a, b)
    assert ask(one) == ("b", "a=failed: HTTP 429: slow down")
    for host in (two, three):
        wait_until(lambda host=host: "a" in described(host)["cooldowns"])
        provider, fallback = ask(host)
        assert provider == "b"
        assert fallback.startswith("a=skipped: rate limited (429), cooling down")
        assert 55 < described(host)["cooldowns"]["a"]["remaining_s"] <= 60
    assert a.count == 1


def test_metrics_json_sums_every_hosts_totals(
    router_process: Any, fake_upstreams: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    a, b = fake_upstreams(), fake_upstreams()
    one, two, three = start_hosts(router_process, tmp_path, redis_server, a, b, metrics={})
    ask(one)
    ask(one)
    ask(two)

    def document(host: RouterProcess) -> Any:
        return httpx.get(host.url + "/metrics.json").json()

    wait_until(lambda: document(three)["fleet"]["requests"] == 3)
    fleet = document(three)["fleet"]
    assert fleet["workers"] == 3 and fleet["errors"] == 0
    assert fleet["providers"]["a"]["requests"] == 3
    assert fleet["scope"].startswith("shared through Redis")
    assert document(one)["summary"]["requests"] == 2  # each host's own figures stay its own
    assert document(three)["summary"]["requests"] == 0
    prometheus = httpx.get(one.url + "/metrics").text.splitlines()
    counted = [line for line in prometheus if line.startswith("coderouter_requests_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) == 2  # Prometheus: per host
