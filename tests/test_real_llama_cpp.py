"""``coderouter serve`` in front of a real llama.cpp server (llama-cpp-python with Gemma 3 270M),
talked to with the official SDKs. The model is a base model: with :data:`TEXT_PROMPT` it rambles,
with most other prompts it answers nothing.

These tests share two small CPU cores: prompts are short and ``max_tokens`` small.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion
from coderouter.testing.llama import MODEL_ALIAS, TEXT_PROMPT, LlamaServer

pytestmark = [pytest.mark.real_backend, pytest.mark.timeout(600)]

CLIENTS = Path(__file__).parent / "fixtures" / "clients"
SMALL_CTX = 512
CLAUDE_CODE_CTX = 8192
MAX_TOKENS = 6


def chat_messages() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": TEXT_PROMPT["system"]},
        {"role": "user", "content": TEXT_PROMPT["user"]},
    ]


@pytest.fixture
def local(llama_server: Any) -> LlamaServer:
    server: LlamaServer = llama_server(SMALL_CTX)
    return server


@pytest.fixture
def router(router_process: Any, local: LlamaServer) -> Any:
    builder = ConfigBuilder().provider("llamacpp", local.base_url, model=MODEL_ALIAS)
    return router_process(builder.profile("default", ["llamacpp"]))


def openai_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=300)


def anthropic_client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, timeout=300)


def test_chat_non_stream_and_stream(router: Any) -> None:
    sdk = openai_client(router.url)
    whole = sdk.chat.completions.create(
        model="m",
        messages=chat_messages(),
        max_tokens=MAX_TOKENS,
        temperature=0,  # type: ignore[arg-type]
    )
    assert whole.choices[0].message.content
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None
    assert whole.usage.completion_tokens == MAX_TOKENS
    assert whole.usage.prompt_tokens > 5
    with (
        sdk.chat.completions.stream(
            model="m",
            messages=chat_messages(),  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
            temperature=0,
            stream_options={"include_usage": True},
        ) as stream,
        pytest.raises(openai.LengthFinishReasonError) as stopped,
    ):
        stream.get_final_completion()
    final = stopped.value.completion
    assert final.choices[0].message.content == whole.choices[0].message.content
    assert final.choices[0].finish_reason == "length"
    lines = router.wait_for_log(2)
    assert [line["status"] for line in lines] == [200, 200]
    # The server streams no usage: one content frame per token counts the output, the
    # router's estimate the input.
    assert lines[1]["usage"]["output_tokens"] == MAX_TOKENS
    assert lines[1]["usage"]["input_tokens"] > 5
    assert lines[1]["usage_estimated"] == ["output_tokens", "input_tokens"]


def test_messages_stream_and_not(router: Any) -> None:
    sdk = anthropic_client(router.url)
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": MAX_TOKENS,
        "extra_body": {"temperature": 0},
        "system": TEXT_PROMPT["system"],
        "messages": [{"role": "user", "content": TEXT_PROMPT["user"]}],
    }
    whole = sdk.messages.create(**request)
    assert whole.content[0].type == "text" and whole.content[0].text
    assert whole.stop_reason == "max_tokens"
    assert whole.usage.output_tokens == MAX_TOKENS
    assert whole.usage.input_tokens > 5
    with sdk.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text"
    assert final.content[0].text == whole.content[0].text
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == MAX_TOKENS


def test_responses_stream_and_not(router: Any) -> None:
    sdk = openai_client(router.url)
    request: dict[str, Any] = {
        "model": "m",
        "instructions": TEXT_PROMPT["system"],
        "input": TEXT_PROMPT["user"],
        "max_output_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    whole = sdk.responses.create(**request)
    assert whole.output_text
    assert whole.status == "incomplete"
    assert whole.usage is not None and whole.usage.output_tokens == MAX_TOKENS
    with sdk.responses.stream(**request) as stream:
        final = stream.get_final_response()
    assert final.output_text == whole.output_text
    assert final.usage is not None and final.usage.output_tokens == MAX_TOKENS


MENTIONED = ("codex_default_model_additional_tools.json", "codex_responses_turn0.json")


def claude_code_turn() -> dict[str, Any]:
    """Claude Code's turn a few steps into a session, about 20k tokens in its system prompt and
    messages alone: its recorded first turn (system prompt, tools, the user's request), then a
    turn in which the user mentioned two files with ``@`` (Claude Code puts a mentioned file's
    text into the user message), here two recorded client bodies of 105 kB together. The
    server's default chat format keeps only system, user and assistant text (tools, another
    16k tokens, and tool messages are left out), so the size has to be in that text."""
    body: dict[str, Any] = json.loads((CLIENTS / "claude_code_main_turn0.json").read_text())["body"]
    mentions: list[dict[str, Any]] = []
    for name in MENTIONED:
        call = json.dumps({"file_path": str(CLIENTS / name)})
        text = (CLIENTS / name).read_text()
        mentions += [
            {"type": "text", "text": f"Called the Read tool with the following input: {call}"},
            {"type": "text", "text": f"Result of calling the Read tool: {text}"},
        ]
    question = {"type": "text", "text": f"Compare what @{MENTIONED[0]} and @{MENTIONED[1]} send."}
    body["messages"] = [
        *body["messages"],
        {"role": "assistant", "content": [{"type": "text", "text": "Which files?"}]},
        {"role": "user", "content": [*mentions, question]},
    ]
    return body


def sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as SDK arguments: the fields this SDK version has no parameter for go in
    ``extra_body``."""
    known = {"model", "messages", "system", "tools", "metadata", "max_tokens", "thinking"}
    extra = {k: v for k, v in body.items() if k not in known and k != "stream"}
    return {**{k: v for k, v in body.items() if k in known}, "extra_body": extra}


