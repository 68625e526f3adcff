"""A forced ``tool_choice`` for a Chat server that ignores it (``forced_tool_choice = false``):
the upstream gets an instruction naming the tool(s) and, for a named tool, only that tool, with
``tool_choice`` kept; the log line counts it in ``emulated``. Through `coderouter serve` with
the official SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

CALL = [{"id": "call_1", "name": "Write", "arguments": {"path": "a.txt"}}]
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
ANTHROPIC_TOOLS: Any = [
    {"name": "Read", "description": "read a file", "input_schema": SCHEMA},
    {"name": "Write", "description": "write a file", "input_schema": SCHEMA},
]
CHAT_TOOLS: Any = [
    {"type": "function", "function": {"name": t["name"], "parameters": SCHEMA}}
    for t in ANTHROPIC_TOOLS
]


def start(router_process: Any, upstream: FakeUpstream, **capabilities: Any) -> Any:
    upstream.default = Answer.json(chat_completion("", tool_calls=CALL))
    built = (
        ConfigBuilder()
        .provider("local", upstream, model="qwen2.5-coder", capabilities=capabilities)
        .profile("default", ["local"])
        .plugin("capabilities")
    )
    return router_process(built)


def names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body["tools"]]


def test_a_named_tool_becomes_an_instruction_and_the_only_tool(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    router = start(router_process, fake_upstream, forced_tool_choice=False)
    client = anthropic.Anthropic(base_url=router.url, api_key="x", max_retries=0)
    message = client.messages.create(
        model="m",
        max_tokens=64,
        system="You are a coding agent.",
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "Write"},
        messages=[{"role": "user", "content": "save it"}],
    )
    assert message.content[0].type == "tool_use" and message.content[0].name == "Write"
    (sent,) = fake_upstream.bodies()
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Write"}}
    assert names(sent) == ["Write"]
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a coding agent.")
    assert system["content"].endswith(
        "Answer only by calling the tool `Write` with its arguments; do not answer in text."
    )
    (line,) = router.wait_for_log(1)
    assert line["emulated"] == {"tool_choice": 1}


def test_required_on_a_chat_pass_through_names_every_tool(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    router = start(router_process, fake_upstream, forced_tool_choice=False)
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
    answer = client.chat.completions.create(
        model="m",
        tools=CHAT_TOOLS,
        tool_choice="required",
        messages=[{"role": "user", "content": "go"}],
    )
    assert answer.choices[0].message.tool_calls is not None
    (sent,) = fake_upstream.bodies()
    assert sent["tool_choice"] == "required" and names(sent) == ["Read", "Write"]
    assert sent["messages"][0] == {
        "role": "system",
        "content": (
            "Answer only by calling one of the tools `Read`, `Write`; do not answer in text."
        ),
    }
    assert sent["messages"][1] == {"role": "user", "content": "go"}


def test_a_server_that_honours_tool_choice_gets_it_unchanged(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    router = start(router_process, fake_upstream)
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
    choice: Any = {"type": "function", "function": {"name": "Write"}}
    client.chat.completions.create(
        model="m",
        tools=CHAT_TOOLS,
        tool_choice=choice,
        messages=[{"role": "user", "content": "go"}],
    )
    (sent,) = fake_upstream.bodies()
    assert sent["tool_choice"] == choice and names(sent) == ["Read", "Write"]
    assert sent["messages"] == [{"role": "user", "content": "go"}]
    (line,) = router.wait_for_log(1)
    assert "emulated" not in line


def test_allowed_tools_that_are_not_an_array_are_a_400_the_upstream_never_sees(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    router = start(router_process, fake_upstream, forced_tool_choice=False)
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
    choice: Any = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": 5}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="m",
            tools=CHAT_TOOLS,
            tool_choice=choice,
            messages=[{"role": "user", "content": "go"}],
        )
    assert "tool_choice.allowed_tools.tools" in caught.value.message
    assert fake_upstream.bodies() == []
