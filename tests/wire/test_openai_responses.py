"""OpenAI Responses wire format: codex requests, Response objects, streams and errors."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from coderouter.sse import SSEParser, encode_frame
from coderouter.types import Usage
from coderouter.wire.base import PassthroughEdits
from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    Request,
    SignatureDelta,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
)
from coderouter.wire.openai_chat import FORMAT as CHAT
from coderouter.wire.openai_responses import (
    FORMAT,
    NAMESPACES_EXTRA,
    SIGNATURE_PREFIX,
    ResponsesStreamEncoder,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clients"


def fixture_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())["body"]
    return body


TURN0 = "codex_responses_turn0.json"
TURN1 = "codex_responses_turn1_reasoning_function_call_output.json"

NAMESPACED = [
    "multi_agent_v1__close_agent",
    "multi_agent_v1__resume_agent",
    "multi_agent_v1__send_input",
    "multi_agent_v1__spawn_agent",
    "multi_agent_v1__wait_agent",
]


def answer_events(
    *,
    text: str = "Done.",
    tool: tuple[str, str, str] | None = None,
    thinking: tuple[str, str] | None = None,
    stop: Any = "end_turn",
    usage: Usage | None = None,
) -> list[Event]:
    """An answer as a provider would stream it: optional thinking, text, optional tool call."""
    events: list[Event] = [MessageStart("msg_up", "up-model", Usage(input_tokens=90))]
    index = 0
    if thinking is not None:
        events += [
            BlockStart(index, {"type": "thinking"}),
            ThinkingDelta(index, thinking[0][:5]),
            ThinkingDelta(index, thinking[0][5:]),
            SignatureDelta(index, thinking[1]),
            BlockStop(index),
        ]
        index += 1
    events += [
        BlockStart(index, {"type": "text"}),
        TextDelta(index, text[:3]),
        TextDelta(index, text[3:]),
        BlockStop(index),
    ]
    index += 1
    if tool is not None:
        call_id, name, args = tool
        events += [
            BlockStart(index, {"type": "tool_use", "id": call_id, "name": name}),
            ToolArgsDelta(index, args[:4]),
            ToolArgsDelta(index, args[4:]),
            BlockStop(index),
        ]
    usage = usage or Usage(
        input_tokens=90, output_tokens=12, cache_read_tokens=10, reasoning_tokens=4
    )
    return [*events, MessageDelta(stop, usage), MessageStop()]


def encode_stream(events: list[Event], request_body: dict[str, Any], chunk: int = 0) -> bytes:
    encoder = FORMAT.stream_encoder(model="router-model", request_body=request_body)
    if chunk <= 0:
        return encoder.encode(events)
    return b"".join(encoder.encode(events[i : i + chunk]) for i in range(0, len(events), chunk))


def sse_payloads(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    frames = SSEParser().feed(raw)
    return [(f.event, json.loads(f.data)) for f in frames]


def decode_stream(raw: bytes, step: int = 0) -> tuple[list[Event], bool]:
    parser = SSEParser()
    decoder = FORMAT.stream_decoder()
    events: list[Event] = []
    pieces = [raw] if step <= 0 else [raw[i : i + step] for i in range(0, len(raw), step)]
    for piece in pieces:
        for frame in parser.feed(piece):
            events += decoder.feed(frame)
    for frame in parser.flush():
        events += decoder.feed(frame)
    events += decoder.finish()
    return events, decoder.complete


def sdk_client(respond: Callable[[dict[str, Any]], httpx.Response]) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/responses"
        return respond(json.loads(request.content))

    return openai.OpenAI(
        base_url="http://router.test/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),  # type: ignore[arg-type]
    )


def sse_response(raw: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=raw)


FUNCTION_TOOL: Any = {
    "type": "function",
    "name": "exec_command",
    "description": "run a command",
    "strict": False,
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
}
NAMESPACE_TOOL: Any = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "agents",
    "tools": [
        {
            "type": "function",
            "name": "spawn_agent",
            "description": "spawn",
            "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
        }
    ],
}


# --- requests: codex fixtures -----------------------------------------------------------------


def test_codex_turn0_developer_messages_become_system_and_tools_flatten() -> None:
    body = fixture_body(TURN0)
    request = FORMAT.decode_request(body)

    dev_texts = [p["text"] for item in body["input"][:2] for p in item["content"]]
    assert [b["text"] for b in request.system] == dev_texts
    assert len(request.system) == 3
    user_texts = [item["content"][0]["text"] for item in body["input"][2:]]
    assert request.messages == [
        {"role": "user", "content": [{"type": "text", "text": t} for t in user_texts]}
    ]
    names = [t["name"] for t in request.tools]
    assert len(names) == 12  # 7 functions + 5 inside the namespace; web_search dropped
    assert names[4:9] == NAMESPACED
    assert request.tools[0]["input_schema"] == body["tools"][0]["parameters"]
    spawn = body["tools"][4]["tools"][3]
    assert request.tools[7]["description"] == spawn["description"]
    assert request.tools[7]["input_schema"] == spawn["parameters"]
    assert request.extras[NAMESPACES_EXTRA]["multi_agent_v1__spawn_agent"] == [
        "multi_agent_v1",
        "spawn_agent",
    ]
    assert request.dropped == {"hosted_tools": 1}
    assert request.tool_choice == {"type": "auto"}
    assert request.stream is True
    assert request.thinking is None  # reasoning has a summary but no effort
    assert request.source == "openai_responses"
    extras = request.extras["openai_responses"]
    assert extras["store"] is False
    assert extras["include"] == ["reasoning.encrypted_content"]
    assert extras["reasoning"] == {"summary": "auto"}
    assert extras["parallel_tool_calls"] is True
    assert extras["prompt_cache_key"] == body["prompt_cache_key"]
    assert extras["client_metadata"] == body["client_metadata"]
    assert "input" not in extras and "tools" not in extras and "model" not in extras


def test_codex_turn1_keeps_call_order_and_drops_reasoning() -> None:
    body = fixture_body(TURN1)
    request = FORMAT.decode_request(body)

    assert request.dropped == {"reasoning": 1, "hosted_tools": 1}
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assistant = request.messages[1]["content"]
    assert assistant == [
        {"type": "text", "text": "adipiscing ut adipisc"},
        {
            "type": "tool_use",
            "id": "call_98ca30d51e2c4812ae63c715",
            "name": "exec_command",
            "input": {"cmd": "echo hi > hello.txt"},
        },
    ]
    assert request.messages[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_98ca30d51e2c4812ae63c715",
            "content": body["input"][-1]["output"],
        }
    ]


def test_codex_turn1_reencodes_as_a_valid_chat_body() -> None:
    body = fixture_body(TURN1)
    request = FORMAT.decode_request(body)
    chat = CHAT.encode_request(request, model="qwen3-coder", stream=True)

    messages = chat["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    dev_texts = [p["text"] for item in body["input"][:2] for p in item["content"]]
    assert messages[0]["content"] == "\n\n".join(dev_texts)
    call = messages[2]["tool_calls"][0]
    assert call["id"] == messages[3]["tool_call_id"] == "call_98ca30d51e2c4812ae63c715"
    assert call["function"]["name"] == "exec_command"
    assert json.loads(call["function"]["arguments"]) == {"cmd": "echo hi > hello.txt"}
    assert messages[2]["content"] == "adipiscing ut adipisc"
    assert messages[3]["content"] == body["input"][-1]["output"]
    tool_names = [t["function"]["name"] for t in chat["tools"]]
    assert len(tool_names) == 12 and "multi_agent_v1__wait_agent" in tool_names
    assert chat["tool_choice"] == "auto"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    for key in ("store", "include", "prompt_cache_key", "client_metadata", "reasoning"):
        assert key not in chat


def test_codex_turn0_reencodes_as_chat_with_system_then_user() -> None:
    request = FORMAT.decode_request(fixture_body(TURN0))
    chat = CHAT.encode_request(request, model="m", stream=False)
    assert [m["role"] for m in chat["messages"]] == ["system", "user"]
    assert "stream" not in chat


@pytest.mark.parametrize("name", [TURN0, TURN1])
def test_codex_request_survives_a_responses_round_trip(name: str) -> None:
    request = FORMAT.decode_request(fixture_body(name))
    body = FORMAT.encode_request(request, model="gpt-5", stream=True)
    again = FORMAT.decode_request(body)

    assert body["model"] == "gpt-5" and body["stream"] is True
    assert again.system == request.system
    assert again.messages == request.messages
    assert again.tools == request.tools
    assert again.tool_choice == request.tool_choice
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"summary": "auto"}
    assert body["store"] is False
    assert all(t["type"] == "function" for t in body["tools"])


# --- requests: shapes -------------------------------------------------------------------------


def test_string_input_and_instructions() -> None:
    request = FORMAT.decode_request(
        {"model": "m", "instructions": "Be brief.", "input": "hi", "max_output_tokens": 50}
    )
    assert request.system == [{"type": "text", "text": "Be brief."}]
    assert request.messages == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert request.max_tokens == 50
    assert request.stream is False


def test_later_developer_message_stays_in_place_as_system() -> None:
    request = FORMAT.decode_request(
        {
            "input": [
                {"role": "developer", "content": "rules"},
                {"role": "user", "content": "one"},
                {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "mid"}],
                },
                {"role": "user", "content": "two"},
            ]
        }
    )
    assert request.system == [{"type": "text", "text": "rules"}]
    assert [m["role"] for m in request.messages] == ["user", "system", "user"]
    assert request.messages[1]["content"] == [{"type": "text", "text": "mid"}]
    chat = CHAT.encode_request(request, model="m", stream=False)
    assert [(m["role"], m["content"]) for m in chat["messages"]] == [
        ("system", "rules"),
        ("user", "one"),
        ("system", "mid"),
        ("user", "two"),
    ]


def test_images_become_base64_or_url_blocks() -> None:
    request = FORMAT.decode_request(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBOR"},
                        {"type": "input_image", "image_url": "https://x.test/a.jpg"},
                        {"type": "input_file", "file_id": "file_1"},
                    ],
                }
            ]
        }
    )
    assert request.messages[0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
    ]
    assert request.dropped == {"files": 1}
    body = FORMAT.encode_request(request, model="m", stream=False)
    assert body["input"][0]["content"][1]["image_url"] == "data:image/png;base64,iVBOR"
    assert body["input"][0]["content"][2]["image_url"] == "https://x.test/a.jpg"


def test_function_call_output_parts_and_namespaced_call() -> None:
    request = FORMAT.decode_request(
        {
            "input": [
                {"role": "user", "content": "spawn and look"},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "spawn_agent",
                    "namespace": "multi_agent_v1",
                    "arguments": '{"message": "go"}',
                },
                {
                    "type": "function_call",
                    "call_id": "c2",
                    "name": "view_image",
                    "arguments": "not json",
                },
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_text", "text": "spawned"}],
                },
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [
                        {"type": "input_text", "text": "here"},
                        {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j"},
                    ],
                },
            ],
            "tools": [NAMESPACE_TOOL],
        }
    )
    calls = request.messages[1]["content"]
    assert [(c["id"], c["name"], c["input"]) for c in calls] == [
        ("c1", "multi_agent_v1__spawn_agent", {"message": "go"}),
        ("c2", "view_image", {}),
    ]
    results = request.messages[2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "c1", "content": "spawned"}
    assert results[1]["tool_use_id"] == "c2"
    assert results[1]["content"] == [
        {"type": "text", "text": "here"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j"}},
    ]
    assert [t["name"] for t in request.tools] == ["multi_agent_v1__spawn_agent"]


def test_hosted_tools_are_dropped_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="coderouter.wire")
    request = FORMAT.decode_request(
        {
            "input": "hi",
            "tools": [
                FUNCTION_TOOL,
                {"type": "web_search"},
                {"type": "file_search", "vector_store_ids": ["v"]},
                {"type": "code_interpreter", "container": {"type": "auto"}},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
            ],
        }
    )
    assert [t["name"] for t in request.tools] == ["exec_command", "apply_patch"]
    assert request.dropped == {"hosted_tools": 3}
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "coderouter.wire")
    for kind in ("web_search", "file_search", "code_interpreter"):
        assert repr(kind) in logged


@pytest.mark.parametrize(
    ("choice", "expected", "chat"),
    [
        ("auto", {"type": "auto"}, "auto"),
        ("none", {"type": "none"}, "none"),
        ("required", {"type": "any"}, "required"),
        (
            {"type": "function", "name": "exec_command"},
            {"type": "tool", "name": "exec_command"},
            {"type": "function", "function": {"name": "exec_command"}},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any], chat: Any) -> None:
    request = FORMAT.decode_request({"input": "x", "tools": [FUNCTION_TOOL], "tool_choice": choice})
    assert request.tool_choice == expected
    assert CHAT.encode_request(request, model="m", stream=False)["tool_choice"] == chat
    assert FORMAT.encode_request(request, model="m", stream=False)["tool_choice"] == choice


@pytest.mark.parametrize(
    ("effort", "budget"),
    [
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
        ("minimal", 1024),
        ("none", None),
        ("loud", None),
    ],
)
def test_reasoning_effort_sets_a_thinking_budget(effort: str, budget: int | None) -> None:
    reasoning = {"effort": effort, "summary": "auto"}
    request = FORMAT.decode_request({"input": "x", "reasoning": reasoning})
    if effort == "none":
        assert request.thinking == {"type": "disabled"}
    elif budget is None:
        assert request.thinking is None
    else:
        assert request.thinking == {"type": "enabled", "budget_tokens": budget}
    assert request.extras["openai_responses"]["reasoning"] == reasoning
    body = FORMAT.encode_request(request, model="m", stream=False)
    assert body["reasoning"] == reasoning


def test_text_format_becomes_response_format_and_back() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    text = {
        "format": {"type": "json_schema", "name": "title", "schema": schema, "strict": True},
        "verbosity": "low",
    }
    request = FORMAT.decode_request(
        {"input": "x", "text": text, "temperature": 0.2, "top_p": 0.9, "user": "u1"}
    )
    assert request.response_format == {
        "type": "json_schema",
        "schema": schema,
        "name": "title",
        "strict": True,
    }
    assert request.temperature == 0.2 and request.top_p == 0.9
    assert request.extras["openai_responses"] == {"user": "u1", "text": {"verbosity": "low"}}
    chat = CHAT.encode_request(request, model="m", stream=False)
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "title", "schema": schema, "strict": True},
    }
    body = FORMAT.encode_request(request, model="m", stream=False)
    assert body["text"] == text
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["user"] == "u1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m"}, "'input' is a required property"),
        ({"input": 3}, "'input' must be a string or an array of input items"),
        ({"input": ["hi"]}, "input[0] must be an object"),
        (
            {"input": [{"role": "tool", "content": "x"}]},
            "input[0].role must be one of 'user', 'assistant', 'system', 'developer'",
        ),
        (
            {"input": [{"role": "user", "content": 5}]},
            "input[0].content must be a string or an array",
        ),
        (
            {"input": [{"role": "user", "content": "a"}, {"type": "function_call", "name": "f"}]},
            "input[1].call_id must be a string",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "c"}]},
            "input[0].output must be a string or an array",
        ),
        ({"input": "x", "stream": "yes"}, "'stream' must be a boolean"),
        ({"input": "x", "model": 4}, "'model' must be a string"),
        ({"input": "x", "tools": {}}, "'tools' must be an array"),
        (
            {"input": "x", "tools": [{"name": "f"}]},
            "tools[0] must be an object with a 'type' string",
        ),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name must be a string"),
        ({"input": "x", "instructions": ["a"]}, "'instructions' must be a string"),
        ({"input": "x", "max_output_tokens": "9"}, "'max_output_tokens' must be an integer"),
    ],
)
def test_validation_messages(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        FORMAT.decode_request(body)
    assert str(info.value) == message


def test_encode_request_from_an_anthropic_shaped_request() -> None:
    chat_request = CHAT.decode_request(
        {
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "run ls"},
                {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "a.txt"},
            ],
            "tools": [{"type": "function", "function": {"name": "Bash", "parameters": {}}}],
            "max_tokens": 300,
            "stop": ["END"],
        }
    )
    chat_request.system[0]["cache_control"] = {"type": "ephemeral"}
    chat_request.thinking = {"type": "enabled", "budget_tokens": 31999}
    body = FORMAT.encode_request(chat_request, model="gpt-5", stream=False)
    assert body["input"] == [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "sys"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run ls"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}],
        },
        {"type": "function_call", "call_id": "t1", "name": "Bash", "arguments": '{"command":"ls"}'},
        {"type": "function_call_output", "call_id": "t1", "output": "a.txt"},
    ]
    assert body["tools"][0]["name"] == "Bash" and body["tools"][0]["type"] == "function"
    assert body["max_output_tokens"] == 300
    assert body["reasoning"] == {"effort": "high"}
    assert "stream" not in body
    assert chat_request.dropped == {"cache_control": 1, "stop": 1}


def test_passthrough_replaces_model_appends_notes_and_clamps() -> None:
    body = fixture_body(TURN1)
    body["profile"] = "fast"
    body["max_output_tokens"] = 64000
    original = copy.deepcopy(body)
    out = FORMAT.passthrough_request(
        body,
        PassthroughEdits(
            model="gpt-5.1-codex",
            stream=True,
            notes=["Answer in French.", "Be terse."],
            max_tokens=8000,
        ),
    )
    assert body == original  # the client's body is not modified
    assert out["model"] == "gpt-5.1-codex"
    assert "profile" not in out
    assert out["max_output_tokens"] == 8000
    assert out["input"][:-1] == body["input"]  # the OpenAI reasoning item stays
    assert out["input"][-1] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Answer in French.\n\nBe terse."}],
    }
    for key in ("tools", "include", "store", "reasoning", "client_metadata", "stream"):
        assert out[key] == body[key]


def test_passthrough_without_notes_keeps_input_and_wraps_string_input() -> None:
    body = {"model": "a", "input": "hi", "max_output_tokens": 100}
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="b", stream=False, notes=[], max_tokens=500)
    )
    assert out == {"model": "b", "input": "hi", "max_output_tokens": 100}
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="b", stream=False, notes=["n"], max_tokens=None)
    )
    assert out["input"] == [
        {"type": "message", "role": "user", "content": "hi"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "n"}]},
    ]


def test_passthrough_strips_reasoning_items_made_from_other_providers_thinking() -> None:
    ours = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "t"}],
        "encrypted_content": SIGNATURE_PREFIX + "sig",
    }
    openais = {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAA"}
    body = {"model": "a", "input": [{"role": "user", "content": "q"}, ours, openais]}
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="b", stream=True, notes=[], max_tokens=None)
    )
    assert out["input"] == [{"role": "user", "content": "q"}, openais]


# --- whole responses --------------------------------------------------------------------------


def test_encode_response_builds_a_full_response_object() -> None:
    events = answer_events(tool=("call_1", "exec_command", '{"cmd":"ls"}'), stop="tool_use")
    obj = FORMAT.encode_response(events, model="router-model")

    assert obj["id"].startswith("resp_") and obj["object"] == "response"
    assert obj["status"] == "completed" and obj["incomplete_details"] is None
    assert obj["model"] == "router-model" and obj["error"] is None
    message, call = obj["output"]
    assert message["id"].startswith("msg_") and message["status"] == "completed"
    assert message["role"] == "assistant"
    assert message["content"] == [
        {"type": "output_text", "text": "Done.", "annotations": [], "logprobs": []}
    ]
    assert call["id"].startswith("fc_")
    assert {k: call[k] for k in ("type", "call_id", "name", "arguments", "status")} == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "exec_command",
        "arguments": '{"cmd":"ls"}',
        "status": "completed",
    }
    assert obj["usage"] == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 112,
    }
    for key in ("parallel_tool_calls", "tool_choice", "tools", "created_at", "metadata"):
        assert key in obj


def test_encode_response_max_tokens_is_incomplete() -> None:
    obj = FORMAT.encode_response(answer_events(stop="max_tokens"), model="m")
    assert obj["status"] == "incomplete"
    assert obj["incomplete_details"] == {"reason": "max_output_tokens"}


def test_encode_response_restores_namespaces_with_the_request_body() -> None:
    events = answer_events(tool=("c9", "multi_agent_v1__spawn_agent", '{"message":"go"}'))
    body = {"input": "x", "tools": [FUNCTION_TOOL, NAMESPACE_TOOL]}
    call = FORMAT.encode_response(events, model="m", request_body=body)["output"][1]
    assert (call["name"], call["namespace"]) == ("spawn_agent", "multi_agent_v1")
    flat = FORMAT.encode_response(events, model="m")["output"][1]
    assert flat["name"] == "multi_agent_v1__spawn_agent" and "namespace" not in flat


def test_thinking_becomes_a_reasoning_item_that_decodes_back() -> None:
    events = answer_events(
        thinking=("Let me think.", "SIG=="), tool=("c1", "exec_command", '{"cmd":"ls"}')
    )
    obj = FORMAT.encode_response(events, model="m")
    reasoning = obj["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Let me think."}]
    assert reasoning["encrypted_content"] == SIGNATURE_PREFIX + "SIG=="

    # codex echoes the output items in the next request: the thinking comes back signed
    echoed = [*obj["output"], {"type": "function_call_output", "call_id": "c1", "output": "a.txt"}]
    request = FORMAT.decode_request({"input": [{"role": "user", "content": "q"}, *echoed]})
    assert request.messages[1]["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "SIG=="},
        {"type": "text", "text": "Done."},
        {"type": "tool_use", "id": "c1", "name": "exec_command", "input": {"cmd": "ls"}},
    ]
    assert request.dropped == {}


def test_unsigned_thinking_has_no_encrypted_content_and_is_dropped_when_echoed() -> None:
    events: list[Event] = [
        MessageStart("x", "m"),
        BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
        ThinkingDelta(0, "hmm"),
        BlockStop(0),
        BlockStart(1, {"type": "text"}),
        TextDelta(1, "hi"),
        BlockStop(1),
        MessageDelta("end_turn"),
        MessageStop(),
    ]
    item = FORMAT.encode_response(events, model="m")["output"][0]
    assert item["summary"] == [{"type": "summary_text", "text": "hmm"}]
    assert "encrypted_content" not in item
    request = FORMAT.decode_request({"input": [{"role": "user", "content": "q"}, item]})
    assert request.dropped == {"reasoning": 1}


def test_decode_response_round_trip() -> None:
    events = answer_events(
        thinking=("Plan: list.", "S1"),
        tool=("c1", "exec_command", '{"cmd":"ls"}'),
        stop="tool_use",
        usage=Usage(
            input_tokens=5,
            output_tokens=7,
            cache_read_tokens=3,
            cache_write_tokens=2,
            reasoning_tokens=1,
        ),
    )
    obj = FORMAT.encode_response(events, model="m")
    decoded = accumulate(FORMAT.decode_response(obj))
    original = accumulate(events)
    assert decoded.content == original.content
    assert decoded.stop_reason == "tool_use"
    assert decoded.usage == original.usage
    assert FORMAT.usage_of(obj) == original.usage


def test_decode_response_of_an_openai_body() -> None:
    body = {
        "id": "resp_abc",
        "object": "response",
        "model": "gpt-5",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "incomplete",
                "content": [{"type": "output_text", "text": "Partial", "annotations": []}],
            },
        ],
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"cached_tokens": 20},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 59,
        },
    }
    response = accumulate(FORMAT.decode_response(body))
    assert response.id == "resp_abc" and response.model == "gpt-5"
    assert response.content == [{"type": "text", "text": "Partial"}]
    assert response.stop_reason == "max_tokens"
    assert response.usage == Usage(
        input_tokens=30, output_tokens=9, cache_read_tokens=20, reasoning_tokens=3
    )


def test_sdk_responses_create_parses_encode_response() -> None:
    events = answer_events(text="Hello there", tool=("call_7", "exec_command", '{"cmd":"pwd"}'))
    client = sdk_client(
        lambda body: httpx.Response(
            200, json=FORMAT.encode_response(events, model=body["model"], request_body=body)
        )
    )
    response = client.responses.create(model="router-model", input="hi", tools=[FUNCTION_TOOL])

    assert response.output_text == "Hello there"
    assert response.status == "completed"
    assert response.model == "router-model"
    call = response.output[1]
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == ("call_7", "exec_command", '{"cmd":"pwd"}')
    assert response.usage is not None
    assert response.usage.input_tokens == 100
    assert response.usage.input_tokens_details.cached_tokens == 10
    assert response.usage.output_tokens_details.reasoning_tokens == 4
    assert response.usage.total_tokens == 112


# --- streams ----------------------------------------------------------------------------------


def test_stream_event_sequence_satisfies_codex_and_the_sdk() -> None:
    events = answer_events(
        thinking=("Thinking hard.", "SIG"), tool=("call_1", "exec_command", '{"cmd":"ls"}')
    )
    frames = sse_payloads(encode_stream(events, fixture_body(TURN0)))

    kinds = [data["type"] for _, data in frames]
    assert all(event == data["type"] for event, data in frames)  # event: lines match
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert frames[0][1]["response"]["status"] == "in_progress"
    assert frames[0][1]["response"]["output"] == []
    assert kinds[-1] == "response.completed"
    added = [d["item"]["type"] for _, d in frames if d["type"] == "response.output_item.added"]
    done = [d["item"] for _, d in frames if d["type"] == "response.output_item.done"]
    assert added == [d["type"] for d in done] == ["reasoning", "message", "function_call"]
    completed = frames[-1][1]["response"]
    assert completed["output"] == done
    assert completed["status"] == "completed"
    assert completed["usage"]["input_tokens"] == 100
    assert done[0]["encrypted_content"] == SIGNATURE_PREFIX + "SIG"
    assert done[0]["summary"] == [{"type": "summary_text", "text": "Thinking hard."}]
    assert done[1]["content"][0]["text"] == "Done."
    assert done[2]["arguments"] == '{"cmd":"ls"}' and done[2]["call_id"] == "call_1"
    assert {d["response"]["id"] for _, d in frames if "response" in d} == {completed["id"]}
    for name in (
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
    ):
        assert name in kinds
    deltas = [d for _, d in frames if d["type"] == "response.output_text.delta"]
    assert "".join(d["delta"] for d in deltas) == "Done."
    assert {(d["item_id"], d["output_index"], d["content_index"]) for d in deltas} == {
        (done[1]["id"], 1, 0)
    }


def test_sdk_stream_accumulator_reads_text_tool_call_and_usage() -> None:
    events = answer_events(
        text="Listing files now.",
        thinking=("Need ls.", "SIG"),
        tool=("call_42", "exec_command", '{"cmd":"ls -la"}'),
        stop="tool_use",
    )
    client = sdk_client(lambda body: sse_response(encode_stream(events, body, chunk=2)))
    with client.responses.stream(
        model="router-model", input="list files", tools=[FUNCTION_TOOL]
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(deltas) == "Listing files now."
    assert final.output_text == "Listing files now."
    assert final.status == "completed"
    call = next(item for item in final.output if item.type == "function_call")
    assert (call.name, call.arguments, call.call_id) == (
        "exec_command",
        '{"cmd":"ls -la"}',
        "call_42",
    )
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Need ls."
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (100, 12)
    assert final.usage.input_tokens_details.cached_tokens == 10


def test_sdk_stream_namespaced_call_gets_its_namespace_back() -> None:
    events = answer_events(tool=("call_9", "multi_agent_v1__spawn_agent", '{"message":"x"}'))
    client = sdk_client(lambda body: sse_response(encode_stream(events, body)))
    with client.responses.stream(
        model="m", input="go", tools=[FUNCTION_TOOL, NAMESPACE_TOOL]
    ) as stream:
        final = stream.get_final_response()
    call = final.output[1]
    assert call.type == "function_call"
    assert (call.name, call.namespace, call.call_id) == ("spawn_agent", "multi_agent_v1", "call_9")


def test_stream_max_tokens_completes_with_status_incomplete() -> None:
    client = sdk_client(
        lambda body: sse_response(encode_stream(answer_events(stop="max_tokens"), body))
    )
    with client.responses.stream(model="m", input="x") as stream:
        final = stream.get_final_response()
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output_text == "Done."


def test_stream_error_ends_with_response_failed_and_nothing_after() -> None:
    events = answer_events()
    cut = [*events[:4], StreamError("overloaded", "upstream overloaded"), *events[4:]]
    raw = encode_stream(cut, {"input": "x"})
    frames = sse_payloads(raw)
    assert frames[-1][0] == "response.failed"
    failed = frames[-1][1]
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "upstream overloaded"}
    assert [d["type"] for _, d in frames].count("response.completed") == 0
    assert failed["response"]["id"] == frames[0][1]["response"]["id"]

    client = sdk_client(lambda body: sse_response(raw))
    with (
        pytest.raises(openai.APIError) as info,
        client.responses.stream(model="m", input="x") as stream,
    ):
        stream.get_final_response()
    assert "upstream overloaded" in str(info.value)

    decoded, complete = decode_stream(raw)
    assert not complete
    assert decoded[-1] == StreamError("api_error", "upstream overloaded")
    assert accumulate(decoded).content == [{"type": "text", "text": "Done."}]


def test_stream_error_before_any_content_still_starts_with_created() -> None:
    raw = encode_stream([StreamError("rate_limit", "slow down")], {"input": "x"})
    kinds = [d["type"] for _, d in sse_payloads(raw)]
    assert kinds == ["response.created", "response.in_progress", "response.failed"]
    decoded, _ = decode_stream(raw)
    assert decoded[-1] == StreamError("rate_limit", "slow down")


def test_encoder_then_decoder_gives_the_same_response() -> None:
    events = answer_events(
        thinking=("Consider the files.", "SIGNATURE"),
        tool=("call_3", "exec_command", '{"cmd":"cat a"}'),
        stop="tool_use",
        usage=Usage(
            input_tokens=40,
            output_tokens=30,
            cache_read_tokens=60,
            cache_write_tokens=5,
            reasoning_tokens=11,
        ),
    )
    raw = encode_stream(events, {"input": "x"}, chunk=1)
    decoded, complete = decode_stream(raw)
    assert complete
    original = accumulate(events)
    result = accumulate(decoded)
    assert result.content == original.content
    assert result.stop_reason == original.stop_reason == "tool_use"
    assert result.usage == original.usage
    assert isinstance(decoded[0], MessageStart) and decoded[0].id.startswith("resp_")


def test_decoding_split_at_every_byte_gives_the_same_events() -> None:
    events = answer_events(
        text="héllo wörld ✓",
        thinking=("Ünïcode thoughts", "S"),
        tool=("call_5", "exec_command", '{"cmd":"echo ✓"}'),
    )
    raw = encode_stream(events, {"input": "x"})
    whole, complete = decode_stream(raw)
    split, split_complete = decode_stream(raw, step=1)
    assert complete and split_complete
    assert split == whole
    assert accumulate(split).content[1] == {"type": "text", "text": "héllo wörld ✓"}


def test_namespaced_stream_round_trip_keeps_the_flat_name() -> None:
    events = answer_events(tool=("c1", "multi_agent_v1__spawn_agent", "{}"))
    raw = encode_stream(events, {"input": "x", "tools": [NAMESPACE_TOOL]})
    done = [d["item"] for _, d in sse_payloads(raw) if d["type"] == "response.output_item.done"]
    assert (done[1]["name"], done[1]["namespace"]) == ("spawn_agent", "multi_agent_v1")
    decoded, _ = decode_stream(raw)
    assert accumulate(decoded).content[1]["name"] == "multi_agent_v1__spawn_agent"


def test_empty_tool_arguments_are_sent_as_an_empty_object() -> None:
    events: list[Event] = [
        MessageStart("m", "x"),
        BlockStart(0, {"type": "tool_use", "id": "c1", "name": "get_goal"}),
        BlockStop(0),
        MessageDelta("tool_use"),
        MessageStop(),
    ]
    frames = sse_payloads(encode_stream(events, {"input": "x"}))
    done = next(d for _, d in frames if d["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == "{}"


def test_unclosed_blocks_are_finished_before_completed() -> None:
    events: list[Event] = [
        MessageStart("m", "x"),
        BlockStart(0, {"type": "text"}),
        TextDelta(0, "cut short"),
        MessageDelta("end_turn"),
        MessageStop(),
    ]
    kinds = [d["type"] for _, d in sse_payloads(encode_stream(events, {"input": "x"}))]
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]


def test_decoder_reads_a_server_that_sends_only_done_items() -> None:
    """Servers codex tolerates: no response.created, no deltas, no event: lines."""
    item_msg = {
        "type": "message",
        "id": "m1",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi!"}],
    }
    item_call = {
        "type": "function_call",
        "id": "f1",
        "call_id": "c1",
        "name": "spawn_agent",
        "namespace": "multi_agent_v1",
        "arguments": '{"a":1}',
    }
    raw = b"".join(
        encode_frame(json.dumps(data))
        for data in (
            {"type": "response.output_item.done", "output_index": 0, "item": item_msg},
            {"type": "response.output_item.done", "output_index": 1, "item": item_call},
            {
                "type": "response.completed",
                "response": {
                    "id": "resp_9",
                    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
                },
            },
        )
    )
    events, complete = decode_stream(raw)
    assert complete
    response = accumulate(events)
    assert response.content == [
        {"type": "text", "text": "Hi!"},
        {"type": "tool_use", "id": "c1", "name": "multi_agent_v1__spawn_agent", "input": {"a": 1}},
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=3, output_tokens=2)


def test_decoder_joins_summary_parts_and_ignores_foreign_encrypted_content() -> None:
    def frame(data: dict[str, Any]) -> bytes:
        return encode_frame(json.dumps(data), data["type"])

    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    raw = b"".join(
        frame(d)
        for d in (
            {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5"}},
            {"type": "response.output_item.added", "output_index": 0, "item": reasoning},
            {
                "type": "response.reasoning_summary_part.added",
                "output_index": 0,
                "summary_index": 0,
                "item_id": "rs_1",
            },
            {
                "type": "response.reasoning_summary_text.delta",
                "output_index": 0,
                "summary_index": 0,
                "item_id": "rs_1",
                "delta": "First.",
            },
            {
                "type": "response.reasoning_summary_part.added",
                "output_index": 0,
                "summary_index": 1,
                "item_id": "rs_1",
            },
            {
                "type": "response.reasoning_summary_text.delta",
                "output_index": 0,
                "summary_index": 1,
                "item_id": "rs_1",
                "delta": "Second.",
            },
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {
                    **reasoning,
                    "encrypted_content": "gAAAAB",
                    "summary": [
                        {"type": "summary_text", "text": "First."},
                        {"type": "summary_text", "text": "Second."},
                    ],
                },
            },
            {"type": "response.completed", "response": {"id": "resp_1", "status": "completed"}},
        )
    )
    events, complete = decode_stream(raw)
    assert complete
    assert events[0] == MessageStart("resp_1", "gpt-5")
    response = accumulate(events)
    assert response.content == [{"type": "thinking", "thinking": "First.\n\nSecond."}]
    assert response.stop_reason == "end_turn"


def test_decoder_maps_upstream_failures() -> None:
    failed = {
        "type": "response.failed",
        "response": {
            "id": "r",
            "status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "Try again in 2s"},
        },
    }
    error = {"type": "error", "code": "server_error", "message": "boom"}
    decoder = FORMAT.stream_decoder()
    events = decoder.feed(SSEParser().feed(encode_frame(json.dumps(failed)))[0])
    assert events == [StreamError("rate_limit", "Try again in 2s")]
    events = decoder.feed(SSEParser().feed(encode_frame(json.dumps(error)))[0])
    assert events == [StreamError("api_error", "boom")]
    garbage = decoder.feed(SSEParser().feed(b"data: {not json\n\n")[0])
    assert isinstance(garbage[0], StreamError) and garbage[0].error_type == "api_error"
    assert not decoder.complete
    assert decoder.finish() == []


def test_relay_frame_is_the_raw_frame() -> None:
    frame = SSEParser().feed(b'event: response.created\ndata: {"type":"x"}\n\n')[0]
    assert FORMAT.relay_frame(frame, {}) == frame.raw


def test_stream_encoder_type() -> None:
    assert isinstance(FORMAT.stream_encoder(model="m", request_body={}), ResponsesStreamEncoder)


# --- errors -----------------------------------------------------------------------------------


def test_error_body_uses_the_openai_shape() -> None:
    assert FORMAT.error_body("overloaded", "busy") == {
        "error": {"message": "busy", "type": "server_error", "param": None, "code": None}
    }
    assert FORMAT.error_body("rate_limit", "slow")["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    ("error_type", "code"),
    [
        ("rate_limit", "rate_limit_exceeded"),
        ("budget", "insufficient_quota"),
        ("invalid_request", "invalid_prompt"),
        ("overloaded", "server_error"),
        ("api_error", "server_error"),
    ],
)
def test_stream_error_is_a_response_failed_frame(error_type: str, code: str) -> None:
    raw = FORMAT.stream_error(error_type, "went wrong")
    ((event, data),) = sse_payloads(raw)
    assert event == data["type"] == "response.failed"
    assert data["response"]["status"] == "failed"
    assert data["response"]["id"].startswith("resp_")
    assert data["response"]["error"] == {"code": code, "message": "went wrong"}
    assert FORMAT.error_message(data) == "went wrong"


def test_error_message_shapes() -> None:
    assert FORMAT.error_message({"error": {"message": "bad key"}}) == "bad key"
    assert FORMAT.error_message({"error": "plain"}) == "plain"
    assert FORMAT.error_message({"message": "top"}) == "top"
    assert FORMAT.error_message("nope") == ""


def test_a_tool_reference_result_becomes_text_naming_the_tool() -> None:
    request = Request(
        model="m",
        messages=[
            {"role": "user", "content": "find uses"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "find_tool", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "text", "text": "found:"},
                            {"type": "tool_reference", "tool_name": "Grep"},
                        ],
                    }
                ],
            },
        ],
    )
    body = FORMAT.encode_request(request, model="gpt-5", stream=False)
    [output] = [item for item in body["input"] if item["type"] == "function_call_output"]
    assert output["output"] == "found:\nTool Grep is available; call it as a function."
    assert request.dropped == {}
