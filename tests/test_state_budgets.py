"""Budget reservations in a real ``redis-server``: the reserve, settle and seed scripts, holds
expiring by the time the caller passes in, and settles queued while Redis is away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from coderouter.config import StateConfig
from coderouter.log import RequestLog
from coderouter.state.budgets import BudgetOutage, Hold, Limit, Refusal
from coderouter.state.redis_store import RedisStore
from coderouter.testing import RedisServer

MONTH = "2026-12"
TOTAL = Limit("total", 1.0)
OPENAI = Limit("provider:openai", 0.5)


def store_for(redis_server: RedisServer) -> RedisStore:
    store = RedisStore(
        StateConfig(backend="redis", url=redis_server.url, prefix="t:"),
        clock=lambda: 0.0,
        log=RequestLog(enabled=False),
    )
    store.retry_s = 0.05
    return store


def run(redis_server: RedisServer, body: Callable[[RedisStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = store_for(redis_server)
        await store.start()
        try:
            await body(store)
        finally:
            await store.stop()

    asyncio.run(main())


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def spent(store: RedisStore, key: str) -> float:
    client = store.client
    assert client is not None
    return float(await client.get(store.budgets.keys(MONTH, key)[0]) or 0)


async def holds(store: RedisStore, key: str) -> int:
    client = store.client
    assert client is not None
    return int(await client.zcard(store.budgets.keys(MONTH, key)[2]))


def test_a_reserve_past_the_limit_is_refused_naming_the_budget(redis_server: RedisServer) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        first = await book.reserve([TOTAL], 0.6, period=MONTH, now=100.0, ttl_s=60)
        assert isinstance(first, Hold)
        second = await book.reserve([TOTAL], 0.5, period=MONTH, now=101.0, ttl_s=60)
        assert second == Refusal(TOTAL, 0.0, 0.6)
        third = await book.reserve([TOTAL], 0.4, period=MONTH, now=101.0, ttl_s=60)
        assert isinstance(third, Hold)
        assert await holds(store, "total") == 2

    run(redis_server, body)


def test_the_first_budget_without_room_refuses_and_nothing_is_held(
    redis_server: RedisServer,
) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        refused = await book.reserve([TOTAL, OPENAI], 0.7, period=MONTH, now=0.0, ttl_s=60)
        assert isinstance(refused, Refusal) and refused.limit == OPENAI
        assert await holds(store, "total") == 0 and await holds(store, "provider:openai") == 0
        counted = await book.reserve(
            [Limit("key:alice", None)], 50.0, period=MONTH, now=0.0, ttl_s=60
        )
        assert isinstance(counted, Hold)  # a budget without a limit only counts

    run(redis_server, body)


def test_a_settle_adds_the_cost_and_frees_the_hold_once(redis_server: RedisServer) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        hold = await book.reserve([TOTAL, OPENAI], 0.4, period=MONTH, now=0.0, ttl_s=60)
        assert isinstance(hold, Hold)
        book.settle(hold, 0.1, now=1.0)
        book.settle(hold, 0.1, now=1.0)  # sent twice: counted once
        await until(lambda: book.settled == 2)
        assert await spent(store, "total") == pytest.approx(0.1)
        assert await spent(store, "provider:openai") == pytest.approx(0.1)
        assert await holds(store, "total") == 0
        # 0.1 spent, nothing held: 0.4 more fits under openai's 0.5, 0.95 more not under 1.0.
        assert isinstance(await book.reserve([OPENAI], 0.4, period=MONTH, now=2.0, ttl_s=60), Hold)
        refused = await book.reserve([TOTAL], 0.95, period=MONTH, now=2.0, ttl_s=60)
        assert refused == Refusal(TOTAL, pytest.approx(0.1), 0.0)

    run(redis_server, body)


def test_a_hold_expires_at_its_ttl_by_the_callers_clock(redis_server: RedisServer) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        # A host reserves and is killed: it never settles.
        assert isinstance(
            await book.reserve([TOTAL], 0.9, period=MONTH, now=1000.0, ttl_s=30), Hold
        )
        early = await book.reserve([TOTAL], 0.2, period=MONTH, now=1029.0, ttl_s=30)
        assert isinstance(early, Refusal) and early.held == pytest.approx(0.9)
        late = await book.reserve([TOTAL], 0.2, period=MONTH, now=1030.5, ttl_s=30)
        assert isinstance(late, Hold)
        assert await holds(store, "total") == 1  # the expired hold is gone, the new one stays

    run(redis_server, body)


def test_a_settle_after_its_hold_expired_still_counts_the_cost(redis_server: RedisServer) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        hold = await book.reserve([TOTAL], 0.5, period=MONTH, now=0.0, ttl_s=10)
        assert isinstance(hold, Hold)
        other = await book.reserve([TOTAL], 0.3, period=MONTH, now=20.0, ttl_s=10)
        assert isinstance(other, Hold)
        book.settle(hold, 0.45, now=21.0)
        await until(lambda: book.settled == 1)
        assert await spent(store, "total") == pytest.approx(0.45)
        assert await holds(store, "total") == 1
        refused = await book.reserve([TOTAL], 0.3, period=MONTH, now=22.0, ttl_s=10)
        assert refused == Refusal(TOTAL, pytest.approx(0.45), pytest.approx(0.3))

    run(redis_server, body)


def test_settles_wait_while_redis_is_away_and_are_sent_when_it_is_back(
    redis_server: RedisServer,
) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        hold = await book.reserve([TOTAL], 0.5, period=MONTH, now=0.0, ttl_s=600)
        assert isinstance(hold, Hold)
        redis_server.stop()
        book.settle(hold, 0.25, now=1.0)
        with pytest.raises(BudgetOutage):
            await book.reserve([TOTAL], 0.1, period=MONTH, now=2.0, ttl_s=600)
        await asyncio.sleep(0.2)
        assert len(book.backlog) == 1 and store.outage is not None
        # Open on outage: what Redis last said (0.5 held), the hold's settle waiting (0.25
        # instead of 0.5) and local holds in flight count.
        local = book.reserve_locally([TOTAL], 0.3, period=MONTH, now=3.0, ttl_s=600)
        assert isinstance(local, Hold) and local.local
        over = book.reserve_locally([TOTAL], 0.5, period=MONTH, now=3.0, ttl_s=600)
        assert over == Refusal(TOTAL, pytest.approx(0.25), pytest.approx(0.3))
        book.settle(local, 0.125, now=4.0)
        redis_server.start()
        await until(lambda: not book.backlog)
        assert await spent(store, "total") == pytest.approx(0.375)
        assert await holds(store, "total") == 0
        assert book.replayed == 1

    run(redis_server, body)


def test_a_seed_raises_the_spend_to_the_ledgers_and_never_lowers_it(
    redis_server: RedisServer,
) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        await book.seed(MONTH, {"total": 0.7, "provider:openai": 0.2})
        assert await spent(store, "total") == pytest.approx(0.7)
        await book.seed(MONTH, {"total": 0.5})
        assert await spent(store, "total") == pytest.approx(0.7)
        refused = await book.reserve([TOTAL], 0.4, period=MONTH, now=0.0, ttl_s=60)
        assert isinstance(refused, Refusal) and refused.spent == pytest.approx(0.7)

    run(redis_server, body)


async def pause_redis(store: RedisStore, ms: int) -> None:
    """Redis answers nobody for ``ms`` (it lifts the pause itself)."""
    client = store.client
    assert client is not None
    await client.client_pause(ms)


def test_a_reserve_its_caller_gave_up_on_before_it_was_sent_is_never_sent(
    redis_server: RedisServer,
) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        await pause_redis(store, 300)
        sent = asyncio.create_task(book.reserve([TOTAL], 0.25, period=MONTH, now=0.0, ttl_s=600))
        await until(lambda: book.rounds == 1)  # the sender now waits for Redis
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                book.reserve([TOTAL], 0.5, period=MONTH, now=0.0, ttl_s=600), 0.05
            )
        assert isinstance(await sent, Hold)
        after = await book.reserve([TOTAL], 0.125, period=MONTH, now=1.0, ttl_s=600)
        assert isinstance(after, Hold)
        assert book.commands == 2  # the first reserve and this one, nothing between
        assert await holds(store, "total") == 2

    run(redis_server, body)


def test_a_reserve_granted_after_its_caller_gave_up_is_released(
    redis_server: RedisServer,
) -> None:
    async def body(store: RedisStore) -> None:
        book = store.budgets
        await pause_redis(store, 300)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                book.reserve([TOTAL, OPENAI], 0.5, period=MONTH, now=0.0, ttl_s=600), 0.05
            )
        assert book.rounds == 1  # sent: Redis grants it when the pause ends
        await until(lambda: book.settled == 1)
        assert await holds(store, "total") == 0 and await holds(store, "provider:openai") == 0
        assert await spent(store, "total") == 0.0
        # Long before the hold's 600 s run out, the whole budget is free again.
        again = await book.reserve([TOTAL], 1.0, period=MONTH, now=1.0, ttl_s=600)
        assert isinstance(again, Hold)

    run(redis_server, body)
