"""Rate limits are remembered: a 429 with a time to wait puts its provider in a cooldown."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from coderouter.chains import Cooldowns
from coderouter.testing import Answer, ConfigBuilder, chat_completion
from coderouter.types import Chain, UpstreamError
from coderouter.upstream import parse_wait

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "3600"}, {"x-ratelimit-reset-requests": "59m0s"}],
)
def test_rate_limited_provider_is_skipped_until_its_reset(
    router_process: Any, fake_upstreams: Any, headers: dict[str, str]
) -> None:
    limited, spare = fake_upstreams(), fake_upstreams()
    limited.script(Answer.error(429, "slow down", headers=headers))
    spare.default = Answer.json(chat_completion("spare"))
    builder = (
        ConfigBuilder()
        .provider("limited", limited)
        .provider("spare", spare)
        .profile("default", ["limited", "spare"])
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    first = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert "limited=failed: HTTP 429" in first.headers["x-coderouter-fallback"]
    second = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert second.parse().choices[0].message.content == "spare"
    assert (
        "limited=skipped: rate limited (429), cooling down"
        in (second.headers["x-coderouter-fallback"])
    )
    assert limited.count == 1
    state = httpx.get(proc.url + "/-/plugins").json()
    assert 3000 < state["cooldowns"]["limited"]["remaining_s"] <= 3600


def test_every_provider_cooling_down_is_a_429_with_the_wait(
    router_process: Any, fake_upstream: Any
) -> None:
    fake_upstream.script(Answer.error(429, "slow down", headers={"retry-after": "120"}))
    builder = ConfigBuilder().provider("only", fake_upstream).profile("default", ["only"])
    proc = router_process(builder)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as limited:
            sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert 100 < int(limited.value.response.headers["retry-after"]) <= 120
    assert fake_upstream.count == 1


def test_cooldown_ends_on_the_clock() -> None:
    now = [100.0]
    cooldowns = Cooldowns(lambda: now[0])
    cooldowns.note("a", UpstreamError("status", "x", status=429, retry_after_s=30))
    cooldowns.note("b", UpstreamError("status", "x", status=500, retry_after_s=30))
    assert cooldowns.describe() == {"a": {"remaining_s": 30.0}}
    now[0] = 129.0
    assert cooldowns.remaining_s("a") == pytest.approx(1.0)
    now[0] = 130.5
    assert cooldowns.remaining_s("a") == 0.0
    assert cooldowns.describe() == {}
    assert cooldowns.apply(Chain("default", [])) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("12", 12.0), ("1.5", 1.5), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3s", 3723.0), ("x", None)],
)
def test_wait_headers(value: str, seconds: float | None) -> None:
    assert parse_wait(value) == (pytest.approx(seconds) if seconds is not None else None)
