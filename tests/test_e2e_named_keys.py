"""Named keys through `coderouter serve`, with the official SDKs: each key's allowed profiles
(403), request rate (429 with retry-after), monthly budget (429 naming it), its requests and
spend in `coderouter stats --by key` and the metrics; one rate limit across two hosts sharing
one real Redis."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, RedisServer, chat_completion

MESSAGES: Any = [{"role": "user", "content": "hi"}]
# $0.10 per fresh input token: the fake answer's 10 prompt tokens cost one dollar.
DOLLAR_A_REQUEST = {"input_per_mtok": 100_000.0, "output_per_mtok": 0.0}
ENV = {"CODEROUTER_ALLOW_PAID": "1", "CODEROUTER_TEST_ALICE": "alice-key"}
BOB_DIGEST = hashlib.sha256(b"bob-key").hexdigest()


def chat(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def messages(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)


def keys_builder(upstream: FakeUpstream, state_dir: Path) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("paid", upstream, paid=True, model="gpt-4.1", cost=DOLLAR_A_REQUEST)
        .profile("default", ["paid"])
        .profile("night", ["paid"])
        .plugin("cost")
        .plugin("metrics")
        .router(state_dir=str(state_dir))
        .server(
            keys=[
                {
                    "name": "alice",
                    "key_env": "CODEROUTER_TEST_ALICE",
                    "profiles": ["default"],
                    "monthly_budget_usd": 2,
                },
                {"name": "bob", "sha256": BOB_DIGEST, "requests_per_minute": 1, "burst": 2},
            ]
        )
    )


def stats(config: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "coderouter.cli", "stats", "--config", config, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout) if "--json" in args else done.stdout


def test_two_named_keys_with_their_profiles_rates_and_budgets(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    proc = router_process(keys_builder(fake_upstream, tmp_path), env=ENV)

    # alice: two one-dollar requests, then her $2 budget is spent.
    for _ in range(2):
        answer = chat(proc.url, "alice-key").chat.completions.create(model="m", messages=MESSAGES)
        assert answer.choices[0].message.content == "hello"
    with pytest.raises(openai.RateLimitError) as over:
        chat(proc.url, "alice-key").chat.completions.create(model="m", messages=MESSAGES)
    assert "key 'alice' monthly budget $2.00 reached (spent $2.00 in" in over.value.message
    assert int(over.value.response.headers["retry-after"]) >= 1
    # ... and the night profile is not hers, whatever her budget.
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        messages(proc.url, "alice-key").messages.create(
            model="m",
            max_tokens=16,
            messages=MESSAGES,
            extra_headers={"x-coderouter-profile": "night"},
        )
    assert refused.value.status_code == 403
    assert "key 'alice' may not use profile 'night' (its profiles: default)" in str(
        refused.value.message
    )
    assert len(fake_upstream.requests) == 2

    # bob: a burst of two, then over his rate of one a minute (any profile is his).
    bob = messages(proc.url, "bob-key")
    for profile in ("default", "night"):
        reply = bob.messages.create(
            model="m",
            max_tokens=16,
            messages=MESSAGES,
            extra_headers={"x-coderouter-profile": profile},
        )
        assert reply.content[0].text == "hello"  # type: ignore[union-attr]
    with pytest.raises(anthropic.RateLimitError) as limited:
        bob.messages.create(model="m", max_tokens=16, messages=MESSAGES)
    assert "key 'bob' is over its rate limit of 1 requests per minute (burst 2)" in str(
        limited.value.message
    )
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert len(fake_upstream.requests) == 4
    with pytest.raises(openai.AuthenticationError):
        chat(proc.url, "carol-key").chat.completions.create(model="m", messages=MESSAGES)

    (limited_event,) = proc.wait_for_log(1, event="key_rate_limited")
    assert (limited_event["key"], limited_event["path"]) == ("bob", "/v1/messages")
    logs = proc.wait_for_log(6)
    assert [(r["key"], r["status"]) for r in logs] == [
        ("alice", 200),
        ("alice", 200),
        ("alice", 429),
        ("alice", 403),
        ("bob", 200),
        ("bob", 200),
    ]

    # The ledger, per key.
    report = stats(proc.config_path, "--by", "key", "--json")
    assert [(g["key"], g["requests"], g["cost_usd"]) for g in report["groups"]] == [
        ("alice", 2, 2.0),
        ("bob", 2, 2.0),
    ]
    assert [b for b in report["budgets"] if b["scope"] == "key"] == [
        {
            "scope": "key",
            "name": "alice",
            "budget_usd": 2.0,
            "spent_usd": 2.0,
            "month": report["budgets"][0]["month"],
            "reached": True,
        }
    ]
    text = stats(proc.config_path, "--by", "key")
    assert "key alice  $2.00 of $2.00 (100%)  REACHED" in text

    plugins = httpx.get(proc.url + "/-/plugins", headers={"x-api-key": "bob-key"}).json()
    assert plugins["keys"] == [
        {
            "name": "alice",
            "from": "env CODEROUTER_TEST_ALICE",
            "profiles": ["default"],
            "monthly_budget_usd": 2.0,
            "requests_per_minute": None,
            "burst": None,
        },
        {
            "name": "bob",
            "from": "sha256",
            "profiles": "all",
            "monthly_budget_usd": None,
            "requests_per_minute": 1.0,
            "burst": 2,
        },
    ]
    assert BOB_DIGEST not in json.dumps(plugins)

    # The metrics, per key.
    scrape = httpx.get(proc.url + "/metrics", headers={"x-api-key": "bob-key"}).text
    assert 'coderouter_cost_usd_total{key="alice",profile="default",provider="paid"} 2.0' in scrape
    assert 'coderouter_cost_usd_total{key="bob",profile="night",provider="paid"} 1.0' in scrape
    assert (
        'coderouter_requests_total{ingress="anthropic",key="alice",outcome="rejected",'
        'profile="night",provider=""} 1.0'
    ) in scrape
    summary = httpx.get(proc.url + "/metrics.json", headers={"x-api-key": "bob-key"}).json()
    assert [(k["name"], k["requests"], k["cost_usd"]) for k in summary["keys"]] == [
        ("alice", 4, 2.0),
        ("bob", 2, 2.0),
    ]


def two_hosts(
    router_process: Any,
    tmp_path: Path,
    redis_server: RedisServer,
    built: Callable[[], ConfigBuilder],
    **kwargs: Any,
) -> list[Any]:
    """Two `coderouter serve` hosts with their own state dirs on one Redis."""
    hosts = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        config = built().router(state_dir=str(folder / "state"))
        config.state(backend="redis", url=redis_server.url, prefix=f"{tmp_path.name}:")
        hosts.append(router_process(config.write(folder), **kwargs))
    return hosts


def test_a_key_rate_is_one_limit_across_two_hosts_on_one_redis(
    router_process: Any, fake_upstream: FakeUpstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    bob = {"name": "bob", "sha256": BOB_DIGEST, "requests_per_minute": 1, "burst": 2}
    hosts = two_hosts(
        router_process,
        tmp_path,
        redis_server,
        lambda: (
            ConfigBuilder()
            .provider("local", fake_upstream)
            .profile("default", ["local"])
            .server(keys=[bob])
        ),
    )
    one, two = hosts
    assert chat(one.url, "bob-key").chat.completions.create(model="m", messages=MESSAGES)
    assert messages(two.url, "bob-key").messages.create(model="m", max_tokens=16, messages=MESSAGES)
    for host in hosts:
        answer = httpx.post(
            host.url + "/v1/chat/completions",
            json={"model": "m", "messages": MESSAGES},
            headers={"authorization": "Bearer bob-key"},
        )
        assert answer.status_code == 429
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert len(fake_upstream.requests) == 2


def test_a_key_budget_is_one_more_reservation_across_two_hosts(
    router_process: Any, fake_upstream: FakeUpstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    # Output tokens only, $0.20 each: the fake answer (5 completion tokens) costs one dollar,
    # and so does its reservation for max_tokens = 5.
    fake_upstream.default = Answer.hang(0.3, chat_completion("fine"))
    keys = [
        {"name": "team", "key_env": "CODEROUTER_TEST_ALICE", "monthly_budget_usd": 3},
        {"name": "solo", "sha256": BOB_DIGEST},
    ]
    hosts = two_hosts(
        router_process,
        tmp_path,
        redis_server,
        lambda: (
            ConfigBuilder()
            .provider(
                "paid",
                fake_upstream,
                paid=True,
                model="gpt-4.1",
                cost={"input_per_mtok": 0.0, "output_per_mtok": 200_000.0},
            )
            .profile("default", ["paid"])
            .plugin("cost")
            .server(keys=keys)
        ),
        env=ENV,
    )
    statuses: list[int] = []
    refusals: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            chat(hosts[n % 2].url, "alice-key").chat.completions.create(
                model="m", max_tokens=5, messages=MESSAGES
            )
            status = 200
        except openai.APIStatusError as exc:
            status = exc.status_code
            with lock:
                refusals.append(exc.message)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 3 + [429] * 5
    assert all("key 'team' monthly budget $3.00 reached" in text for text in refusals), refusals
    # Another key has no budget of its own.
    answer = chat(hosts[1].url, "bob-key").chat.completions.create(
        model="m", max_tokens=5, messages=MESSAGES
    )
    assert answer.choices[0].message.content == "fine"
    assert fake_upstream.count == 4
