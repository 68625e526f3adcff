"""End to end: ``coderouter serve`` with ``output_filters`` (and ``tool_repair``) enabled, a
fake OpenAI-kind upstream leaking think blocks, markers and reasoning, the openai SDK as the
client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
LEAKY = "<think>\nThe user asks about France.\n</think>\n\nParis.<|im_end|>\n<|im_start|>"


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def start(router_process: Any, upstream: FakeUpstream, **settings: Any) -> Any:
    builder = (
        ConfigBuilder()
        .provider("local", upstream)
        .profile("default", ["local"])
        .plugin("output_filters", **settings)
    )
    return router_process(builder)


@pytest.fixture
def router(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    return start(router_process, fake_upstream)


def test_non_stream_think_markers_and_reasoning_are_removed(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(chat_completion(LEAKY, reasoning="hidden chain")))
    raw = httpx.post(router.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    message = raw.json()["choices"][0]["message"]
    assert message["content"] == "Paris.\n"
    assert "reasoning_content" not in message
    assert raw.headers["x-coderouter-provider"] == "local"
    assert fake_upstream.count == 1
    [record] = router.wait_for_log(1)
    assert record["output_filters"] == {"reasoning_blocks": 1, "think_blocks": 1, "markers": 2}


def test_stream_split_inside_every_tag_is_cleaned(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.sse(chat_stream(pieces(LEAKY), reasoning=["hid", "den"])))
    with sdk(router.url).chat.completions.stream(model="m", messages=MESSAGES) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == "Paris.\n"
    assert completion.choices[0].finish_reason == "stop"
    assert "reasoning_content" not in (completion.choices[0].message.model_extra or {})


def test_raw_stream_carries_no_reasoning_and_no_marker(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.sse(chat_stream(pieces(LEAKY, 2), reasoning=["thought"])))
    with httpx.stream(
        "POST",
        router.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:
        body = "".join(response.iter_text())
    assert "reasoning_content" not in body and "thought" not in body
    assert "im_end" not in body and "think" not in body
    contents = [
        json.loads(line[6:])["choices"][0]["delta"].get("content")
        for line in body.splitlines()
        if line.startswith("data: {") and '"choices":[{' in line
    ]
    assert "".join(c for c in contents if c) == "Paris.\n"


def test_reasoning_pass_keeps_the_reasoning_field(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    proc = start(router_process, fake_upstream, reasoning="pass")
    fake_upstream.script(Answer.json(chat_completion("Paris.", reasoning="chain")))
    message = httpx.post(
        proc.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
    ).json()["choices"][0]["message"]
    assert message["content"] == "Paris." and message["reasoning_content"] == "chain"


def test_provider_table_turns_filters_off_for_one_provider(
    router_process: Any, fake_upstreams: Any
) -> None:
    raw_one, filtered = fake_upstreams(), fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("raw", raw_one)
        .provider("filtered", filtered)
        .profile("default", ["raw"])
        .profile("other", ["filtered"])
        .plugin("output_filters", providers={"raw": {"enabled": False}})
    )
    proc = router_process(builder)
    raw_one.script(Answer.json(chat_completion(LEAKY)))
    filtered.script(Answer.json(chat_completion(LEAKY)))
    client = sdk(proc.url)
    assert (
        client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content
        == LEAKY
    )
    assert (
        client.chat.completions.create(model="other", messages=MESSAGES).choices[0].message.content
        == "Paris.\n"
    )
    assert raw_one.count == 1 and filtered.count == 1


def test_unknown_provider_table_stops_the_server(
    tmp_path: Any, fake_upstream: FakeUpstream
) -> None:
    from coderouter.testing import RouterProcess

    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .plugin("output_filters", providers={"lcoal": {"strip_thinking": False}})
    )
    with pytest.raises(RuntimeError) as info:
        RouterProcess(builder.write(tmp_path), startup_timeout_s=15)
    assert "plugins.output_filters.providers.lcoal: unknown provider 'lcoal' (known: local)" in str(
        info.value
    )


def test_with_tool_repair_think_is_removed_before_the_call_is_recovered(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .plugin("output_filters")
        .plugin("tool_repair")
    )
    proc = router_process(builder)
    text = (
        '<think>maybe {"name": "ls", "arguments": {}}</think>\n'
        '<tool_call>{"name": "ls", "arguments": {"path": "."}}</tool_call><|im_end|>'
    )
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "ls",
                "parameters": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            },
        }
    ]
    fake_upstream.script(
        Answer.sse(chat_stream(pieces(text, 5))), Answer.json(chat_completion(text))
    )
    client = sdk(proc.url)
    with client.chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
        streamed = stream.get_final_completion()
    whole = client.chat.completions.create(model="m", messages=MESSAGES, tools=tools)
    for completion in (streamed, whole):
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls or []
        assert call.function.name == "ls" and json.loads(call.function.arguments) == {"path": "."}
        assert not choice.message.content
