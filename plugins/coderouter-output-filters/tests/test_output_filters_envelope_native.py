"""Anthropic -> Anthropic and Responses -> Responses answers the filters (or tool repair)
re-encode keep everything they do not own: the upstream's ids, model, extra fields, usage
fields and event numbering, stream and not."""

from __future__ import annotations

import copy
import json
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
    responses_body,
    responses_stream,
)

# Text each plugin changes: a think block for the filters, a call in prose for tool repair.
CHANGED = '<think>hm</think>Paris. {"name": "ls", "arguments": {"path": "."}}'
UNCHANGED = "Paris, of course."
ANTHROPIC_TOOLS: Any = [
    {"name": "ls", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
]
RESPONSES_TOOLS: Any = [
    {
        "type": "function",
        "name": "ls",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
]
MESSAGE_EXTRAS = {
    "id": "msg_upstream7",
    "model": "claude-upstream-v2",
    "x_backend": {"node": "gpu-3"},
}
USAGE_EXTRAS = {"service_tier": "standard", "cache_creation": {"ephemeral_5m_input_tokens": 3}}
RESPONSE_EXTRAS = {
    "id": "resp_upstream7",
    "created_at": 1_700_000_000,
    "model": "upstream-model-v2",
    "service_tier": "default",
    "metadata": {"node": "gpu-3"},
}


def split(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def start(router_process: Any, upstream: FakeUpstream, plugin: str, kind: str) -> Any:
    settings: dict[str, Any] = (
        {"providers": {"native": {"enabled": True}}}
        if plugin == "output_filters"
        else {"enabled_providers": ["native"]}
    )
    builder = (
        ConfigBuilder()
        .provider("native", upstream, kind=kind)
        .profile("default", ["native"])
        .plugin(plugin, **settings)
    )
    proc = router_process(builder)
    proc.plugin = plugin
    return proc


@pytest.fixture(params=["output_filters", "tool_repair"])
def plugin(request: Any) -> str:
    return str(request.param)


def assert_changed_as_asked(plugin: str, text: str, content: str, tool_names: list[str]) -> None:
    if text != CHANGED:
        assert content == text
        assert tool_names == []
    elif plugin == "output_filters":
        assert content.startswith("Paris.") and "<think>" not in content
    else:
        assert '"name"' not in content and tool_names == ["ls"]


# --- Anthropic ---------------------------------------------------------------------------------


def anthropic_sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)


def message_with_extras(text: str) -> dict[str, Any]:
    body = {**anthropic_message(text), **MESSAGE_EXTRAS}
    body["usage"] = {**body["usage"], **USAGE_EXTRAS}
    return body


def anthropic_frames_with_extras(text: str) -> list[str]:
    frames = []
    for frame in anthropic_stream(split(text), output_tokens=7):
        event, data = frame.split("\n", 1)
        payload = json.loads(data.removeprefix("data: "))
        if payload["type"] == "message_start":
            payload["message"].update(copy.deepcopy(MESSAGE_EXTRAS))
            payload["message"]["usage"].update(USAGE_EXTRAS)
        elif payload["type"] == "message_delta":
            payload["usage"] = {"output_tokens": 7, "input_tokens": 10, **USAGE_EXTRAS}
            payload["context_management"] = {"applied_edits": []}
        frames.append(f"{event}\ndata: {json.dumps(payload)}\n\n")
    return frames


@pytest.mark.parametrize("text", [CHANGED, UNCHANGED], ids=["changed", "unchanged"])
def test_an_anthropic_message_keeps_the_upstream_envelope(
    router_process: Any, fake_upstream: FakeUpstream, plugin: str, text: str
) -> None:
    router = start(router_process, fake_upstream, plugin, "anthropic")
    fake_upstream.script(Answer.json(message_with_extras(text)))
    reply = httpx.post(
        router.url + "/v1/messages",
        json={
            "model": "m",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Capital of France?"}],
            "tools": ANTHROPIC_TOOLS,
        },
        timeout=10,
    )
    body = reply.json()
    assert {k: body[k] for k in MESSAGE_EXTRAS} == MESSAGE_EXTRAS
    assert body["usage"] == message_with_extras(text)["usage"]
    content = "".join(b["text"] for b in body["content"] if b["type"] == "text")
    tools = [b["name"] for b in body["content"] if b["type"] == "tool_use"]
    assert_changed_as_asked(plugin, text, content, tools)
    assert body["stop_reason"] == ("tool_use" if tools else "end_turn")


@pytest.mark.parametrize("text", [CHANGED, UNCHANGED], ids=["changed", "unchanged"])
def test_an_anthropic_stream_keeps_the_upstream_envelope(
    router_process: Any, fake_upstream: FakeUpstream, plugin: str, text: str
) -> None:
    router = start(router_process, fake_upstream, plugin, "anthropic")
    fake_upstream.script(Answer.sse(anthropic_frames_with_extras(text)))
    events = [
        event.to_dict()
        for event in anthropic_sdk(router.url).messages.create(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "Capital of France?"}],
            tools=ANTHROPIC_TOOLS,
            stream=True,
        )
    ]
    [started] = [e["message"] for e in events if e["type"] == "message_start"]
    assert {k: started[k] for k in MESSAGE_EXTRAS} == MESSAGE_EXTRAS
    assert started["usage"] == {
        "input_tokens": 10,
        "output_tokens": 1,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        **USAGE_EXTRAS,
    }
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert delta["usage"] == {"output_tokens": 7, "input_tokens": 10, **USAGE_EXTRAS}
    assert delta["context_management"] == {"applied_edits": []}
    content = "".join(
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )
    tools = [
        e["content_block"]["name"]
        for e in events
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"
    ]
    assert_changed_as_asked(plugin, text, content, tools)
    assert delta["delta"]["stop_reason"] == ("tool_use" if tools else "end_turn")


