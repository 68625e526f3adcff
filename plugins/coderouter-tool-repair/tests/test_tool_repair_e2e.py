"""End to end: ``coderouter serve`` with ``tool_repair`` enabled, a fake OpenAI-kind upstream
answering tool calls as text, and the official SDKs as clients."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]
MESSAGES = [{"role": "user", "content": "What is in a.py?"}]
CALL_TEXT = (
    'I will read it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
    "</tool_call>"
)


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.fixture
def router(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream, model="qwen2.5-coder:1.5b")
        .profile("default", ["local"])
        .plugin("tool_repair")
    )
    return router_process(builder)


def test_non_stream_text_call_becomes_tool_call(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(chat_completion(CALL_TEXT)))
    raw = sdk(router.url).chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, tools=TOOLS
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "read_file"
    assert json.loads(call.function.arguments) == {"path": "a.py"}
    assert call.id.startswith("call_")
    assert choice.message.content == "I will read it."
    assert raw.headers["x-coderouter-provider"] == "local"
    assert fake_upstream.count == 1
    assert fake_upstream.requests[0].body["tools"][0]["function"]["name"] == "read_file"
    [record] = router.wait_for_log(1)
    assert record["tool_repair"] == {"calls": ["read_file"]}


def test_stream_text_call_becomes_tool_call(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.sse(chat_stream(pieces(CALL_TEXT))))
    with sdk(router.url).chat.completions.stream(
        model="m", messages=MESSAGES, tools=TOOLS
    ) as stream:
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "read_file"
    assert json.loads(call.function.arguments) == {"path": "a.py"}
    assert choice.message.content == "I will read it."
    assert fake_upstream.requests[0].body["stream"] is True
    [record] = router.wait_for_log(1)
    assert record["stream"] is True and record["tool_repair"] == {"calls": ["read_file"]}


def test_stream_with_several_calls_in_a_fence(router: Any, fake_upstream: FakeUpstream) -> None:
    text = (
        '```json\n[{"name": "read_file", "arguments": {"path": "a.py"}},\n'
        ' {"name": "read_file", "arguments": "{\\"path\\": \\"b.py\\"}"}]\n```'
    )
    fake_upstream.script(Answer.sse(chat_stream(pieces(text, 3))))
    with sdk(router.url).chat.completions.stream(
        model="m", messages=MESSAGES, tools=TOOLS
    ) as stream:
        completion = stream.get_final_completion()
    calls = completion.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [{"path": "a.py"}, {"path": "b.py"}]
    assert len({c.id for c in calls}) == 2
    assert completion.choices[0].finish_reason == "tool_calls"
    assert not completion.choices[0].message.content


def test_stream_relays_plain_text_and_keeps_unrelated_fences(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    text = "Here is a sample:\n```python\nprint({'a': 1})\n```\nDone."
    fake_upstream.script(Answer.sse(chat_stream(pieces(text, 5))))
    with sdk(router.url).chat.completions.stream(
        model="m", messages=MESSAGES, tools=TOOLS
    ) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == text
    assert completion.choices[0].message.tool_calls in (None, [])
    assert completion.choices[0].finish_reason == "stop"
    [record] = router.wait_for_log(1)
    assert "tool_repair" not in record


def test_request_without_tools_is_never_repaired(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(chat_completion(CALL_TEXT)))
    completion = sdk(router.url).chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == CALL_TEXT
    assert completion.choices[0].finish_reason == "stop"


def test_unknown_tool_name_stays_text(router: Any, fake_upstream: FakeUpstream) -> None:
    text = '{"name": "delete_everything", "arguments": {"path": "/"}}'
    fake_upstream.script(Answer.json(chat_completion(text)))
    completion = sdk(router.url).chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    assert completion.choices[0].message.content == text
    assert not completion.choices[0].message.tool_calls


def test_structured_calls_from_upstream_are_left_alone(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        Answer.sse(
            chat_stream(
                pieces('Reading {"name": "read_file", "arguments": {"path": "x.py"}}'),
                tool_calls=[{"id": "call_up", "name": "read_file", "arguments": {"path": "a.py"}}],
            )
        )
    )
    with sdk(router.url).chat.completions.stream(
        model="m", messages=MESSAGES, tools=TOOLS
    ) as stream:
        completion = stream.get_final_completion()
    message = completion.choices[0].message
    assert [c.id for c in message.tool_calls or []] == ["call_up"]
    assert "x.py" in (message.content or "")
    [record] = router.wait_for_log(1)
    assert record["tool_repair"]["ignored"] == 1


def test_plugin_state_counts_repairs(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(chat_completion(CALL_TEXT)))
    sdk(router.url).chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    state = httpx.get(router.url + "/-/plugins").json()["state"]["tool_repair"]
    assert state["totals"]["calls_recovered"] == 1
    assert state["totals"]["responses_repaired"] == 1
    assert state["calls_by_tool"] == {"read_file": 1}


def test_anthropic_ingress_gets_tool_use_blocks(router: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.sse(chat_stream(pieces(CALL_TEXT))))
    client = anthropic.Anthropic(base_url=router.url, api_key="k", max_retries=0)
    tools: Any = [
        {
            "name": "read_file",
            "description": "Read a file.",
            "input_schema": TOOLS[0]["function"]["parameters"],
        }
    ]
    with client.messages.stream(
        model="m", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "read a.py"}]
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    [text, call] = message.content
    assert text.type == "text" and text.text == "I will read it."
    assert call.type == "tool_use" and call.name == "read_file"
    assert call.input == {"path": "a.py"} and call.id.startswith("toolu_")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_responses_ingress_gets_function_call_items(
    router: Any, fake_upstream: FakeUpstream, stream: bool
) -> None:
    answer = (
        Answer.sse(chat_stream(pieces(CALL_TEXT)))
        if stream
        else Answer.json(chat_completion(CALL_TEXT))
    )
    fake_upstream.script(answer)
    client = sdk(router.url)
    tools: Any = [
        {
            "type": "function",
            "name": "read_file",
            "description": "Read a file.",
            "parameters": TOOLS[0]["function"]["parameters"],
        }
    ]
    if stream:
        with client.responses.stream(model="m", input="read a.py", tools=tools) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(model="m", input="read a.py", tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("read_file", {"path": "a.py"})]
    assert response.output_text == "I will read it."


def test_a_profile_that_turns_the_plugin_off_gets_the_text_as_written(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .profile("verbatim", ["local"], plugins={"tool_repair": {"enabled": False}})
        .plugin("tool_repair")
    )
    router = router_process(builder)
    fake_upstream.script(
        Answer.json(chat_completion(CALL_TEXT)), Answer.json(chat_completion(CALL_TEXT))
    )
    client = sdk(router.url)
    repaired = client.chat.completions.create(model="default", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    verbatim = client.chat.completions.create(model="verbatim", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    [call] = repaired.choices[0].message.tool_calls or []
    assert call.function.name == "read_file"  # type: ignore[union-attr]
    assert verbatim.choices[0].message.content == CALL_TEXT
    assert verbatim.choices[0].message.tool_calls is None
