"""End to end: ``coderouter serve`` with the plugin enabled, the openai SDK as the client and a
fake upstream that records what reached it."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

ARGS = {"command": "pytest -x", "cwd": "/repo"}


def history(repeats: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "make the tests pass"}]
    for i in range(repeats):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps(ARGS)},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "1 failed"})
    return messages


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def builder(upstream: FakeUpstream, **settings: Any) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("local", upstream)
        .profile("default", ["local"])
        .plugin("tool_loop", **settings)
    )


def test_warn_forwards_the_request_and_logs_a_guard_event(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    proc = router_process(builder(fake_upstream))
    raw = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=history(3))
    assert raw.parse().choices[0].message.content == "hello"
    assert fake_upstream.count == 1
    sent = fake_upstream.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["user"] + ["assistant", "tool"] * 3
    [guard] = proc.wait_for_log(1, event="guard")
    assert guard["request_id"] == raw.headers["x-request-id"]
    assert (guard["plugin"], guard["action"], guard["tool"], guard["count"]) == (
        "tool_loop",
        "warn",
        "bash",
        3,
    )
    assert "pytest" not in json.dumps(guard)  # arguments may hold secrets; never logged
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["tool_loop"]
    assert state["detections"] == {"bash": 1}


def test_inject_sends_the_note_to_the_model(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    proc = router_process(builder(fake_upstream, action="inject"))
    sdk(proc.url).chat.completions.create(model="m", messages=history(3), stream=False)
    last = fake_upstream.requests[0].body["messages"][-1]
    assert last["role"] == "system"
    assert "`bash` 3 times in a row" in last["content"]


def test_no_note_without_a_loop(router_process: Any, fake_upstream: FakeUpstream) -> None:
    proc = router_process(builder(fake_upstream, action="inject"))
    sdk(proc.url).chat.completions.create(model="m", messages=history(2))
    assert fake_upstream.requests[0].body["messages"][-1]["role"] == "tool"
    assert proc.log_lines("guard") == []


def test_break_answers_400_without_calling_any_upstream(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    proc = router_process(builder(fake_upstream, action="break"))
    with pytest.raises(openai.BadRequestError) as info:
        sdk(proc.url).chat.completions.create(model="m", messages=history(4), stream=True)
    assert info.value.status_code == 400
    assert "`bash` 4 times in a row" in info.value.message
    assert fake_upstream.count == 0
    [line] = proc.wait_for_log(1)
    assert line["status"] == 400 and line["provider"] is None
    assert "`bash` 4 times" in line["error"]


def test_profile_override_breaks_only_in_that_profile(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(chat_completion("fine"))
    config = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .profile("strict", ["local"], plugins={"tool_loop": {"action": "break"}})
        .plugin("tool_loop", action="warn")
    )
    proc = router_process(config)
    client = sdk(proc.url)
    assert (
        client.chat.completions.create(model="m", messages=history(3)).choices[0].message.content
        == "fine"
    )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="strict", messages=history(3))
    assert fake_upstream.count == 1


def anthropic_history(repeats: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "make the tests pass"}]
    for i in range(repeats):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": ARGS}
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "1 failed"}
                ],
            }
        )
    return messages


def test_break_on_the_anthropic_ingress(router_process: Any, fake_upstream: FakeUpstream) -> None:
    proc = router_process(builder(fake_upstream, action="break"))
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="m", max_tokens=100, messages=anthropic_history(3))
    assert info.value.status_code == 400
    assert info.value.body["type"] == "error"  # type: ignore[index]
    assert "`Bash` 3 times in a row" in info.value.message
    assert fake_upstream.count == 0


def test_inject_on_the_anthropic_ingress_reaches_an_openai_upstream(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    proc = router_process(builder(fake_upstream, action="inject"))
    client = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    reply = client.messages.create(model="m", max_tokens=100, messages=anthropic_history(3))
    assert reply.content[0].type == "text"
    system = [m for m in fake_upstream.requests[0].body["messages"] if m["role"] == "system"]
    assert any("`Bash` 3 times in a row" in str(m["content"]) for m in system)


def test_break_on_the_responses_ingress(router_process: Any, fake_upstream: FakeUpstream) -> None:
    proc = router_process(builder(fake_upstream, action="break"))
    items: list[Any] = [{"role": "user", "content": "make the tests pass"}]
    for i in range(3):
        items.append(
            {
                "type": "function_call",
                "call_id": f"c{i}",
                "name": "shell",
                "arguments": json.dumps(ARGS),
            }
        )
        items.append({"type": "function_call_output", "call_id": f"c{i}", "output": "1 failed"})
    with pytest.raises(openai.BadRequestError) as info:
        sdk(proc.url).responses.create(model="m", input=items)
    assert "`shell` 3 times in a row" in info.value.message
    assert fake_upstream.count == 0