@pytest.fixture
def claude_code_local(llama_server: Any) -> LlamaServer:
    server: LlamaServer = llama_server(CLAUDE_CODE_CTX)
    return server


def test_claude_code_sized_request_is_prompt_too_long(
    router_process: Any, claude_code_local: LlamaServer
) -> None:
    builder = ConfigBuilder().provider("llamacpp", claude_code_local.base_url, model=MODEL_ALIAS)
    router = router_process(builder.profile("default", ["llamacpp"]))
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client(router.url).messages.create(**sdk_arguments(claude_code_turn()))
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    prompt, limit = _too_long_numbers(error["message"])
    # N is the server's own count of the prompt it built (the tools left out), about 20k
    # tokens, without Claude Code's max_tokens that the server adds to its total.
    assert limit == CLAUDE_CODE_CTX and 15_000 < prompt < 30_000
    (line,) = router.wait_for_log(1)
    reason = line["attempts"][0]["reason"]
    assert f"({prompt} in the messages, {claude_code_turn()['max_tokens']} in the completion)" in (
        reason
    )


def _too_long_numbers(message: str) -> tuple[int, int]:
    found = re.fullmatch(r"prompt is too long: (\d+) tokens > (\d+) maximum", message)
    assert found, message
    return int(found.group(1)), int(found.group(2))


def test_claude_code_sized_stream_falls_back(
    router_process: Any, claude_code_local: LlamaServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(chat_completion("from the bigger one")))
    builder = (
        ConfigBuilder()
        .provider("llamacpp", claude_code_local.base_url, model=MODEL_ALIAS)
        .provider("bigger", fake_upstream)
        .profile("default", ["llamacpp", "bigger"])
    )
    proc = router_process(builder)
    with anthropic_client(proc.url).messages.stream(**sdk_arguments(claude_code_turn())) as stream:
        final = stream.get_final_message()
        headers = stream.response.headers
    assert final.content[0].type == "text" and final.content[0].text == "from the bigger one"
    assert headers["x-coderouter-provider"] == "bigger"
    assert "llamacpp=failed" in headers["x-coderouter-fallback"]
    (sent,) = fake_upstream.bodies()
    assert f"Compare what @{MENTIONED[0]}" in json.dumps(sent["messages"][-1])


def test_client_disconnect_stops_generation(router: Any, local: LlamaServer) -> None:
    long_answer = 400
    before = len(local.generated_token_counts())
    with httpx.stream(
        "POST",
        router.url + "/v1/chat/completions",
        json={
            "model": "m",
            "messages": chat_messages(),
            "max_tokens": long_answer,
            "temperature": 0,
            "stream": True,
        },
        timeout=300,
    ) as response:
        for chunk in response.iter_bytes():
            if b'"content"' in chunk:
                break
    log = router.wait_for_log(1, timeout_s=60)
    assert log[-1]["status"] == 499
    assert log[-1]["client_disconnected"] is True
    # The next completion runs only once the server let go of the first one.
    follow_up = openai_client(local.url).chat.completions.create(
        model=MODEL_ALIAS,
        messages=chat_messages(),
        max_tokens=1,
        temperature=0,  # type: ignore[arg-type]
    )
    assert follow_up.usage is not None and follow_up.usage.completion_tokens == 1
    assert local.saw_client_disconnect()
    assert long_answer not in local.generated_token_counts()[before:]


def test_a_forced_tool_is_emulated_and_the_servers_own_grammar_still_applies(
    router_process: Any, local: LlamaServer
) -> None:
    """llama-cpp-python constrains its output to a named function's arguments (and ignores
    ``required``): with ``forced_tool_choice = false`` the router adds the instruction and keeps
    only the named tool, and the ``tool_choice`` it keeps still gets the call."""
    builder = (
        ConfigBuilder()
        .provider(
            "llamacpp",
            local.base_url,
            model=MODEL_ALIAS,
            capabilities={"forced_tool_choice": False},
        )
        .profile("default", ["llamacpp"])
        .plugin("capabilities")
    )
    router = router_process(builder)
    schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    message = anthropic_client(router.url).messages.create(
        model="m",
        max_tokens=64,
        tools=[
            {"name": "Read", "description": "read a file", "input_schema": schema},
            {"name": "Write", "description": "write a file", "input_schema": schema},
        ],
        tool_choice={"type": "tool", "name": "Write"},
        messages=[{"role": "user", "content": "save the file a.txt"}],
    )
    # Without tool_choice this base model answers nothing; with it, the grammar gives the call
    # (its arguments are whatever a 270M model puts there, an empty object often enough).
    calls = [b for b in message.content if b.type == "tool_use"]
    assert [c.name for c in calls] == ["Write"]
    assert isinstance(calls[0].input, dict)
    (line,) = router.wait_for_log(1)
    assert line["emulated"] == {"tool_choice": 1}
