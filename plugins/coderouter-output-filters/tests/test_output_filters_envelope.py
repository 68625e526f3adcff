"""A Chat answer the filters (or tool repair) re-encode keeps everything they do not own: the
upstream's id, created, model, system_fingerprint and extra fields, stream and not; an answer
they leave alone reaches the client as the upstream wrote it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "ls",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]
ENVELOPE = {
    "id": "chatcmpl-upstream-7",
    "created": 1_700_000_000,
    "model": "upstream-model-v2",
    "system_fingerprint": "fp_3f2a",
    "x_backend": {"node": "gpu-3"},
}


def with_envelope(body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, **ENVELOPE}
    body["choices"][0]["message"]["annotations"] = [{"type": "note"}]
    return body


def stream_with_envelope(frames: list[str]) -> list[str]:
    out = []
    for frame in frames:
        data = frame.removeprefix("data: ").strip()
        if data == "[DONE]":
            out.append(frame)
            continue
        out.append("data: " + json.dumps({**json.loads(data), **ENVELOPE}) + "\n\n")
    return out


@pytest.fixture(params=["output_filters", "tool_repair"])
def router(request: Any, router_process: Any, fake_upstream: FakeUpstream) -> Any:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .plugin(request.param)
    )
    proc = router_process(builder)
    proc.plugin = request.param
    return proc


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


# Text each plugin changes: a think block for the filters, a call in prose for tool repair.
CHANGED = '<think>hm</think>Paris. {"name": "ls", "arguments": {"path": "."}}'


@pytest.mark.parametrize("text", [CHANGED, "Paris."], ids=["changed", "unchanged"])
def test_a_whole_answer_keeps_the_upstream_envelope(
    router: Any, fake_upstream: FakeUpstream, text: str
) -> None:
    fake_upstream.script(Answer.json(with_envelope(chat_completion(text))))
    reply = httpx.post(
        router.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "tools": TOOLS},
        timeout=10,
    )
    body = reply.json()
    assert {k: body[k] for k in ENVELOPE} == ENVELOPE
    message = body["choices"][0]["message"]
    assert message["annotations"] == [{"type": "note"}]
    assert_changed_as_asked(router.plugin, text, message.get("content") or "", message)


def assert_changed_as_asked(plugin: str, text: str, content: str, message: Any) -> None:
    if text != CHANGED:
        assert content == text
    elif plugin == "output_filters":
        assert content.startswith("Paris.") and "<think>" not in content
    else:
        assert '"name"' not in content and message["tool_calls"][0]["function"]["name"] == "ls"


@pytest.mark.parametrize("text", [CHANGED, "Paris, of course."], ids=["changed", "unchanged"])
def test_every_stream_chunk_keeps_the_upstream_envelope(
    router: Any, fake_upstream: FakeUpstream, text: str
) -> None:
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    fake_upstream.script(Answer.sse(stream_with_envelope(chat_stream(pieces))))
    chunks = list(
        sdk(router.url).chat.completions.create(
            model="m",
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks
    for chunk in chunks:
        seen = chunk.model_dump()
        assert {k: seen.get(k) for k in ENVELOPE} == ENVELOPE
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [
        {"function": {"name": call.function.name}}
        for c in chunks
        if c.choices
        for call in c.choices[0].delta.tool_calls or []
        if call.function is not None and call.function.name
    ]
    assert_changed_as_asked(router.plugin, text, content, {"tool_calls": calls})


def role_on_first_content(frames: list[str]) -> list[str]:
    """``frames`` without the role-only chunk: the role comes with the first text."""
    _, first, *rest = frames
    chunk = json.loads(first.removeprefix("data: "))
    chunk["choices"][0]["delta"] = {"role": "assistant", **chunk["choices"][0]["delta"]}
    return ["data: " + json.dumps(chunk) + "\n\n", *rest]


@pytest.mark.parametrize("opening", ["role chunk", "role on first text"])
def test_a_stream_opens_as_the_upstream_opened_it(
    router: Any, fake_upstream: FakeUpstream, opening: str
) -> None:
    frames = chat_stream(["Paris", ", of", " course."])
    if opening != "role chunk":
        frames = role_on_first_content(frames)
    fake_upstream.script(Answer.sse(frames))
    chunks = list(
        sdk(router.url).chat.completions.create(
            model="m", messages=MESSAGES, tools=TOOLS, stream=True
        )
    )
    sent = [json.loads(f.removeprefix("data: ")) for f in frames if "[DONE]" not in f]
    sent = [c for c in sent if c["choices"]]  # the usage chunk is not asked for
    deltas = [c.choices[0].delta.to_dict() for c in chunks]
    assert deltas == [c["choices"][0]["delta"] for c in sent]
