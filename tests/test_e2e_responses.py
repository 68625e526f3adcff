"""The Responses ingress (codex, openai SDK) through `coderouter serve` to an OpenAI-kind
provider, stream and not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


@pytest.fixture
def proc(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    builder = ConfigBuilder().provider("local", fake_upstream, model="qwen3-coder")
    return router_process(builder.profile("default", ["local"]))


def test_non_stream_text(proc: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        Answer.json(chat_completion("four", prompt_tokens=12, completion_tokens=2))
    )
    response = client(proc.url).responses.create(
        model="gpt-5", input="2+2?", instructions="answer in words"
    )
    assert response.output_text == "four"
    assert response.id.startswith("resp_")
    assert response.usage is not None and response.usage.input_tokens == 12
    sent = fake_upstream.requests[0].body
    assert sent["model"] == "qwen3-coder"
    assert sent["messages"][0] == {"role": "system", "content": "answer in words"}
    assert sent["messages"][1]["role"] == "user"
    assert "stream" not in sent


def test_stream_with_function_call_final_response(proc: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        Answer.sse(
            chat_stream(
                ["Let me look."],
                tool_calls=[{"id": "call_9", "name": "exec_command", "arguments": {"cmd": "ls"}}],
            ),
            delay_s=0.005,
        )
    )
    tools: Any = [
        {
            "type": "function",
            "name": "exec_command",
            "description": "run",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        }
    ]
    with client(proc.url).responses.stream(
        model="gpt-5", input="list files", tools=tools
    ) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "exec_command"
    assert json.loads(calls[0].arguments) == {"cmd": "ls"}
    assert calls[0].call_id == "call_9"
    assert "Let me look." in final.output_text
    sent = fake_upstream.requests[0].body
    assert sent["stream"] is True
    assert sent["tools"][0]["function"]["name"] == "exec_command"


def test_codex_turn_reaches_chat_provider(proc: Any, fake_upstream: FakeUpstream) -> None:
    from pathlib import Path

    body = json.loads(
        (
            Path(__file__).parent
            / "fixtures"
            / "clients"
            / "codex_responses_turn1_reasoning_function_call_output.json"
        ).read_text()
    )
    body = body.get("body", body)
    fake_upstream.script(Answer.sse(chat_stream(["done"])))
    import httpx

    with httpx.stream("POST", proc.url + "/v1/responses", json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [
            json.loads(line[6:])["type"]
            for line in response.iter_lines()
            if line.startswith("data: ")
        ]
    assert events[0] == "response.created"
    assert "response.output_item.done" in events
    assert events[-1] == "response.completed"
    sent = fake_upstream.requests[0].body
    roles = [m["role"] for m in sent["messages"]]
    assert roles[0] == "system" and "tool" in roles


def test_bad_input_in_openai_error_shape(proc: Any, fake_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError, match="'input' is a required property"):
        client(proc.url).responses.create(model="gpt-5")  # type: ignore[call-overload]
    assert fake_upstream.count == 0


def codex_default_model_turn() -> dict[str, Any]:
    """codex with its default model: no ``tools``, an ``additional_tools`` input item with
    namespaces and a free-form (``custom``) ``exec`` tool."""
    path = (
        Path(__file__).parent / "fixtures" / "clients" / "codex_default_model_additional_tools.json"
    )
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return body


@pytest.mark.parametrize("stream", [False, True])
def test_codex_additional_tools_and_custom_tool_both_ways(
    proc: Any, fake_upstream: FakeUpstream, stream: bool
) -> None:
    call = [{"id": "call_1", "name": "functions__exec", "arguments": {"input": "ls -la"}}]
    fake_upstream.script(
        Answer.sse(chat_stream([], tool_calls=call))
        if stream
        else Answer.json(chat_completion("", tool_calls=call))
    )
    body = {**codex_default_model_turn(), "stream": stream}
    response = httpx.post(proc.url + "/v1/responses", json=body, timeout=30)
    assert response.status_code == 200, response.text
    sent = fake_upstream.requests[0].body
    names = [t["function"]["name"] for t in sent["tools"]]
    assert {"functions__exec", "functions__wait", "clock__sleep"} <= set(names)
    exec_tool = sent["tools"][names.index("functions__exec")]["function"]
    assert exec_tool["parameters"]["required"] == ["input"]
    if stream:
        done = [
            json.loads(line[len("data: ") :])
            for line in response.text.splitlines()
            if line.startswith("data: ") and '"response.output_item.done"' in line
        ]
        item = done[-1]["item"]
    else:
        item = response.json()["output"][-1]
    assert item["type"] == "custom_tool_call"
    assert (item["namespace"], item["name"], item["input"]) == ("functions", "exec", "ls -la")
    assert item["call_id"] == "call_1"


def test_custom_tool_call_echoed_back_reaches_the_model(
    proc: Any, fake_upstream: FakeUpstream
) -> None:
    body = codex_default_model_turn()
    body["stream"] = False
    body["input"] = [
        *body["input"],
        {
            "type": "custom_tool_call",
            "call_id": "call_1",
            "namespace": "functions",
            "name": "exec",
            "input": "ls -la",
        },
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "a.py"},
    ]
    response = httpx.post(proc.url + "/v1/responses", json=body, timeout=30)
    assert response.status_code == 200, response.text
    messages = fake_upstream.requests[0].body["messages"]
    (call,) = messages[-2]["tool_calls"]
    assert call["function"]["name"] == "functions__exec"
    assert json.loads(call["function"]["arguments"]) == {"input": "ls -la"}
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "a.py"}
