from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from coderouter.sse import SSEParser
from coderouter.testing import chat_completion, chat_stream
from coderouter.wire.base import PassthroughEdits
from coderouter.wire.effort import ThinkingSupport
from coderouter.wire.model import (
    BlockStart,
    MessageDelta,
    Request,
    TextDelta,
    ThinkingDelta,
    accumulate,
    response_events,
)
from coderouter.wire.openai_chat import FORMAT

REQUEST: dict[str, Any] = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read", "arguments": '{"path": "a"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "read", "arguments": '{"path": "b"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "A"},
        {"role": "tool", "tool_call_id": "call_2", "content": "B"},
        {"role": "developer", "content": "mid-conversation rule"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "read",
                "description": "read a file",
                "parameters": {"type": "object"},
            },
        }
    ],
    "tool_choice": "required",
    "max_tokens": 100,
    "seed": 3,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "t", "schema": {"type": "object"}},
    },
}


def test_decode_request_maps_every_part() -> None:
    request = FORMAT.decode_request(REQUEST)
    assert request.system == [{"type": "text", "text": "be brief"}]
    roles = [m["role"] for m in request.messages]
    assert roles == ["user", "assistant", "user", "system", "user"]
    images = [b for b in request.messages[0]["content"] if b["type"] == "image"]
    assert images[0]["source"] == {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert images[1]["source"] == {"type": "url", "url": "https://example.com/cat.png"}
    assert [b["input"] for b in request.messages[1]["content"]] == [{"path": "a"}, {"path": "b"}]
    results = request.messages[2]["content"]
    assert [(r["tool_use_id"], r["content"]) for r in results] == [("call_1", "A"), ("call_2", "B")]
    assert request.tools == [
        {"name": "read", "description": "read a file", "input_schema": {"type": "object"}}
    ]
    assert request.tool_choice == {"type": "any"}
    assert request.response_format == {
        "type": "json_schema",
        "schema": {"type": "object"},
        "name": "t",
    }
    assert request.extras["openai_chat"] == {"seed": 3}


def test_round_trip_keeps_what_chat_can_express() -> None:
    body = FORMAT.encode_request(FORMAT.decode_request(REQUEST), model="local", stream=True)
    assert body["model"] == "local"
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "system",
        "user",
    ]
    assert body["messages"][2]["tool_calls"][1]["function"]["arguments"] == '{"path":"b"}'
    assert body["tool_choice"] == "required"
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert body["stream_options"] == {"include_usage": True}
    assert body["seed"] == 3
    assert body["messages"][1]["content"][1]["image_url"]["url"] == "data:image/png;base64,AAAA"


def test_passthrough_replaces_model_only() -> None:
    body = dict(REQUEST, profile="fast", future_field={"x": 1})
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="m2", stream=False, notes=[], max_tokens=None)
    )
    assert out["model"] == "m2"
    assert "profile" not in out
    assert out["future_field"] == {"x": 1}
    assert out["messages"] is REQUEST["messages"]
    noted = FORMAT.passthrough_request(
        body, PassthroughEdits(model="m2", stream=False, notes=["stop looping"], max_tokens=50)
    )
    assert noted["messages"][-1] == {"role": "system", "content": "stop looping"}
    assert noted["max_tokens"] == 50


def test_response_decode_encode_with_tools_reasoning_and_cached_usage() -> None:
    body = chat_completion(
        "done",
        tool_calls=[{"name": "read", "arguments": {"p": 1}}],
        prompt_tokens=100,
        completion_tokens=7,
        cached_tokens=60,
        reasoning="hmm",
    )
    events = FORMAT.decode_response(body)
    response = accumulate(events)
    assert [b["type"] for b in response.content] == ["thinking", "text", "tool_use"]
    assert response.content[2]["input"] == {"p": 1}
    assert response.stop_reason == "tool_use"
    assert (response.usage.input_tokens, response.usage.cache_read_tokens) == (40, 60)
    out = FORMAT.encode_response(events, model="")
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] == 100
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 60}
    assert out["choices"][0]["message"]["reasoning_content"] == "hmm"


