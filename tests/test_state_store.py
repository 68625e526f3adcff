"""The state store: ``[state]`` config errors, and the Redis store against a real
``redis-server`` — two stores stand for two hosts (each with its own clock), sharing records,
carrying clock readings as wall time, and falling back to local state while Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

from coderouter.config import ConfigError, StateConfig
from coderouter.log import RequestLog
from coderouter.state import EmbeddedStore, MemoryRecords, clock_field
from coderouter.state.redis_records import RedisRecords
from coderouter.state.redis_store import RedisStore, redacted
from coderouter.testing import ConfigBuilder, FakeClock, RedisServer


@attrs.define
class Seen:
    count: int = 0
    last_at: float | None = clock_field()
    note: str = ""


class Host:
    """One store with its own clock, wall time and log, as one host would have them."""

    def __init__(self, url: str, *, clock: float, wall: float, prefix: str = "t:") -> None:
        self.clock = FakeClock(clock)
        self.wall = FakeClock(wall)
        self.events: list[dict[str, Any]] = []
        log = RequestLog(enabled=False)
        log.listeners.append(self.events.append)
        self.store = RedisStore(
            StateConfig(backend="redis", url=url, prefix=prefix),
            clock=self.clock,
            log=log,
            wall=self.wall,
        )
        self.store.retry_s = 0.05
        self.records: RedisRecords[Seen] = self.store.records("guard", MemoryRecords(Seen))

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


# --- config --------------------------------------------------------------------------------------


def test_state_defaults_to_the_embedded_store() -> None:
    config = (
        ConfigBuilder().provider("a", "http://127.0.0.1:9/v1").profile("default", ["a"]).build()
    )
    assert config.state == StateConfig()
    assert config.state.backend == "embedded" and config.state.on_outage == "closed"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"backend": "memcached"},
            "state.backend: unknown value 'memcached' (valid: embedded, redis)",
        ),
        ({"on_outage": "maybe"}, "state.on_outage: unknown value 'maybe' (valid: closed, open)"),
        ({"backend": "redis"}, 'state.url: required when state.backend is "redis"'),
        (
            {"backend": "redis", "url": "http://r:6379"},
            "state.url: unknown scheme in 'http://r:6379' (valid: redis://, rediss://, unix://)",
        ),
        ({"backend": "redis", "url": "redis://r", "prefix": ""}, "state.prefix: must not be empty"),
        ({"ttl": 3}, "state.ttl"),
    ],
)
def test_bad_state_settings_name_the_key_and_the_choices(
    settings: dict[str, Any], message: str
) -> None:
    builder = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .state(**settings)
    )
    with pytest.raises(ConfigError) as info:
        builder.build()
    assert message in str(info.value)


def test_the_password_never_shows() -> None:
    assert redacted("redis://app:s3cret@r.example:6380/2") == "redis://app:***@r.example:6380/2"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_password_in_the_query_never_shows() -> None:
    # redis-py reads ?password= as the password, so it is as secret as user:password@.
    assert redacted("redis://r.example:6380/2?password=s3cret") == "redis://r.example:6380/2"
    assert (
        redacted("unix:///run/redis.sock?db=1&password=s3cret&protocol=3")
        == "unix:///run/redis.sock?db=1&protocol=3"
    )


def test_the_embedded_store_hands_back_the_workers_own_records() -> None:
    local: MemoryRecords[Seen] = MemoryRecords(Seen)
    assert EmbeddedStore().records("guard", local) is local


# --- sharing -------------------------------------------------------------------------------------


def test_a_record_saved_on_one_host_reaches_the_other_with_its_time_in_that_hosts_clock(
    redis_server: RedisServer,
) -> None:
    async def body() -> None:
        # Both hosts agree on wall time (1000.0) but their monotonic clocks differ by 500 s.
        one = Host(redis_server.url, clock=100.0, wall=1000.0)
        two = Host(redis_server.url, clock=600.0, wall=1000.0)
        await one.store.start()
        await two.store.start()
        try:
            seen = one.records.record("a")
            seen.count, seen.last_at, seen.note = 3, 95.0, "HTTP 500"
            one.records.save("a", seen)
            await until(lambda: two.records.get("a") is not None)
            got = two.records.get("a")
            assert got == Seen(count=3, last_at=595.0, note="HTTP 500")
            assert list(two.records) == ["a"]
            assert one.records.get("a") is seen  # its own echo does not replace its record
        finally:
            await one.store.stop()
            await two.store.stop()

    run(body)


def test_a_host_that_starts_later_loads_what_is_stored(redis_server: RedisServer) -> None:
    async def body() -> None:
        one = Host(redis_server.url, clock=0.0, wall=50.0)
        await one.store.start()
        one.records.save("a", Seen(count=7, last_at=10.0))
        await until(lambda: not one.store.describe()["pending_writes"])
        await asyncio.sleep(0.05)
        late = Host(redis_server.url, clock=0.0, wall=50.0)
        await late.store.start()  # returns after its first load
        try:
            assert late.records.get("a") == Seen(count=7, last_at=10.0)
        finally:
            await one.store.stop()
            await late.store.stop()

    run(body)


def test_another_prefix_is_another_fleet(redis_server: RedisServer) -> None:
    async def body() -> None:
        one = Host(redis_server.url, clock=0.0, wall=0.0, prefix="blue:")
        two = Host(redis_server.url, clock=0.0, wall=0.0, prefix="green:")
        three = Host(redis_server.url, clock=0.0, wall=0.0, prefix="blue:")
        for host in (one, two, three):
            await host.store.start()
        try:
            one.records.save("a", Seen(count=1))
            await until(lambda: three.records.get("a") is not None)
            assert two.records.get("a") is None
        finally:
            for host in (one, two, three):
                await host.store.stop()

    run(body)


def test_pending_writes_are_bounded_and_coalesced_per_record(redis_server: RedisServer) -> None:
    host = Host(redis_server.url, clock=0.0, wall=0.0)
    host.store.max_pending = 3
    # Not started: nothing drains the map, as while Redis is away.
    for n in range(10):
        host.records.save("a", Seen(count=n))
    assert host.store.describe()["pending_writes"] == 1
    for name in "bcde":
        host.records.save(name, Seen())
    described = host.store.describe()
    assert described["pending_writes"] == 3 and described["dropped_writes"] == 2


def test_a_store_started_again_on_another_event_loop_writes_what_waited(
    redis_server: RedisServer,
) -> None:
    host = Host(redis_server.url, clock=0.0, wall=0.0)
    reader = Host(redis_server.url, clock=0.0, wall=0.0)

    async def first() -> None:
        await host.store.start()
        await host.store.stop()

    async def second() -> None:
        await reader.store.start()
        await host.store.start()
        try:
            await until(lambda: reader.records.get("a") == Seen(count=2))
        finally:
            await host.store.stop()
            await reader.store.stop()

    run(first)
    host.records.save("a", Seen(count=2))  # saved between the two lifespans
    run(second)


# --- outages -------------------------------------------------------------------------------------


def test_redis_going_away_leaves_local_state_logged_once_then_shared_again(
    redis_server: RedisServer,
) -> None:
    async def body() -> None:
        one = Host(redis_server.url, clock=0.0, wall=0.0)
        two = Host(redis_server.url, clock=0.0, wall=0.0)
        await one.store.start()
        await two.store.start()
        try:
            redis_server.stop()
            await until(lambda: one.store.outage is not None)
            for n in range(5):
                one.records.save("a", Seen(count=n))  # never waits, however long Redis is away
            assert one.records.get("a") == Seen(count=4)
            await asyncio.sleep(0.3)
            assert one.kinds().count("state_outage") == 1
            assert one.events[0]["url"] == redis_server.url
            assert one.store.describe()["connected"] is False
            assert one.store.describe()["outage"]["error"]
            assert "Redis unreachable" in one.records.scope

            redis_server.start()
            await until(lambda: two.records.get("a") == Seen(count=4))
            await until(lambda: one.store.outage is None)
            assert one.kinds() == ["state_outage", "state_restored"]
            assert one.store.describe()["connected"] is True
            assert one.records.scope.startswith("shared through Redis")
        finally:
            await one.store.stop()
            await two.store.stop()

    run(body)


def test_a_store_that_cannot_reach_redis_at_start_still_starts() -> None:
    async def body() -> None:
        from coderouter.testing import free_port

        host = Host(f"redis://127.0.0.1:{free_port()}/0", clock=0.0, wall=0.0)
        await asyncio.wait_for(host.store.start(), 3.0)
        try:
            host.records.save("a", Seen(count=1))
            assert host.records.get("a") == Seen(count=1)
            assert host.kinds() == ["state_outage"]
        finally:
            await host.store.stop()

    run(body)
