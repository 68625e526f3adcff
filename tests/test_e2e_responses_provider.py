"""End to end: `kind = "openai_responses"` providers (OpenAI's Responses API upstream), reached
from each ingress with the official SDKs; the fake upstream answers as the Responses API
does."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    chat_completion,
    responses_body,
    responses_stream,
)

KEY_ENV = {"CR_TEST_OPENAI_KEY": "sk-upstream"}
TOOL = {"name": "read_file", "arguments": {"path": "a.py"}}


def responses_provider(upstream: FakeUpstream) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider(
            "openai",
            upstream,
            kind="openai_responses",
            model="gpt-5-codex",
            api_key_env="CR_TEST_OPENAI_KEY",
        )
        .profile("default", ["openai"])
    )


def openai_sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def anthropic_sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0)


def test_codex_requests_pass_through(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(responses_body("done", output_tokens=7)))
    proc = router_process(responses_provider(fake_upstream), env=KEY_ENV)
    response = openai_sdk(proc.url).responses.create(
        model="codex-mini",
        input="list the files",
        store=False,
        reasoning={"effort": "low"},
        extra_body={"prompt_cache_key": "session-1"},
    )
    assert response.output_text == "done"
    assert response.usage is not None and response.usage.output_tokens == 7
    sent = fake_upstream.requests[0]
    assert sent.path == "/v1/responses"
    assert sent.body["model"] == "gpt-5-codex"
    assert sent.body["prompt_cache_key"] == "session-1"
    assert sent.body["reasoning"] == {"effort": "low"}
    assert sent.headers["Authorization"] == "Bearer sk-upstream"


def test_codex_stream_is_relayed_and_the_sdk_accumulates_it(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    frames = responses_stream(["Hel", "lo"], tool_calls=[TOOL], output_tokens=9)
    fake_upstream.script(Answer.sse(frames, delay_s=0.005))
    proc = router_process(responses_provider(fake_upstream), env=KEY_ENV)
    with openai_sdk(proc.url).responses.stream(model="m", input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello"
    [call] = [item for item in final.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("read_file", {"path": "a.py"})
    assert final.usage is not None and final.usage.output_tokens == 9
    assert fake_upstream.requests[0].body["stream"] is True
    [record] = proc.wait_for_log(1)
    assert record["provider"] == "openai" and record["usage"]["output_tokens"] == 9


def test_claude_code_turns_are_translated(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        Answer.json(responses_body("", tool_calls=[TOOL], input_tokens=40, output_tokens=3)),
        Answer.sse(responses_stream(["All ", "good."], output_tokens=4)),
    )
    proc = router_process(responses_provider(fake_upstream), env=KEY_ENV)
    client = anthropic_sdk(proc.url)
    tools: Any = [
        {
            "name": "read_file",
            "description": "Read a file",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
    ]
    message = client.messages.create(
        model="claude-test",
        max_tokens=1024,
        system="You are a coding agent.",
        tools=tools,
        messages=[{"role": "user", "content": "read a.py"}],
    )
    [block] = message.content
    assert block.type == "tool_use" and block.name == "read_file"
    assert block.input == {"path": "a.py"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (40, 3)
    sent = fake_upstream.requests[0].body
    assert sent["model"] == "gpt-5-codex"
    assert sent["tools"][0]["name"] == "read_file" and sent["tools"][0]["type"] == "function"
    assert "You are a coding agent." in json.dumps(sent.get("instructions") or sent["input"])
    with client.messages.stream(
        model="claude-test",
        max_tokens=1024,
        messages=[
            {"role": "user", "content": "read a.py"},
            {"role": "assistant", "content": [block.model_dump()]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": block.id, "content": "print(1)"}
                ],
            },
        ],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "All good."
    assert final.usage.output_tokens == 4
    items = fake_upstream.requests[1].body["input"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert outputs and outputs[0]["output"] == "print(1)"


def test_chat_clients_are_translated(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(responses_body("from responses", cached_tokens=6)))
    proc = router_process(responses_provider(fake_upstream), env=KEY_ENV)
    completion = openai_sdk(proc.url).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "from responses"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 10
    assert fake_upstream.requests[0].path == "/v1/responses"


@pytest.mark.parametrize("status", [429, 500])
def test_a_failing_responses_provider_falls_back(
    router_process: Any, fake_upstreams: Any, status: int
) -> None:
    first, second = fake_upstreams(), fake_upstreams()
    first.script(Answer.error(status, "busy"))
    second.script(Answer.json(chat_completion("from chat")))
    builder = (
        ConfigBuilder()
        .provider("openai", first, kind="openai_responses")
        .provider("local", second)
        .profile("default", ["openai", "local"])
    )
    proc = router_process(builder)
    response = openai_sdk(proc.url).responses.create(model="m", input="hi")
    assert response.output_text == "from chat"
    assert first.count == 1 and second.count == 1


def test_a_responses_error_reaches_the_client_in_its_own_format(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.error(400, "Invalid value for 'input'"))
    proc = router_process(responses_provider(fake_upstream), env=KEY_ENV)
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk(proc.url).messages.create(
            model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert "Invalid value for 'input'" in caught.value.message
