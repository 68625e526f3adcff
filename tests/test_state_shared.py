"""The store's claims and feeds, in memory and against a real ``redis-server``: two stores
stand for two hosts, each with its own clock; and the core's 429 cooldowns kept in its
records, so a 429 through one host cools the provider on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from coderouter.chains import Cooldowns
from coderouter.state import CooldownRecord, EmbeddedStore, MemoryRecords
from coderouter.state.claims import MemoryClaims
from coderouter.testing import FakeClock, RedisServer, StoreHost, run_hosts, until
from coderouter.types import UpstreamError

PREFIX = "shared-test:"


def with_hosts(url: str, body: Callable[[StoreHost, StoreHost], Awaitable[None]]) -> None:
    run_hosts(
        body,
        StoreHost(url, prefix=PREFIX),
        StoreHost(url, clock=500.0, prefix=PREFIX),
    )


# --- claims --------------------------------------------------------------------------------------


def test_a_memory_claim_is_granted_at_once_and_lapses_on_the_clock() -> None:
    clock = FakeClock()
    claims = MemoryClaims(clock)
    assert claims.waits is False
    assert claims.take_now("a", 10.0)
    assert claims.held("a") and claims.held("a", margin_s=9.0)
    assert not claims.held("a", margin_s=10.0)
    clock.advance(10.0)
    assert not claims.held("a")
    claims.take_now("a", 5.0)
    claims.extend("a", 30.0)
    clock.advance(20.0)
    assert claims.held("a")
    claims.release("a")
    assert not claims.held("a") and not claims.theirs("a")


def test_the_embedded_store_gives_memory_claims_and_a_feed_that_tells_no_one() -> None:
    store = EmbeddedStore(FakeClock())
    assert isinstance(store.claims("x"), MemoryClaims)
    store.feed("x", lambda item, at: None).publish({"n": 1}, 0.0)
    assert store.shared is False


def test_two_hosts_taking_one_claim_at_once_get_one_holder(redis_server: RedisServer) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        first, second = one.store.claims("trial"), two.store.claims("trial")
        assert first.waits and second.waits
        won = await asyncio.gather(first.take("a", 10.0), second.take("a", 10.0))
        assert sorted(won) == [False, True]
        holder, other = (first, second) if won[0] else (second, first)
        assert holder.held("a") and not holder.theirs("a")
        assert other.theirs("a") and not other.held("a")
        assert other.describe()["a"]["holder"] == "another worker"
        assert 9.0 < other.describe()["a"]["held_s"] <= 10.0
        assert await other.take("a", 10.0) is False  # told for how long: no second ask
        holder.release("a")
        await until(lambda: not one.store.background and not two.store.background)
        (two.clock if other is second else one.clock).advance(10.0)
        assert await other.take("a", 10.0) is True
        assert await holder.take("a", 10.0) is False

    with_hosts(redis_server.url, body)


def test_a_claim_whose_holder_dies_is_freed_by_its_ttl(redis_server: RedisServer) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        first, second = one.store.claims("trial"), two.store.claims("trial")
        assert await first.take("a", 0.05)  # Redis counts the TTL on its own clock
        await one.store.stop()  # the host goes away without releasing
        await asyncio.sleep(0.1)
        assert await second.take("a", 10.0)

    with_hosts(redis_server.url, body)


def test_an_extended_claim_outlives_its_first_ttl(redis_server: RedisServer) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        first, second = one.store.claims("trial"), two.store.claims("trial")
        assert await first.take("a", 0.2)
        first.extend("a", 30.0)
        await until(lambda: not one.store.background)
        await asyncio.sleep(0.3)
        assert await second.take("a", 10.0) is False
        assert second.describe()["a"]["held_s"] > 20

    with_hosts(redis_server.url, body)


def test_without_redis_a_claim_is_decided_locally(redis_server: RedisServer) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        redis_server.stop()
        claims = one.store.claims("trial")
        assert await claims.take("a", 10.0)
        assert claims.held("a") and not claims.waits
        assert "Redis unreachable" in claims.scope
        assert [e["event"] for e in one.events] == ["state_outage"]

    with_hosts(redis_server.url, body)


# --- feeds ---------------------------------------------------------------------------------------


def test_a_feed_item_reaches_the_other_host_with_its_time_in_that_hosts_clock(
    redis_server: RedisServer,
) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        got_one: list[tuple[dict[str, Any], float]] = []
        got_two: list[tuple[dict[str, Any], float]] = []
        feed = one.store.feed("samples", lambda item, at: got_one.append((item, at)))
        two.store.feed("samples", lambda item, at: got_two.append((item, at)))
        feed.publish({"p": "a", "s": 1.5}, at=-2.0)  # 2 s before now on host one's clock
        feed.publish({"p": "b", "s": 0.5}, at=0.0)
        await until(lambda: len(got_two) == 2)
        assert got_two == [({"p": "a", "s": 1.5}, 498.0), ({"p": "b", "s": 0.5}, 500.0)]
        await asyncio.sleep(0.05)
        assert got_one == []  # its own items are not given back
        assert two.store.describe()["feeds"]["samples"]["received"] == 2

    with_hosts(redis_server.url, body)


def test_a_feed_is_bounded_while_redis_is_away(redis_server: RedisServer) -> None:
    host = StoreHost(redis_server.url, prefix=PREFIX)
    feed = host.store.feed("samples", lambda item, at: None)
    feed.max_pending = 3  # type: ignore[attr-defined]
    for n in range(5):
        feed.publish({"n": n}, at=0.0)
    assert host.store.describe()["feeds"]["samples"] == {
        "pending": 3,
        "dropped": 2,
        "received": 0,
    }


def test_a_forgotten_record_is_gone_on_the_other_host(redis_server: RedisServer) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        first = one.store.records("hosts", MemoryRecords(CooldownRecord))
        second = two.store.records("hosts", MemoryRecords(CooldownRecord))
        first.save("w1", CooldownRecord(until=1.0))
        await until(lambda: second.get("w1") is not None)
        first.forget("w1")
        await until(lambda: second.get("w1") is None)
        late = StoreHost(redis_server.url, prefix=PREFIX)
        late_records = late.store.records("hosts", MemoryRecords(CooldownRecord))
        await late.store.start()
        try:
            assert list(late_records) == []
        finally:
            await late.store.stop()

    with_hosts(redis_server.url, body)


# --- the core's 429 cooldowns --------------------------------------------------------------------


def test_a_429_noted_on_one_host_cools_the_provider_on_the_other(
    redis_server: RedisServer,
) -> None:
    async def body(one: StoreHost, two: StoreHost) -> None:
        first, second = Cooldowns(one.clock), Cooldowns(two.clock)
        first.records = one.store.records("core.cooldowns", MemoryRecords(CooldownRecord))
        second.records = two.store.records("core.cooldowns", MemoryRecords(CooldownRecord))
        first.note("a", UpstreamError("status", "rate limited", status=429, retry_after_s=30.0))
        await until(lambda: second.remaining_s("a") > 0)
        assert 29.0 < second.remaining_s("a") <= 30.0
        assert second.describe() == {"a": {"remaining_s": 30.0}}
        two.clock.advance(30.0)
        assert second.remaining_s("a") == 0.0 and second.describe() == {}
        first.note("a", UpstreamError("status", "boom", status=500, retry_after_s=30.0))
        assert first.remaining_s("a") == 30.0  # only a 429 cools a provider

    with_hosts(redis_server.url, body)
