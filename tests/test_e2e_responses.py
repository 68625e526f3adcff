"""The Responses ingress (codex, openai SDK) through `coderouter serve` to an OpenAI-kind
provider, stream and not."""

from __future__ import annotations

import json
from typing import Any

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
