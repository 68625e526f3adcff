"""A Chat client's ``reasoning_effort`` is the request's thinking setting: an Anthropic target
gets ``thinking`` with the effort's budget, a Responses target ``reasoning.effort``, a Chat
target that cannot think loses it (counted), and a bad value is a 400 in Chat's format.
Through `coderouter serve` with the official openai SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_message,
    chat_completion,
    responses_body,
)

MESSAGES: Any = [{"role": "user", "content": "think about it"}]


def client_for(router_process: Any, upstream: FakeUpstream, kind: str, **provider: Any) -> Any:
    built = (
        ConfigBuilder()
        .provider("target", upstream, kind=kind, model="target-model", **provider)
        .profile("default", ["target"])
    )
    router = router_process(built)
    return router, openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize(
    ("effort", "budget"), [("low", 1024), ("medium", 8192), ("high", 24576), ("xhigh", 32768)]
)
def test_an_anthropic_target_gets_thinking_with_the_efforts_budget(
    router_process: Any, fake_upstream: FakeUpstream, effort: str, budget: int
) -> None:
    fake_upstream.default = Answer.json(anthropic_message("done"))
    _, client = client_for(router_process, fake_upstream, "anthropic")
    answer = client.chat.completions.create(
        model="m", messages=MESSAGES, reasoning_effort=effort, max_tokens=40000
    )
    assert answer.choices[0].message.content == "done"
    (sent,) = fake_upstream.bodies()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert "reasoning_effort" not in sent


def test_a_budget_above_max_tokens_is_fitted_below_it(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(anthropic_message("done"))
    _, client = client_for(router_process, fake_upstream, "anthropic")
    client.chat.completions.create(
        model="m", messages=MESSAGES, reasoning_effort="high", max_tokens=4096
    )
    (sent,) = fake_upstream.bodies()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    assert sent["max_tokens"] == 4096


def test_effort_none_switches_anthropic_thinking_off(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(anthropic_message("done"))
    _, client = client_for(router_process, fake_upstream, "anthropic")
    client.chat.completions.create(model="m", messages=MESSAGES, reasoning_effort="none")
    (sent,) = fake_upstream.bodies()
    assert sent.get("thinking", {"type": "disabled"}) == {"type": "disabled"}


def test_a_responses_target_gets_reasoning_effort(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(responses_body("done"))
    _, client = client_for(router_process, fake_upstream, "openai_responses")
    answer = client.chat.completions.create(model="m", messages=MESSAGES, reasoning_effort="low")
    assert answer.choices[0].message.content == "done"
    (sent,) = fake_upstream.bodies()
    assert sent["reasoning"] == {"effort": "low"}


def test_a_chat_pass_through_keeps_the_clients_own_effort(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(chat_completion("done"))
    _, client = client_for(router_process, fake_upstream, "openai")
    client.chat.completions.create(model="m", messages=MESSAGES, reasoning_effort="minimal")
    (sent,) = fake_upstream.bodies()
    assert sent["reasoning_effort"] == "minimal"


def test_a_bad_effort_is_a_400_in_chats_format(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    _, client = client_for(router_process, fake_upstream, "anthropic")
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            reasoning_effort="loud",  # type: ignore[arg-type]
        )
    assert "reasoning_effort" in str(refused.value) and "xhigh" in str(refused.value)
    assert fake_upstream.bodies() == []
