"""End to end: several ``coderouter serve`` hosts (separate state dirs) on one real
``redis-server`` share budgets: concurrent clients against a small budget, a host killed
mid-request, and Redis away with ``[state] on_outage`` closed and open."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    RedisServer,
    RouterProcess,
    chat_completion,
)

PAID = {"CODEROUTER_ALLOW_PAID": "1"}
# Output tokens only, $0.20 each: the fake answer (5 completion tokens) costs one dollar, and so
# does its reservation when the request asks for max_tokens = 5.
DOLLAR_AN_ANSWER = {"input_per_mtok": 0.0, "output_per_mtok": 200_000.0}
BODY: Any = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
PREFIX = "fleet:"


def host_config(
    folder: Path, redis_server: RedisServer, upstream: FakeUpstream, **cost: Any
) -> Path:
    on_outage = cost.pop("on_outage", "closed")
    builder = (
        ConfigBuilder()
        .provider("paid", upstream, paid=True, model="gpt-4.1", cost=DOLLAR_AN_ANSWER)
        .profile("default", ["paid"])
        .router(state_dir=str(folder / "state"))
        .plugin("cost", **cost)
    )
    builder.state(backend="redis", url=redis_server.url, prefix=PREFIX, on_outage=on_outage)
    folder.mkdir(parents=True)
    return builder.write(folder)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Any]:
    started: list[RouterProcess] = []

    def start(count: int, redis_server: RedisServer, upstream: FakeUpstream, **cost: Any) -> Any:
        for _ in range(count):
            path = host_config(tmp_path / f"host{len(started)}", redis_server, upstream, **cost)
            started.append(RouterProcess(path, env=PAID))
        return started[-count:]

    yield start
    for host in started:
        host.stop(signal.SIGINT)


def sdk(host: RouterProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=host.url + "/v1", api_key="k", max_retries=0, timeout=30)


def ask(host: RouterProcess) -> int:
    try:
        sdk(host).chat.completions.create(**BODY)
    except openai.APIStatusError as exc:
        return exc.status_code
    except openai.APIConnectionError:
        return 0  # the host went away
    return 200


def spent(redis_server: RedisServer, key: str = "total") -> float:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    month = time.strftime("%Y-%m", time.gmtime())
    found = client.get(f"{PREFIX}{{budget}}:{month}:{key}:spent")
    client.close()
    return float(found or 0)


def holds(redis_server: RedisServer, key: str = "total") -> int:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    month = time.strftime("%Y-%m", time.gmtime())
    count = int(client.zcard(f"{PREFIX}{{budget}}:{month}:{key}:holds"))
    client.close()
    return count


def settled(redis_server: RedisServer, amount: float, timeout_s: float = 5.0) -> None:
    """Settles are sent after the answer: wait (bounded) until the spend reaches ``amount``
    and every hold is gone, then check the spend is exactly that."""
    deadline = time.monotonic() + timeout_s
    while (spent(redis_server) < amount - 1e-9 or holds(redis_server)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert spent(redis_server) == pytest.approx(amount)


def test_three_hosts_and_concurrent_clients_never_spend_past_the_budget(
    hosts: Any, redis_server: RedisServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.hang(0.3, chat_completion("fine"))
    fleet = hosts(3, redis_server, fake_upstream, monthly_budget_usd=10.0)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        status = ask(fleet[n % 3])
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each answer costs what it reserved, so the budget buys exactly ten of them.
    assert sorted(statuses) == [200] * 10 + [429] * 20
    assert fake_upstream.count == 10
    settled(redis_server, 10.0)
    assert holds(redis_server) == 0
    refused = sdk(fleet[0])
    with pytest.raises(openai.RateLimitError) as info:
        refused.chat.completions.create(**BODY)
    assert "total monthly budget $10.00 reached" in info.value.message


def test_a_host_killed_mid_request_frees_its_reservation_after_the_ttl(
    hosts: Any, redis_server: RedisServer, fake_upstreams: Any
) -> None:
    slow = fake_upstreams(Answer.hang(30, chat_completion("late")))
    first, second = hosts(2, redis_server, slow, monthly_budget_usd=1.5, reservation_ttl_s=1.5)
    hung = threading.Thread(target=ask, args=(first,), daemon=True)
    hung.start()
    deadline = time.monotonic() + 5
    while holds(redis_server) == 0:
        assert time.monotonic() < deadline, "the first host never reserved"
        time.sleep(0.01)
    first.kill()
    killed_at = time.monotonic()
    slow.default = Answer.json(chat_completion("fine"))
    # Its $1 still held, the other host cannot fit another dollar under $1.50 ...
    assert ask(second) == 429
    # ... until the reservation's TTL passes, when the next script drops it.
    time.sleep(max(0.0, 1.6 - (time.monotonic() - killed_at)))
    assert ask(second) == 200
    settled(redis_server, 1.0)
    assert holds(redis_server) == 0


def test_redis_away_with_on_outage_closed_answers_503_naming_the_budget(
    hosts: Any, redis_server: RedisServer, fake_upstream: FakeUpstream
) -> None:
    (host,) = hosts(1, redis_server, fake_upstream, monthly_budget_usd=10.0)
    assert ask(host) == 200
    redis_server.stop()
    with pytest.raises(openai.APIStatusError) as info:
        sdk(host).chat.completions.create(**BODY)
    assert info.value.status_code == 503
    assert "cannot check the total monthly budget $10.00" in info.value.message
    assert "state store is unreachable" in info.value.message
    assert fake_upstream.count == 1


def test_redis_away_with_on_outage_open_admits_and_replays_the_spend(
    hosts: Any, redis_server: RedisServer, fake_upstream: FakeUpstream
) -> None:
    (host,) = hosts(1, redis_server, fake_upstream, monthly_budget_usd=2.5, on_outage="open")
    assert ask(host) == 200
    redis_server.stop()
    # Admitted against the last spend Redis reported ($1) and its own unsent settles.
    assert ask(host) == 200
    assert ask(host) == 429
    assert fake_upstream.count == 2
    redis_server.start()
    settled(redis_server, 2.0, timeout_s=10)
    # Redis came back without its data (no persistence): the ledger's month total is seeded
    # again (less the settle still to send) and the replayed settle adds the outage's dollar.
    assert spent(redis_server) == pytest.approx(2.0)
    time.sleep(0.3)
    assert spent(redis_server) == pytest.approx(2.0)


def test_an_attempt_that_fails_before_its_answer_frees_its_reservation(
    hosts: Any, redis_server: RedisServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.error(500, "boom"), Answer.error(500, "boom"))
    (host,) = hosts(1, redis_server, fake_upstream, monthly_budget_usd=1.5)
    assert ask(host) == 502
    assert ask(host) == 502
    settled(redis_server, 0.0)
    assert holds(redis_server) == 0
    # Neither failure kept its dollar: one more answer still fits under $1.50.
    assert ask(host) == 200
    settled(redis_server, 1.0)


def test_a_profile_with_the_cost_plugin_off_reserves_nothing(
    router_process: Any, redis_server: RedisServer, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    builder = (
        ConfigBuilder()
        .provider("paid", fake_upstream, paid=True, model="gpt-4.1", cost=DOLLAR_AN_ANSWER)
        .profile("default", ["paid"])
        .profile("untracked", ["paid"], plugins={"cost": {"enabled": False}})
        .router(state_dir=str(tmp_path / "state"))
        .plugin("cost", monthly_budget_usd=1.5)
        .state(backend="redis", url=redis_server.url, prefix=PREFIX)
    )
    host = router_process(builder, env=PAID)
    for _ in range(3):
        sdk(host).chat.completions.create(**{**BODY, "model": "untracked"})
    assert holds(redis_server) == 0 and spent(redis_server) == 0.0
    assert ask(host) == 200  # the default profile still counts
    settled(redis_server, 1.0)