# --- Responses ---------------------------------------------------------------------------------


def responses_sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def response_with_extras(text: str) -> dict[str, Any]:
    body = {**responses_body(text), **RESPONSE_EXTRAS}
    body["usage"] = {**body["usage"], "x_billed_units": 4}
    return body


def responses_frames_with_extras(text: str) -> list[str]:
    frames = []
    for frame in responses_stream(split(text)):
        event, data = frame.split("\n", 1)
        payload = json.loads(data.removeprefix("data: "))
        response = payload.get("response")
        if isinstance(response, dict):
            response.update(copy.deepcopy(RESPONSE_EXTRAS))
            if response.get("usage"):
                response["usage"]["x_billed_units"] = 4
        frames.append(f"{event}\ndata: {json.dumps(payload)}\n\n")
    return frames


def response_text(response: dict[str, Any]) -> tuple[str, list[str]]:
    texts = [
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    ]
    calls = [item["name"] for item in response["output"] if item["type"] == "function_call"]
    return "".join(texts), calls


@pytest.mark.parametrize("text", [CHANGED, UNCHANGED], ids=["changed", "unchanged"])
def test_a_response_keeps_the_upstream_envelope(
    router_process: Any, fake_upstream: FakeUpstream, plugin: str, text: str
) -> None:
    router = start(router_process, fake_upstream, plugin, "openai_responses")
    upstream = response_with_extras(text)
    fake_upstream.script(Answer.json(upstream))
    reply = httpx.post(
        router.url + "/v1/responses",
        json={"model": "m", "input": "Capital of France?", "tools": RESPONSES_TOOLS},
        timeout=10,
    )
    body = reply.json()
    assert {k: body[k] for k in RESPONSE_EXTRAS} == RESPONSE_EXTRAS
    assert body["usage"] == upstream["usage"]
    if text == UNCHANGED:
        assert body["output"] == upstream["output"]
    content, calls = response_text(body)
    assert_changed_as_asked(plugin, text, content, calls)


@pytest.mark.parametrize("text", [CHANGED, UNCHANGED], ids=["changed", "unchanged"])
def test_a_response_stream_keeps_the_upstream_envelope_and_numbering(
    router_process: Any, fake_upstream: FakeUpstream, plugin: str, text: str
) -> None:
    router = start(router_process, fake_upstream, plugin, "openai_responses")
    frames = responses_frames_with_extras(text)
    fake_upstream.script(Answer.sse(frames))
    events = [
        event.to_dict()
        for event in responses_sdk(router.url).responses.create(
            model="m", input="Capital of France?", tools=RESPONSES_TOOLS, stream=True
        )
    ]
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    responses = [e["response"] for e in events if "response" in e]
    assert [r["status"] for r in responses] == ["in_progress", "in_progress", "completed"]
    for response in responses:
        assert {k: response[k] for k in RESPONSE_EXTRAS} == RESPONSE_EXTRAS
    final = responses[-1]
    sent = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert final["usage"] == sent[-1]["response"]["usage"]
    if text == UNCHANGED:
        assert numbers == [s["sequence_number"] for s in sent]
        assert [e["type"] for e in events] == [s["type"] for s in sent]
    content, calls = response_text(final)
    assert_changed_as_asked(plugin, text, content, calls)
