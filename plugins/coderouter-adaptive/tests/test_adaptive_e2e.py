"""End to end: ``coderouter serve`` with the plugin enabled, a slow or failing fake upstream
next to a quick one, streamed and whole responses through the openai SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    chat_completion,
    chat_headers,
    chat_stream,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def config(slow: FakeUpstream, fast: FakeUpstream) -> ConfigBuilder:
    # "default" tries slow first; "fast_first" gives the quick provider traffic of its own,
    # so both have samples to compare.
    return (
        ConfigBuilder()
        .provider("slow", slow)
        .provider("fast", fast)
        .profile("default", ["slow", "fast"])
        .profile("fast_first", ["fast", "slow"])
        .plugin("adaptive")
    )


def learn(client: openai.OpenAI, stream: bool) -> None:
    for profile in ("fast_first", "default"):
        for _ in range(5):
            assert "x-coderouter-fallback" not in chat_headers(client, profile, stream=stream)


def test_streams_with_a_slow_first_token_move_the_provider_back(
    router_process: Any, fake_upstreams: Any
) -> None:
    slow = fake_upstreams(Answer.sse(chat_stream(), first_delay_s=0.3))
    fast = fake_upstreams(Answer.sse(chat_stream()))
    proc = router_process(config(slow, fast))
    client = sdk(proc.url)
    learn(client, stream=True)
    headers = chat_headers(client, "default", stream=True)
    assert headers["x-coderouter-provider"] == "fast"
    assert headers["x-coderouter-fallback"].startswith("slow=moved: median time to first token 0.3")
    assert "over 1.5x its peers'" in headers["x-coderouter-fallback"]
    assert (slow.count, fast.count) == (5, 6)
    [guard] = proc.wait_for_log(1, event="guard")
    assert (guard["plugin"], guard["provider"], guard["profile"], guard["demoted"]) == (
        "adaptive",
        "slow",
        "default",
        True,
    )
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["adaptive"]
    assert state["profiles"]["default"]["streams"]["ranking"] == ["fast", "slow"]
    assert list(state["profiles"]["default"]["streams"]["demoted"]) == ["slow"]
    assert state["profiles"]["default"]["whole_responses"]["ranking"] == ["slow", "fast"]
    assert state["providers"]["slow"]["ttft_samples"] == 5
    assert state["providers"]["slow"]["median_ttft_s"] >= 0.3


def test_slow_whole_responses_move_the_provider_back(
    router_process: Any, fake_upstreams: Any
) -> None:
    slow = fake_upstreams(Answer.hang(0.3, chat_completion("slow")))
    fast = fake_upstreams(Answer.json(chat_completion("fast")))
    proc = router_process(config(slow, fast))
    client = sdk(proc.url)
    learn(client, stream=False)
    headers = chat_headers(client, "default", stream=False)
    assert headers["x-coderouter-provider"] == "fast"
    assert headers["x-coderouter-fallback"].startswith("slow=moved: median latency 0.3")
    assert (slow.count, fast.count) == (5, 6)
    # Streams are judged on their own measure, of which there are no samples yet.
    assert "x-coderouter-fallback" not in chat_headers(client, "default", stream=True)


def test_a_failing_provider_moves_back_on_its_error_rate(
    router_process: Any, fake_upstreams: Any
) -> None:
    flaky = fake_upstreams(Answer.error(500, "boom"))
    steady = fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("flaky", flaky)
        .provider("steady", steady)
        .profile("default", ["flaky", "steady"])
        .plugin("adaptive")
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    for _ in range(5):
        assert chat_headers(client, "default", stream=False)["x-coderouter-fallback"] == (
            "flaky=failed: HTTP 500: boom"
        )
    headers = chat_headers(client, "default", stream=True)
    assert headers["x-coderouter-provider"] == "steady"
    assert headers["x-coderouter-fallback"] == (
        "flaky=moved: error rate 100% over 10% (5 of 5 in 60s)"
    )
    assert (flaky.count, steady.count) == (5, 6)
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["adaptive"]
    assert state["providers"]["flaky"]["error_rate"] == 1.0


def test_learning_on_the_anthropic_ingress_reorders_other_ingresses(
    router_process: Any, fake_upstreams: Any
) -> None:
    slow = fake_upstreams(Answer.sse(chat_stream(), first_delay_s=0.3))
    fast = fake_upstreams(Answer.sse(chat_stream()))
    proc = router_process(config(slow, fast))
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    for profile in ("fast_first", "default"):
        for _ in range(5):
            with client.messages.stream(model=profile, max_tokens=50, messages=MESSAGES) as stream:  # type: ignore[arg-type]
                assert stream.get_final_message().content[0].type == "text"
    headers = chat_headers(sdk(proc.url), "default", stream=True)
    assert headers["x-coderouter-provider"] == "fast"
    assert headers["x-coderouter-fallback"].startswith("slow=moved: median time to first token")
    assert slow.count == 5
