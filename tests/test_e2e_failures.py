"""Failures of local backends through ``coderouter serve``: empty answers, context overflow and
failures no retry can mend, with the official SDKs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_stream,
    chat_completion,
    chat_stream,
)

LLAMA_CPP = Path(__file__).parent / "fixtures" / "backends" / "llama-cpp-python-0.3.36"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LLAMA_CPP / f"{name}.json").read_text())
    return data


def replay(name: str) -> Answer:
    """What llama-cpp-python really answered, as a scripted answer."""
    data = recorded(name)
    if isinstance(data["body"], str):
        return Answer.sse([data["body"]]) if data["body"] else Answer.sse([])
    return Answer.json(data["body"], status=data["status"])


def two_providers(first: FakeUpstream, second: FakeUpstream, **first_settings: Any) -> Any:
    return (
        ConfigBuilder()
        .provider("local", first, model="qwen3:8b", **first_settings)
        .provider("spare", second)
        .profile("default", ["local", "spare"])
    )


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


def claude(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)


# --- empty answers ------------------------------------------------------------------------


def test_empty_answer_moves_on_non_stream(router_process: Any, fake_upstreams: Any) -> None:
    local, spare = fake_upstreams(replay("chat_empty")), fake_upstreams()
    spare.script(Answer.json(chat_completion("from the spare")))
    proc = router_process(two_providers(local, spare))
    response = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert response.parse().choices[0].message.content == "from the spare"
    assert "local=failed: empty_response" in response.headers["x-coderouter-fallback"]


def test_empty_stream_is_held_and_moves_on(router_process: Any, fake_upstreams: Any) -> None:
    local, spare = fake_upstreams(replay("chat_stream_empty")), fake_upstreams()
    spare.script(Answer.sse(chat_stream(["from ", "the spare"])))
    proc = router_process(two_providers(local, spare))
    with claude(proc.url).messages.stream(model="m", max_tokens=100, messages=MESSAGES) as s:
        final = s.get_final_message()
        headers = s.response.headers
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].type == "text" and final.content[0].text == "from the spare"
    assert headers["x-coderouter-provider"] == "spare"
    assert local.count == 1


def test_only_empty_answers_are_a_502(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default = replay("chat_stream_empty")
    builder = ConfigBuilder().provider("local", fake_upstream).profile("default", ["local"])
    proc = router_process(builder)
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(proc.url).responses.create(model="m", input="hi", stream=True)
    assert failed.value.status_code == 502
    assert "empty_response" in str(failed.value.message)


# --- context overflow -----------------------------------------------------------------------


def test_context_overflow_falls_back(router_process: Any, fake_upstreams: Any) -> None:
    local, spare = fake_upstreams(replay("chat_context_overflow")), fake_upstreams()
    spare.script(Answer.json(chat_completion("it fits here")))
    proc = router_process(two_providers(local, spare))
    answer = claude(proc.url).messages.create(model="m", max_tokens=100, messages=MESSAGES)
    assert answer.content[0].type == "text" and answer.content[0].text == "it fits here"


def test_context_overflow_everywhere_is_prompt_too_long(
    router_process: Any, fake_upstreams: Any
) -> None:
    small = fake_upstreams(replay("chat_context_overflow"))
    anthropic_small = fake_upstreams(
        Answer.json(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 3020 tokens > 2500 maximum",
                },
            },
            status=400,
        )
    )
    builder = (
        ConfigBuilder()
        .provider("llamacpp", small)
        .provider("claude", anthropic_small, kind="anthropic")
        .profile("default", ["llamacpp", "claude"])
    )
    proc = router_process(builder)
    with pytest.raises(anthropic.BadRequestError) as failed:
        claude(proc.url).messages.create(model="m", max_tokens=100, messages=MESSAGES)
    assert failed.value.body["error"]["message"] == (  # type: ignore[index]
        "prompt is too long: 3020 tokens > 2500 maximum"
    )
    with pytest.raises(openai.BadRequestError) as chat_failed:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert chat_failed.value.code == "context_length_exceeded"


def test_context_overflow_in_an_anthropic_stream_falls_back(
    router_process: Any, fake_upstreams: Any
) -> None:
    error = 'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error",'
    error += '"message":"prompt is too long: 210000 tokens > 200000 maximum"}}\n\n'
    local, spare = fake_upstreams(Answer.sse([error])), fake_upstreams()
    spare.script(Answer.sse(anthropic_stream(["fine"])))
    builder = (
        ConfigBuilder()
        .provider("claude", local, kind="anthropic")
        .provider("spare", spare, kind="anthropic")
        .profile("default", ["claude", "spare"])
    )
    proc = router_process(builder)
    with claude(proc.url).messages.stream(model="m", max_tokens=100, messages=MESSAGES) as s:
        final = s.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "fine"


# --- failures no retry mends ----------------------------------------------------------------


def test_every_provider_refusing_the_key_is_a_401_naming_it(
    router_process: Any, fake_upstreams: Any
) -> None:
    local = fake_upstreams(Answer.error(401, "invalid x-api-key"))
    builder = (
        ConfigBuilder()
        .provider("claude", local, kind="anthropic", api_key_env="CR_TEST_UNSET_KEY")
        .profile("default", ["claude"])
    )
    proc = router_process(builder)
    with pytest.raises(anthropic.AuthenticationError) as failed:
        claude(proc.url).messages.create(model="m", max_tokens=100, messages=MESSAGES)
    message = failed.value.body["error"]["message"]  # type: ignore[index]
    assert "provider 'claude' answered 401" in message
    assert "CR_TEST_UNSET_KEY is not set" in message


def test_model_missing_everywhere_is_a_404_naming_the_model(
    router_process: Any, fake_upstreams: Any
) -> None:
    missing = {"error": {"message": 'model "qwen3:8b" not found, try pulling it first'}}
    local = fake_upstreams(Answer.json(missing, status=404))
    builder = ConfigBuilder().provider("ollama", local, model="qwen3:8b")
    proc = router_process(builder.profile("default", ["ollama"]))
    with pytest.raises(openai.NotFoundError) as failed:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert "model 'qwen3:8b' is not pulled" in failed.value.message


def test_mixed_failures_stay_a_502(router_process: Any, fake_upstreams: Any) -> None:
    local = fake_upstreams(Answer.error(404, "no such model"))
    spare = fake_upstreams(Answer.error(500, "boom"))
    proc = router_process(two_providers(local, spare))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert failed.value.status_code == 502
