"""Named ingress keys: ``[[server.keys]]`` config errors, the key lookup, and the token bucket
in the embedded store and in Redis (two stores as two hosts), each on a fake clock."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from coderouter.config import ConfigError, StateConfig
from coderouter.log import RequestLog
from coderouter.security import key_ring
from coderouter.state import EmbeddedStore
from coderouter.state.redis_store import RedisStore
from coderouter.testing import ConfigBuilder, FakeClock, RedisServer

ALICE_DIGEST = hashlib.sha256(b"alice-key").hexdigest()


def builder(*keys: dict[str, Any], **server: Any) -> ConfigBuilder:
    built = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .profile("default", ["local"])
        .profile("night", ["local"])
    )
    return built.server(keys=list(keys), **server)


def error_of(built: ConfigBuilder) -> str:
    with pytest.raises(ConfigError) as info:
        built.build()
    return str(info.value)


# --- config -----------------------------------------------------------------------------------


def test_a_good_key_table_parses_with_its_defaults() -> None:
    config = builder(
        {"name": "alice", "sha256": ALICE_DIGEST, "profiles": ["night"], "requests_per_minute": 90}
    ).build()
    (key,) = config.server.keys
    assert (key.name, key.profiles, key.monthly_budget_usd) == ("alice", ["night"], None)
    assert key.rate_per_s == 1.5
    assert key.bucket_size == 2  # one second's worth of the rate without a burst


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            [{"name": "a", "key_env": "A", "sha256": ALICE_DIGEST}],
            "server.keys[0]: set exactly one of key_env",
        ),
        ([{"name": "a"}], "server.keys[0]: set exactly one of key_env"),
        (
            [{"name": "a", "key_env": "A"}, {"name": "a", "key_env": "B"}],
            "server.keys[1].name: duplicate key name 'a'",
        ),
        ([{"name": "a b", "key_env": "A"}], "server.keys[0].name: 'a b' is not a valid key name"),
        (
            [{"name": "a", "sha256": "abc"}],
            "server.keys[0].sha256: expected 64 hex digits",
        ),
        (
            [{"name": "a", "key_env": "A", "profiles": ["day"]}],
            "server.keys[0].profiles: unknown profile 'day' (known: default, night)",
        ),
        (
            [{"name": "a", "key_env": "A"}, {"name": "b", "key_env": "B", "burst": 5}],
            "server.keys[1].burst: needs requests_per_minute",
        ),
        (
            [{"name": "a", "key_env": "A", "requests_per_minute": 10, "burst": 0}],
            "server.keys[0].burst: must be at least 1, got 0",
        ),
        (
            [{"name": "a", "key_env": "A", "monthly_budget_usd": -1}],
            "server.keys[0].monthly_budget_usd: must be positive, got -1",
        ),
        (
            [{"name": "a", "key_env": "A", "rate": 5}],
            "server.keys[0].rate: unknown key (valid keys: burst, key_env, monthly_budget_usd,",
        ),
        (
            [{"name": "a", "key_env": 5}],
            "server.keys[0].key_env: expected a string, got 5",
        ),
    ],
)
def test_bad_key_tables_name_the_key_path_and_what_is_valid(
    keys: list[dict[str, Any]], expected: str
) -> None:
    assert expected in error_of(builder(*keys))


def test_default_is_the_name_of_the_api_keys_env_keys() -> None:
    message = error_of(builder({"name": "default", "key_env": "A"}, api_keys_env="KEYS"))
    assert "server.keys[0].name: 'default' names the keys of server.api_keys_env" in message
    assert builder({"name": "default", "key_env": "A"}).build().server.keys[0].name == "default"


def test_an_unset_key_env_is_an_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEROUTER_TEST_BOB", raising=False)
    config = builder(
        {"name": "alice", "sha256": ALICE_DIGEST}, {"name": "bob", "key_env": "CODEROUTER_TEST_BOB"}
    ).build()
    with pytest.raises(ConfigError) as info:
        key_ring(config)
    assert "server.keys[1].key_env: the environment variable CODEROUTER_TEST_BOB" in str(info.value)
    assert "(key 'bob') is unset or empty" in str(info.value)


def test_one_key_given_twice_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEROUTER_TEST_BOB", "alice-key")
    monkeypatch.setenv("CODEROUTER_TEST_KEYS", "alice-key")
    twice = builder(
        {"name": "alice", "sha256": ALICE_DIGEST}, {"name": "bob", "key_env": "CODEROUTER_TEST_BOB"}
    )
    with pytest.raises(ConfigError) as info:
        key_ring(twice.build())
    assert "server.keys[1]: key 'bob' is the same key as server.keys[0] ('alice')" in str(
        info.value
    )
    with pytest.raises(ConfigError) as info:
        key_ring(
            builder(
                {"name": "alice", "sha256": ALICE_DIGEST}, api_keys_env="CODEROUTER_TEST_KEYS"
            ).build()
        )
    assert "server.keys[0]: key 'alice' is the same key as server.api_keys_env" in str(info.value)


# --- the lookup -------------------------------------------------------------------------------


def test_a_key_resolves_to_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEROUTER_TEST_BOB", " bob-key ")
    monkeypatch.setenv("CODEROUTER_TEST_KEYS", "old-1,old-2")
    ring = key_ring(
        builder(
            {"name": "alice", "sha256": ALICE_DIGEST},
            {"name": "bob", "key_env": "CODEROUTER_TEST_BOB"},
            api_keys_env="CODEROUTER_TEST_KEYS",
        ).build()
    )
    assert ring.name_of(b"alice-key") == "alice"
    assert ring.name_of(b"bob-key") == "bob"
    assert ring.name_of(b"old-2") == "default"
    assert ring.name_of(ALICE_DIGEST.encode()) is None  # the digest is not the key
    assert ring.name_of(b"") is None
    assert not key_ring(builder().build())


# --- token buckets ----------------------------------------------------------------------------


def test_the_embedded_bucket_lets_a_burst_through_then_refills_at_the_rate() -> None:
    clock = FakeClock(100.0)
    store = EmbeddedStore(clock)

    def take() -> float:
        return asyncio.run(store.take_token("key:a", 0.5, 2))

    assert [take(), take()] == [0.0, 0.0]
    assert take() == pytest.approx(2.0)  # one token takes 2 s at 0.5 a second
    clock.advance(1.0)
    assert take() == pytest.approx(1.0)
    clock.advance(1.0)
    assert take() == 0.0
    clock.advance(60.0)
    assert [take(), take(), take() > 0] == [0.0, 0.0, True]  # refilled to the burst, no more
    clock.now = 0.0  # a clock that steps back gives nothing
    assert take() > 0


def test_the_redis_bucket_is_one_bucket_for_two_hosts(redis_server: RedisServer) -> None:
    wall = FakeClock(1_000.0)

    def host() -> RedisStore:
        config = StateConfig(backend="redis", url=redis_server.url, prefix="t:")
        return RedisStore(config, clock=FakeClock(5.0), log=RequestLog(enabled=False), wall=wall)

    async def body() -> None:
        one, two = host(), host()
        await one.start()
        await two.start()
        try:
            assert await one.take_token("key:a", 1.0, 2) == 0.0
            assert await two.take_token("key:a", 1.0, 2) == 0.0
            assert await one.take_token("key:a", 1.0, 2) == pytest.approx(1.0)
            assert await two.take_token("key:b", 1.0, 2) == 0.0  # another key, another bucket
            wall.advance(0.5)
            assert await two.take_token("key:a", 1.0, 2) == pytest.approx(0.5)
            wall.advance(0.5)
            assert await two.take_token("key:a", 1.0, 2) == 0.0
            assert await one.take_token("key:a", 1.0, 2) > 0
            redis_server.stop()
            # Redis gone: each host's own bucket answers, and the outage is on record.
            assert await one.take_token("key:a", 1.0, 2) == 0.0
            assert one.outage is not None
        finally:
            await one.stop()
            await two.stop()

    asyncio.run(body())


# --- the dashboard sign-in --------------------------------------------------------------------


def test_a_key_stored_as_its_digest_signs_in_on_the_dashboard(
    app_client: Any, tmp_path: Any
) -> None:
    config = (
        builder({"name": "alice", "sha256": ALICE_DIGEST})
        .router(state_dir=str(tmp_path))
        .plugin("metrics")
        .build()
    )
    client = app_client(config)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.simulate_post("/dashboard", body="key=wrong", headers=form).status_code == 401
    signed = client.simulate_post("/dashboard", body="key=alice-key", headers=form)
    assert signed.status_code == 303
    cookie = signed.cookies["coderouter_metrics_json"].value
    assert "alice-key" not in cookie and ALICE_DIGEST not in cookie
    page = client.simulate_get(
        "/metrics.json", headers={"cookie": f"coderouter_metrics_json={cookie}"}
    )
    assert page.status_code == 200
    assert client.simulate_get("/metrics.json").status_code == 401
