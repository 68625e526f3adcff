"""End to end: ``coderouter serve`` with the capabilities plugin, fake upstreams, the openai SDK.

Which upstream received each request, the fallback header and the request log show the gates;
the upstream bodies show the clamp.
"""

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
    anthropic_image_question,
    anthropic_message,
    chat_completion,
    chat_image_question,
    chat_stream,
)

DATA = Path(__file__).parent / "data"
PNG = "data:image/png;base64,iVBORw0KGgo="
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def upstream(fake_upstreams: Any, name: str) -> FakeUpstream:
    server: FakeUpstream = fake_upstreams(Answer.json(chat_completion(f"from {name}")))
    return server


def test_images_go_to_the_provider_the_registry_file_calls_vision_capable(
    router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    text, eyes = upstream(fake_upstreams, "text"), upstream(fake_upstreams, "eyes")
    registry = tmp_path / "registry.toml"
    registry.write_text(
        '[[rules]]\nkind = "openai"\nmodel = "house-vlm*"\nvision = true\n', encoding="utf-8"
    )
    builder = (
        ConfigBuilder()
        .provider("text", text, model="qwen2.5-coder:7b")
        .provider("eyes", eyes, model="house-vlm-7b")
        .profile("default", ["text", "eyes"])
        .plugin("capabilities", registry_file=str(registry))
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    raw = client.chat.completions.with_raw_response.create(
        model="m",
        messages=chat_image_question(PNG),
    )
    assert raw.parse().choices[0].message.content == "from eyes"
    assert raw.headers["x-coderouter-provider"] == "eyes"
    assert raw.headers["x-coderouter-fallback"] == (
        "text=moved: the request has images; no vision support"
    )
    assert (text.count, eyes.count) == (0, 1)

    plain = client.chat.completions.with_raw_response.create(model="m", messages=ask("hi"))
    assert plain.headers["x-coderouter-provider"] == "text"
    assert "x-coderouter-fallback" not in plain.headers
    assert (text.count, eyes.count) == (1, 1)


def test_a_long_request_skips_the_small_context_provider(
    router_process: Any, fake_upstreams: Any
) -> None:
    small, big = upstream(fake_upstreams, "small"), upstream(fake_upstreams, "big")
    builder = (
        ConfigBuilder()
        .provider("small", small, model="tiny", capabilities={"max_context_tokens": 2000})
        .provider("big", big, model="large")
        .profile("default", ["small", "big"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    long_text = "def handler(event):\n    return process(event)\n" * 400
    raw = client.chat.completions.with_raw_response.create(model="m", messages=ask(long_text))
    assert raw.headers["x-coderouter-provider"] == "big"
    fallback = raw.headers["x-coderouter-fallback"]
    assert fallback.startswith("small=skipped: request is ~")
    assert fallback.endswith("tokens, over max_context_tokens 2000")
    assert (small.count, big.count) == (0, 1)

    short = client.chat.completions.with_raw_response.create(model="m", messages=ask("hi"))
    assert short.headers["x-coderouter-provider"] == "small"
    assert (small.count, big.count) == (1, 1)

    first, second = proc.wait_for_log(2)
    assert first["provider"] == "big"
    assert first["attempts"][0]["provider"] == "small"
    assert first["attempts"][0]["outcome"] == "skipped"
    assert "over max_context_tokens 2000" in first["attempts"][0]["reason"]
    assert second["provider"] == "small" and second["attempts"] == []


def test_tool_requests_go_first_to_tool_capable_models(
    router_process: Any, fake_upstreams: Any
) -> None:
    gemma, qwen = upstream(fake_upstreams, "gemma"), upstream(fake_upstreams, "qwen")
    builder = (
        ConfigBuilder()
        .provider("gemma", gemma, model="gemma3:27b")
        .provider("qwen", qwen, model="qwen3:8b")
        .profile("default", ["gemma", "qwen"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=ask("read x"), tools=TOOLS
    )
    assert raw.headers["x-coderouter-provider"] == "qwen"
    assert raw.headers["x-coderouter-fallback"] == (
        "gemma=moved: the request has tools; no tool support"
    )
    assert qwen.requests[0].body["tools"][0]["function"]["name"] == "read_file"
    client.chat.completions.create(model="m", messages=ask("hello"))
    assert (gemma.count, qwen.count) == (1, 1)


def test_max_tokens_is_clamped_in_the_upstream_body(
    router_process: Any, fake_upstreams: Any
) -> None:
    local = upstream(fake_upstreams, "local")
    claude: FakeUpstream = fake_upstreams(Answer.json(anthropic_message("from claude")))
    builder = (
        ConfigBuilder()
        .provider("local", local, model="qwen2.5-coder:7b")
        .provider("claude", claude, kind="anthropic", model="claude-opus-4-1")
        .profile("default", ["local"])
        .profile("cloud", ["claude"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    client = sdk(proc.url)
    client.chat.completions.create(model="m", messages=ask("hi"), max_tokens=32000)
    client.chat.completions.create(model="m", messages=ask("hi"), max_tokens=1000)
    local.script(Answer.sse(chat_stream(["a", "b"])))
    stream = client.chat.completions.create(
        model="m", messages=ask("hi"), stream=True, max_completion_tokens=64000
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "ab"
    bodies = local.bodies()
    assert bodies[0]["max_tokens"] == 8192
    assert bodies[1]["max_tokens"] == 1000
    assert bodies[2]["max_completion_tokens"] == 8192 and bodies[2]["stream"] is True

    answer = client.chat.completions.create(model="cloud", messages=ask("hi"), max_tokens=64000)
    assert answer.choices[0].message.content == "from claude"
    assert claude.requests[0].path == "/v1/messages"
    assert claude.requests[0].body["max_tokens"] == 32000

    lines = proc.wait_for_log(4)
    assert [line.get("max_tokens_clamped") for line in lines] == [
        {"requested": 32000, "sent": 8192},
        None,
        {"requested": 64000, "sent": 8192},
        {"requested": 64000, "sent": 32000},
    ]


def test_a_bad_capabilities_key_stops_the_server(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream, capabilities={"vison": True})
        .profile("default", ["local"])
        .plugin("capabilities")
    )
    with pytest.raises(RuntimeError) as info:
        router_process(builder)
    assert "providers[0].capabilities.vison: unknown key (valid keys: tools, vision" in str(
        info.value
    )


# --- the Anthropic Messages ingress ---------------------------------------------------------


def test_a_claude_code_turn_skips_the_small_local_model_and_is_clamped(
    router_process: Any, fake_upstreams: Any
) -> None:
    tiny, coder = upstream(fake_upstreams, "tiny"), upstream(fake_upstreams, "coder")
    coder.script(Answer.sse(chat_stream(["done"])))
    builder = (
        ConfigBuilder()
        .provider(
            "tiny", tiny, model="qwen2.5-coder:7b", capabilities={"max_context_tokens": 16384}
        )
        .provider("coder", coder, model="qwen2.5-coder:32b")
        .profile("default", ["tiny", "coder"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    recorded = json.loads((DATA / "claude_code_main_turn0.json").read_text(encoding="utf-8"))
    body = recorded["body"]
    assert body["max_tokens"] == 64000 and body["stream"] is True
    response = httpx.post(
        proc.url + "/v1/messages?beta=true",
        json=body,
        headers={"anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["x-coderouter-provider"] == "coder"
    fallback = response.headers["x-coderouter-fallback"]
    assert fallback.startswith("tiny=skipped: request is ~")
    assert fallback.endswith("tokens, over max_context_tokens 16384")
    assert "event: message_stop" in response.text
    assert (tiny.count, coder.count) == (0, 1)
    sent = coder.requests[0].body
    assert sent["max_tokens"] == 8192
    assert len(sent["tools"]) == len(body["tools"])
    [line] = proc.wait_for_log(1)
    assert line["ingress"] == "anthropic"
    assert line["max_tokens_clamped"] == {"requested": 64000, "sent": 8192}


def test_anthropic_sdk_images_go_to_vision(router_process: Any, fake_upstreams: Any) -> None:
    text, eyes = upstream(fake_upstreams, "text"), upstream(fake_upstreams, "eyes")
    builder = (
        ConfigBuilder()
        .provider("text", text, model="qwen2.5-coder:7b")
        .provider("eyes", eyes, model="gemma3:27b")
        .profile("default", ["text", "eyes"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-opus-4-8",
        max_tokens=100,
        messages=anthropic_image_question(PNG.split(",", 1)[1]),
    )
    assert raw.headers["x-coderouter-provider"] == "eyes"
    assert raw.headers["x-coderouter-fallback"] == (
        "text=moved: the request has images; no vision support"
    )
    assert (text.count, eyes.count) == (0, 1)


def claude_code_turn() -> dict[str, Any]:
    """Claude Code's first turn: tools and ``thinking`` on, as on every turn."""
    path = (
        Path(__file__).parents[3] / "tests" / "fixtures" / "clients" / "claude_code_main_turn0.json"
    )
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return {**body, "stream": False}


@pytest.mark.parametrize(("prefer_thinking", "answered_by"), [(False, "local"), (True, "claude")])
def test_thinking_keeps_claude_code_on_the_local_model_unless_the_profile_prefers_it(
    router_process: Any, fake_upstreams: Any, prefer_thinking: bool, answered_by: str
) -> None:
    local = upstream(fake_upstreams, "local")
    claude = fake_upstreams(Answer.json(anthropic_message("from claude")))
    builder = (
        ConfigBuilder()
        .provider("local", local, model="qwen2.5-coder:7b", capabilities={"thinking": False})
        .provider("claude", claude, kind="anthropic", model="claude-sonnet-4-5", paid=True)
        .profile(
            "default",
            ["local", "claude"],
            allow_paid=True,
            plugins={"capabilities": {"prefer_thinking": prefer_thinking}},
        )
        .plugin("capabilities")
    )
    proc = router_process(builder)
    response = httpx.post(proc.url + "/v1/messages", json=claude_code_turn(), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["x-coderouter-provider"] == answered_by
    if answered_by == "local":
        (line,) = proc.wait_for_log(1)
        assert line["dropped"]["thinking_config"] == 1
        assert "thinking" not in local.requests[0].body


# --- thinking on OpenAI-compatible targets --------------------------------------------------


def test_thinking_reaches_a_chat_target_that_can_think_and_is_dropped_elsewhere(
    router_process: Any, fake_upstreams: Any
) -> None:
    qwen3, coder = upstream(fake_upstreams, "qwen3"), upstream(fake_upstreams, "coder")
    builder = (
        ConfigBuilder()
        .provider("qwen3", qwen3, model="qwen3:8b")
        .provider("coder", coder, model="qwen2.5-coder:7b")
        .profile("default", ["qwen3"])
        .profile("plain", ["coder"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    for model in ("default", "plain"):
        client.messages.create(
            model="claude-opus-4-8",
            max_tokens=20000,
            thinking={"type": "enabled", "budget_tokens": 16000},
            messages=[{"role": "user", "content": "think"}],
            extra_body={"profile": model},
        )
    client.messages.create(
        model="claude-opus-4-8",
        max_tokens=100,
        thinking={"type": "disabled"},
        messages=[{"role": "user", "content": "quick"}],
    )
    thinking, plain = qwen3.requests[0].body, coder.requests[0].body
    assert thinking["reasoning_effort"] == "high"
    assert thinking["chat_template_kwargs"] == {"enable_thinking": True}
    assert "reasoning_effort" not in plain and "chat_template_kwargs" not in plain
    assert qwen3.requests[1].body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_effort" not in qwen3.requests[1].body
    lines = proc.wait_for_log(3)
    assert "dropped" not in lines[0]
    assert lines[1]["dropped"] == {"thinking_config": 1}


def test_responses_reasoning_becomes_reasoning_effort_on_a_chat_target(
    router_process: Any, fake_upstreams: Any
) -> None:
    qwen3 = upstream(fake_upstreams, "qwen3")
    builder = (
        ConfigBuilder()
        .provider("qwen3", qwen3, model="qwen3:8b")
        .profile("default", ["qwen3"])
        .plugin("capabilities")
    )
    proc = router_process(builder)
    sdk(proc.url).responses.create(model="m", input="think", reasoning={"effort": "low"})
    sent = qwen3.requests[0].body
    assert sent["reasoning_effort"] == "low"
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
