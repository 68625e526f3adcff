"""The Anthropic Messages ingress through `coderouter serve`, with the official anthropic SDK,
to OpenAI-kind and Anthropic-kind providers, stream and not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_message,
    anthropic_stream,
    chat_completion,
    chat_stream,
)

FIXTURES = Path(__file__).parent / "fixtures" / "clients"
TOOLS: Any = [
    {
        "name": "Read",
        "description": "read a file",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
]


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0)


def fixture_body(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    body: dict[str, Any] = data.get("body", data)
    return body


@pytest.fixture
def openai_backed(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    builder = ConfigBuilder().provider("local", fake_upstream, model="qwen3-coder")
    return router_process(builder.profile("default", ["local"]))


@pytest.fixture
def anthropic_backed(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    builder = ConfigBuilder().provider(
        "claude",
        fake_upstream,
        kind="anthropic",
        model="claude-sonnet-4-5",
        api_key_env="TEST_ANT_KEY",
    )
    return router_process(
        builder.profile("default", ["claude"]), env={"TEST_ANT_KEY": "sk-ant-provider"}
    )


def test_messages_to_openai_provider_non_stream(
    openai_backed: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        Answer.json(
            chat_completion(
                "reading",
                tool_calls=[{"id": "call_1", "name": "Read", "arguments": {"path": "a.py"}}],
                prompt_tokens=50,
                completion_tokens=9,
                cached_tokens=20,
            )
        )
    )
    message = client(openai_backed.url).messages.create(
        model="claude-opus-4-8",
        max_tokens=1000,
        tools=TOOLS,
        system=[{"type": "text", "text": "be careful", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "open a.py"}],
    )
    assert message.id.startswith("msg_")
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert tool.type == "tool_use" and tool.name == "Read" and tool.input == {"path": "a.py"}
    assert message.usage.input_tokens == 30
    assert message.usage.cache_read_input_tokens == 20
    sent = fake_upstream.requests[0].body
    assert sent["messages"][0] == {"role": "system", "content": "be careful"}
    assert sent["tools"][0]["function"]["name"] == "Read"
    assert sent["max_tokens"] == 1000


def test_messages_stream_to_openai_provider_final_message(
    openai_backed: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        Answer.sse(
            chat_stream(
                ["Hel", "lo"],
                tool_calls=[{"id": "call_7", "name": "Read", "arguments": {"path": "b"}}],
            ),
            delay_s=0.005,
        )
    )
    with client(openai_backed.url).messages.stream(
        model="claude-opus-4-8",
        max_tokens=64000,
        tools=TOOLS,
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Hello"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"path": "b"}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 5
    assert fake_upstream.requests[0].body["stream"] is True


def test_claude_code_turn_streams_with_event_lines_and_never_non_stream(
    openai_backed: Any, fake_upstream: FakeUpstream
) -> None:
    body = fixture_body("claude_code_main_turn1_tool_result.json")
    fake_upstream.script(Answer.sse(chat_stream(["ok"])))
    with httpx.stream(
        "POST",
        openai_backed.url + "/v1/messages?beta=true",
        json=body,
        headers={"anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    events = [line[7:] for line in lines if line.startswith("event: ")]
    assert events[0] == "message_start"
    assert "content_block_start" in events and "content_block_stop" in events
    assert events[-2:] == ["message_delta", "message_stop"]
    assert all(r.body.get("stream") is True for r in fake_upstream.requests)
    sent = fake_upstream.requests[0].body
    assert not any(
        "x-anthropic-billing-header" in (m.get("content") or "")
        for m in sent["messages"]
        if isinstance(m.get("content"), str)
    )
    assert "tool" in [m["role"] for m in sent["messages"]]


def test_anthropic_pass_through_keeps_body_and_forwards_beta(
    anthropic_backed: Any, fake_upstream: FakeUpstream
) -> None:
    body = fixture_body("claude_code_main_turn0.json")
    fake_upstream.script(Answer.sse(anthropic_stream(["hi"], cache_read=100)))
    with httpx.stream(
        "POST",
        anthropic_backed.url + "/v1/messages?beta=true",
        json=body,
        headers={
            "anthropic-version": "2023-06-01",
            "x-api-key": "client-key",
            "anthropic-beta": "claude-code-20250219,context-1m-2025-08-07",
        },
        timeout=30,
    ) as response:
        text = response.read().decode()
    assert "event: message_stop" in text
    sent = fake_upstream.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-provider"
    assert sent.headers["anthropic-beta"] == "claude-code-20250219,context-1m-2025-08-07"
    assert sent.body["model"] == "claude-sonnet-4-5"
    expected = {k: v for k, v in body.items() if k != "model"}
    assert {k: v for k, v in sent.body.items() if k != "model"} == expected


def test_anthropic_provider_non_stream_via_sdk(
    anthropic_backed: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(anthropic_message("fine", cache_read=7)))
    message = client(anthropic_backed.url).messages.create(
        model="x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "fine"
    assert message.usage.cache_read_input_tokens == 7


def test_chat_client_to_anthropic_provider_stream(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    import openai

    builder = (
        ConfigBuilder()
        .provider("claude", fake_upstream, kind="anthropic", model="claude-haiku-4-5")
        .profile("default", ["claude"])
    )
    proc = router_process(builder)
    fake_upstream.script(
        Answer.sse(
            anthropic_stream(
                ["Sure"], tool_uses=[{"id": "toolu_1", "name": "Read", "input": {"path": "c"}}]
            )
        )
    )
    sdk = openai.OpenAI(base_url=proc.url + "/v1", api_key="x", max_retries=0)
    with sdk.chat.completions.stream(
        model="m",
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        tools=[
            {"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}
        ],
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Sure"
    calls = final.choices[0].message.tool_calls or []
    assert calls[0].function.name == "Read" and json.loads(calls[0].function.arguments) == {
        "path": "c"
    }
    sent = fake_upstream.requests[0].body
    assert sent["system"][0]["text"] == "sys"
    assert sent["model"] == "claude-haiku-4-5"


def test_foreign_thinking_signature_is_retried_without_thinking(
    anthropic_backed: Any, fake_upstream: FakeUpstream
) -> None:
    body = fixture_body("claude_code_turn1_with_thinking_echo.json")
    body.pop("stream", None)
    fake_upstream.script(
        Answer.json(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
                },
            },
            status=400,
        ),
        Answer.json(anthropic_message("recovered")),
    )
    response = httpx.post(anthropic_backed.url + "/v1/messages", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "recovered"
    assert fake_upstream.count == 2
    retried = fake_upstream.requests[1].body
    assert not any(
        block.get("type") == "thinking"
        for msg in retried["messages"]
        if isinstance(msg["content"], list)
        for block in msg["content"]
    )


def test_context_overflow_becomes_prompt_is_too_long(
    openai_backed: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        Answer.json(
            {
                "error": {
                    "message": "This model's maximum context length is 32768 tokens. However, you "
                    "requested 40000 tokens.",
                    "code": "context_length_exceeded",
                }
            },
            status=400,
        )
    )
    with pytest.raises(anthropic.BadRequestError) as info:
        client(openai_backed.url).messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert "prompt is too long: 40000 tokens > 32768 maximum" in str(info.value)
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "error_type", "exc"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError),
        (502, "api_error", anthropic.APIStatusError),
    ],
)
def test_errors_in_anthropic_shape(
    openai_backed: Any,
    fake_upstream: FakeUpstream,
    status: int,
    error_type: str,
    exc: type[Exception],
) -> None:
    fake_upstream.script(
        Answer.error(429 if status == 429 else 500, "nope", headers={"retry-after": "2"})
    )
    with pytest.raises(exc) as info:
        client(openai_backed.url).messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    error = info.value.body["error"]  # type: ignore[attr-defined]
    assert error["type"] == error_type
    assert info.value.status_code == status  # type: ignore[attr-defined]


def test_bad_input_in_anthropic_shape(openai_backed: Any, fake_upstream: FakeUpstream) -> None:
    response = httpx.post(
        openai_backed.url + "/v1/messages?beta=true", json={"model": "m", "max_tokens": 5}
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "'messages' is a required property"},
    }
    assert fake_upstream.count == 0


def test_count_tokens_estimate_and_upstream(
    openai_backed: Any, anthropic_backed: Any, fake_upstream: FakeUpstream
) -> None:
    body = fixture_body("claude_code_count_tokens.json")
    estimate = httpx.post(openai_backed.url + "/v1/messages/count_tokens?beta=true", json=body)
    assert estimate.status_code == 200
    assert estimate.headers["x-coderouter-token-count"] == "estimate"
    small = estimate.json()["input_tokens"]
    assert 0 < small < 100
    turn = fixture_body("claude_code_main_turn0.json")
    big = httpx.post(
        openai_backed.url + "/v1/messages/count_tokens?beta=true",
        json={k: turn[k] for k in ("model", "messages", "tools")},
    )
    assert big.json()["input_tokens"] > 10000
    fake_upstream.script(Answer.json({"input_tokens": 4242}))
    real = client(anthropic_backed.url).messages.count_tokens(
        model="claude-opus-4-8", messages=[{"role": "user", "content": "hi"}]
    )
    assert real.input_tokens == 4242
    assert fake_upstream.requests[-1].path == "/v1/messages/count_tokens"


def test_tool_search_is_emulated_for_an_openai_provider(
    openai_backed: Any, fake_upstream: FakeUpstream
) -> None:
    # Deferred tools all go up front (a Chat target has no tool search), the tool search
    # tool is dropped and counted, and a tool_reference result tells the model the tool is
    # there.
    fake_upstream.script(Answer.json(chat_completion("done")))
    deferred = {**TOOLS[0], "name": "Grep", "defer_loading": True}
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 1000,
        "tools": [
            {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
            TOOLS[0],
            deferred,
        ],
        "messages": [
            {"role": "user", "content": "find uses of x"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "find_tool", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "tool_reference", "tool_name": "Grep"}],
                    }
                ],
            },
        ],
    }
    response = httpx.post(
        openai_backed.url + "/v1/messages",
        json=body,
        headers={"anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    sent = fake_upstream.requests[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["Read", "Grep"]
    assert all("defer_loading" not in t["function"] for t in sent["tools"])
    tool_message = sent["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "Tool Grep is available; call it as a function.",
    }
    [line] = openai_backed.wait_for_log(1)
    assert line["dropped"]["server_tools"] == 1


def test_a_forced_tool_call_wins_over_thinking_on_an_anthropic_provider(
    anthropic_backed: Any, fake_upstream: FakeUpstream
) -> None:
    # The Messages API refuses a forced tool_choice while thinking is on: the translated
    # request keeps the forced call and drops the thinking setting, counted in the log line.
    fake_upstream.script(
        Answer.json(
            anthropic_message(
                "", tool_uses=[{"id": "toolu_1", "name": "Read", "input": {"path": "a"}}]
            )
        )
    )
    tools: Any = [
        {
            "type": "function",
            "name": "Read",
            "description": "read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
    ]
    sdk = openai.OpenAI(base_url=anthropic_backed.url + "/v1", api_key="k", max_retries=0)
    response = sdk.responses.create(
        model="m",
        input="read a",
        tools=tools,
        tool_choice="required",
        reasoning={"effort": "high"},
    )
    assert [item.type for item in response.output][-1] == "function_call"
    sent = fake_upstream.requests[0].body
    assert sent["tool_choice"]["type"] == "any"
    assert "thinking" not in sent
    [line] = anthropic_backed.wait_for_log(1)
    assert line["dropped"] == {"thinking_config": 1}