def _decode_stream(frames: list[str], splits: int = 1) -> list[Any]:
    raw = "".join(frames).encode()
    parser = SSEParser()
    decoder = FORMAT.stream_decoder()
    events = []
    size = max(1, len(raw) // splits)
    for start in range(0, len(raw), size):
        for frame in parser.feed(raw[start : start + size]):
            events += decoder.feed(frame)
    events += decoder.finish()
    assert decoder.complete
    return events


def test_stream_decoder_builds_blocks_and_usage() -> None:
    frames = chat_stream(
        ["Hel", "lo"],
        tool_calls=[{"name": "f", "arguments": {"a": [1]}}],
        reasoning=["think"],
        prompt_tokens=9,
        completion_tokens=4,
    )
    events = _decode_stream(frames, splits=37)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "MessageStart"
    assert isinstance(events[1], BlockStart) and events[1].block["origin"] == "reasoning_field"
    assert any(isinstance(e, ThinkingDelta) for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    response = accumulate(events)
    assert response.content[-1]["input"] == {"a": [1]}
    assert response.stop_reason == "tool_use"
    assert response.usage.output_tokens == 4
    delta = [e for e in events if isinstance(e, MessageDelta)]
    assert len(delta) == 1


def test_stream_without_done_but_with_finish_is_complete() -> None:
    events = _decode_stream(chat_stream(["x"], done=False))
    assert accumulate(events).stop_reason == "end_turn"


def test_encoder_output_satisfies_the_openai_sdk_accumulator() -> None:
    events = response_events(
        accumulate(
            FORMAT.decode_response(
                chat_completion(
                    "all good",
                    tool_calls=[
                        {"name": "grep", "arguments": {"q": "x"}},
                        {"name": "ls", "arguments": {}},
                    ],
                    prompt_tokens=5,
                    completion_tokens=3,
                )
            )
        )
    )
    encoder = FORMAT.stream_encoder(
        model="m", request_body={"stream_options": {"include_usage": True}}
    )
    sse = encoder.encode(events)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        base_url="http://test/v1",
        api_key="x",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "all good"
    assert [c.function.name for c in message.tool_calls or []] == ["grep", "ls"]
    assert json.loads((message.tool_calls or [])[0].function.arguments) == {"q": "x"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens == 3


def test_usage_chunk_is_dropped_when_client_did_not_ask() -> None:
    frames = chat_stream(["x"])
    parser = SSEParser()
    parsed = parser.feed("".join(frames).encode())
    usage_frame = next(f for f in parsed if '"usage"' in f.data)
    assert FORMAT.relay_frame(usage_frame, {"stream": True}) == b""
    asked = {"stream": True, "stream_options": {"include_usage": True}}
    assert FORMAT.relay_frame(usage_frame, asked) == usage_frame.raw


def test_error_shapes() -> None:
    assert FORMAT.error_body("rate_limit", "slow") == {
        "error": {"message": "slow", "type": "rate_limit_error", "param": None, "code": None}
    }
    assert FORMAT.error_message({"error": {"message": "boom"}}) == "boom"
    assert FORMAT.error_message({"error": "plain"}) == "plain"
    assert json.loads(FORMAT.stream_error("api_error", "x")[6:])["error"]["message"] == "x"


def _thinking_request(thinking: dict[str, Any] | None) -> Request:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    return Request(model="m", messages=messages, thinking=thinking)


@pytest.mark.parametrize(
    ("thinking", "support", "fields", "dropped"),
    [
        (
            {"type": "enabled", "budget_tokens": 1024},
            ThinkingSupport(True, "enable_thinking"),
            {"reasoning_effort": "low", "chat_template_kwargs": {"enable_thinking": True}},
            {},
        ),
        (
            {"type": "enabled", "budget_tokens": 8192},
            ThinkingSupport(True),
            {"reasoning_effort": "medium"},
            {},
        ),
        ({"type": "enabled"}, ThinkingSupport(True), {"reasoning_effort": "medium"}, {}),
        (
            {"type": "disabled"},
            ThinkingSupport(True, "enable_thinking"),
            {"chat_template_kwargs": {"enable_thinking": False}},
            {},
        ),
        (None, ThinkingSupport(True, "enable_thinking"), {}, {}),
        (
            {"type": "enabled", "budget_tokens": 30000},
            ThinkingSupport(False, "enable_thinking"),
            {},
            {"thinking_config": 1},
        ),
        ({"type": "enabled", "budget_tokens": 30000}, None, {}, {"thinking_config": 1}),
    ],
)
def test_thinking_maps_to_reasoning_effort_and_the_template_switch_of_a_thinking_target(
    thinking: dict[str, Any] | None,
    support: ThinkingSupport | None,
    fields: dict[str, Any],
    dropped: dict[str, int],
) -> None:
    request = _thinking_request(thinking)
    body = FORMAT.encode_request(request, model="qwen3", stream=False, thinking=support)
    assert {k: body[k] for k in ("reasoning_effort", "chat_template_kwargs") if k in body} == fields
    assert request.dropped == dropped


def test_the_clients_own_template_kwargs_are_kept_beside_the_switch() -> None:
    request = _thinking_request({"type": "enabled", "budget_tokens": 30000})
    request.extras["openai_chat"] = {
        "chat_template_kwargs": {"custom": 1},
        "reasoning_effort": "low",
    }
    body = FORMAT.encode_request(
        request, model="qwen3", stream=False, thinking=ThinkingSupport(True, "enable_thinking")
    )
    assert body["chat_template_kwargs"] == {"custom": 1, "enable_thinking": True}
    assert body["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("minimal", {"type": "enabled", "budget_tokens": 1024}),
        ("high", {"type": "enabled", "budget_tokens": 24576}),
        ("none", {"type": "disabled"}),
    ],
)
def test_reasoning_effort_is_the_thinking_setting_and_comes_back_as_sent(
    effort: str, thinking: dict[str, Any]
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    request = FORMAT.decode_request({**body, "reasoning_effort": effort})
    assert request.thinking == thinking
    out = FORMAT.encode_request(request, model="m", stream=False, thinking=ThinkingSupport(True))
    assert out["reasoning_effort"] == effort


def test_reasoning_effort_for_a_target_that_cannot_think_is_dropped_and_counted() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "low",
    }
    request = FORMAT.decode_request(body)
    out = FORMAT.encode_request(request, model="m", stream=False, thinking=ThinkingSupport(False))
    assert "reasoning_effort" not in out
    assert request.dropped == {"thinking_config": 1}
