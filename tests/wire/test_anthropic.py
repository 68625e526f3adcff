"""Anthropic Messages wire format: requests, responses, streams, errors.

Request shapes come from recorded clients (``tests/fixtures/clients``); streams are checked
against the real ``anthropic`` and ``openai`` SDK accumulators over ``httpx2.MockTransport``
(both SDKs are built on ``httpx2`` and refuse ``httpx`` clients).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from coderouter.sse import Frame, SSEParser
from coderouter.types import Usage
from coderouter.wire.anthropic import (
    DEFAULT_MAX_TOKENS,
    FORMAT,
    context_overflow_message,
    is_invalid_signature_error,
    strip_thinking,
)
from coderouter.wire.base import ERROR_STATUS, PassthroughEdits
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
from coderouter.wire.openai_chat import FORMAT as OPENAI

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clients"

EXPECTED_TOOLS = {
    "anthropic_sdk_stream_thinking_tools": 1,
    "claude_code_compact": 27,
    "claude_code_main_turn0": 24,
    "claude_code_main_turn1_tool_result": 24,
    "claude_code_nonstream_fallback": 24,
    "claude_code_sonnet45_budget_thinking": 24,
    "claude_code_title_small_model_structured_output": 0,
    "claude_code_turn1_with_thinking_echo": 24,
}
MESSAGE_FIXTURES = sorted(EXPECTED_TOOLS)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())["body"]
    return data


def count_cache_control(body: dict[str, Any]) -> int:
    found = sum(1 for b in body.get("system") or [] if "cache_control" in b)
    for msg in body["messages"]:
        if isinstance(msg["content"], list):
            found += sum(1 for b in msg["content"] if "cache_control" in b)
    return found


def system_texts(body: dict[str, Any]) -> list[str]:
    system = body.get("system") or []
    return [system] if isinstance(system, str) else [b["text"] for b in system]


def roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


def blocks_of(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        b
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == kind
    ]


def anthropic_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(overrides)
    return body


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
def test_every_recorded_request_validates(name: str) -> None:
    FORMAT.validate_request(load(name))


def test_count_tokens_body_needs_only_messages() -> None:
    body = load("claude_code_count_tokens")
    FORMAT.validate_count_tokens(body)
    with pytest.raises(ValueError, match=r"^'max_tokens' is a required property$"):
        FORMAT.validate_request(body)
    request = FORMAT.decode_request(body)
    assert request.max_tokens is None
    assert request.messages == [{"role": "user", "content": [{"type": "text", "text": "foo"}]}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5}, "'messages' is a required property"),
        (anthropic_request(messages=[]), "'messages' must be a non-empty array"),
        (anthropic_request(messages={"role": "user"}), "'messages' must be a non-empty array"),
        (anthropic_request(messages=["hi"]), "messages[0] must be an object"),
        (
            anthropic_request(messages=[{"role": "robot", "content": "x"}]),
            "messages[0].role must be 'user', 'assistant' or 'system'",
        ),
        (
            anthropic_request(messages=[{"role": ["user"], "content": "x"}]),
            "messages[0].role must be 'user', 'assistant' or 'system'",
        ),
        (
            anthropic_request(messages=[{"role": "user"}]),
            "messages[0].content is a required property",
        ),
        (
            anthropic_request(messages=[{"role": "user", "content": 5}]),
            "messages[0].content must be a string or an array of content blocks",
        ),
        (
            anthropic_request(
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"text": "x"}]},
                ]
            ),
            "messages[1].content[0] must be an object with a 'type' string",
        ),
        (anthropic_request(max_tokens="100"), "'max_tokens' must be an integer"),
        (anthropic_request(max_tokens=True), "'max_tokens' must be an integer"),
        (anthropic_request(max_tokens=0), "'max_tokens' must be at least 1"),
        (anthropic_request(stream="yes"), "'stream' must be a boolean"),
        (anthropic_request(system=5), "'system' must be a string or an array of text blocks"),
        (anthropic_request(system=[{"type": "image"}]), "system[0] must be a text block"),
        (anthropic_request(model=7), "'model' must be a string"),
        (anthropic_request(tools={"name": "x"}), "'tools' must be an array"),
        (anthropic_request(tools=["Bash"]), "tools[0] must be an object"),
        (anthropic_request(tool_choice="auto"), "'tool_choice' must be an object"),
        (anthropic_request(thinking=True), "'thinking' must be an object"),
        (anthropic_request(stop_sequences="END"), "'stop_sequences' must be an array of strings"),
    ],
)
def test_invalid_requests_name_the_problem(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        FORMAT.validate_request(body)
    assert str(info.value) == message


def test_non_object_body_is_rejected() -> None:
    with pytest.raises(ValueError, match="request body must be a JSON object"):
        FORMAT.validate_request([])  # type: ignore[arg-type]


# --- decoding requests ------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
def test_recorded_requests_decode(name: str) -> None:
    body = load(name)
    request = FORMAT.decode_request(body)
    assert request.source == "anthropic"
    assert request.model == body["model"]
    assert len(request.tools) == EXPECTED_TOOLS[name]
    assert [t["name"] for t in request.tools] == [t["name"] for t in body.get("tools") or []]
    assert [b["text"] for b in request.system] == system_texts(body)
    assert roles({"messages": request.messages}) == roles(body)
    assert all(isinstance(m["content"], list) for m in request.messages)
    assert request.max_tokens == body["max_tokens"]
    assert request.thinking == body.get("thinking")
    assert request.stream is (body.get("stream") is True)
    assert request.metadata == body.get("metadata")


def test_claude_code_turn0_keeps_cache_control_system_role_and_extras() -> None:
    body = load("claude_code_main_turn0")
    request = FORMAT.decode_request(body)
    assert "cache_control" not in request.system[0]
    assert request.system[1]["cache_control"] == {"type": "ephemeral"}
    assert request.system[2]["cache_control"] == {"type": "ephemeral"}
    system_message = request.messages[1]
    assert system_message["role"] == "system"
    assert system_message["content"] == [{"type": "text", "text": body["messages"][1]["content"]}]
    assert len(system_message["content"][0]["text"]) == 6062
    assert request.thinking == {"type": "adaptive"}
    assert request.response_format is None
    assert request.extras["anthropic"] == {
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
    }


def test_structured_output_becomes_response_format() -> None:
    request = FORMAT.decode_request(load("claude_code_title_small_model_structured_output"))
    assert request.response_format == {
        "type": "json_schema",
        "schema": {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    }
    assert request.extras["anthropic"]["output_config"] == {"effort": "high"}


def test_sampling_tool_choice_and_unknown_fields() -> None:
    body = anthropic_request(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END"],
        service_tier="auto",
        tools=[{"name": "Read", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "Read", "disable_parallel_tool_use": True},
    )
    request = FORMAT.decode_request(body)
    assert (request.temperature, request.top_p, request.stop) == (0.2, 0.9, ["END"])
    assert request.tool_choice == {"type": "tool", "name": "Read"}
    assert request.extras["anthropic"] == {
        "top_k": 40,
        "service_tier": "auto",
        "disable_parallel_tool_use": True,
    }


def test_server_tools_are_counted_and_excluded() -> None:
    body = anthropic_request(
        tools=[
            {
                "name": "Bash",
                "description": "run",
                "input_schema": {"type": "object"},
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {"type": "custom", "name": "Read", "input_schema": {"type": "object"}},
        ]
    )
    request = FORMAT.decode_request(body)
    assert [t["name"] for t in request.tools] == ["Bash", "Read"]
    assert request.tools[0]["cache_control"] == {"type": "ephemeral"}
    assert request.dropped == {"server_tools": 1}
    again = FORMAT.encode_request(request, model="claude", stream=False)
    assert [t["name"] for t in again["tools"]] == ["Bash", "Read", "web_search"]
    openai_body = OPENAI.encode_request(request, model="local", stream=False)
    assert [t["function"]["name"] for t in openai_body["tools"]] == ["Bash", "Read"]


# --- encoding for an OpenAI upstream ----------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
def test_recorded_requests_encode_for_openai(name: str) -> None:
    body = load(name)
    request = FORMAT.decode_request(body)
    out = OPENAI.encode_request(request, model="qwen", stream=True)
    assert len(out.get("tools", [])) == EXPECTED_TOOLS[name]
    assert (
        out["messages"][0] == {"role": "system", "content": "\n\n".join(system_texts(body))}
        if body.get("system")
        else out["messages"][0]["role"] == "user"
    )
    mid_system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    assert [m["content"] for m in out["messages"][1:] if m["role"] == "system"] == mid_system
    results = blocks_of(body, "tool_result")
    tool_messages = [m for m in out["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [b["tool_use_id"] for b in results]
    outside_assistant = count_cache_control(
        {
            "messages": [m for m in body["messages"] if m["role"] != "assistant"],
            "system": body.get("system"),
        }
    )
    assert request.dropped.get("cache_control", 0) >= outside_assistant
    assert request.dropped.get("thinking", 0) == len(blocks_of(body, "thinking"))
    assert out["max_tokens"] == body["max_tokens"]
    assert out["stream_options"] == {"include_usage": True}
    json.dumps(out)


def test_claude_code_cache_markers_survive_decoding() -> None:
    for name in (
        "claude_code_main_turn0",
        "claude_code_main_turn1_tool_result",
        "claude_code_turn1_with_thinking_echo",
        "claude_code_compact",
    ):
        request = FORMAT.decode_request(load(name))
        internal = {"system": request.system, "messages": request.messages}
        assert count_cache_control(internal) == 3, name


def test_title_request_gets_openai_response_format() -> None:
    request = FORMAT.decode_request(load("claude_code_title_small_model_structured_output"))
    out = OPENAI.encode_request(request, model="small", stream=False)
    assert out["response_format"]["type"] == "json_schema"
    assert out["response_format"]["json_schema"]["schema"]["required"] == ["title"]
    assert "tools" not in out


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
def test_recorded_requests_round_trip_through_openai(name: str) -> None:
    body = load(name)
    via_openai = OPENAI.encode_request(FORMAT.decode_request(body), model="qwen", stream=True)
    request = OPENAI.decode_request(via_openai)
    out = FORMAT.encode_request(request, model="claude-x", stream=True)
    assert out["model"] == "claude-x"
    assert out["max_tokens"] == body["max_tokens"]
    assert [t["name"] for t in out.get("tools", [])] == [t["name"] for t in body.get("tools", [])]
    assert all(t["input_schema"]["type"] == "object" for t in out.get("tools", []))
    assert "system" not in roles(out)
    assert roles(out)[0] == "user"
    assert all(a != b for a, b in zip(roles(out), roles(out)[1:], strict=False))
    texts = [b["text"] for b in out.get("system", [])]
    expected_system = ["\n\n".join(system_texts(body))] if body.get("system") else []
    mid = [m["content"] for m in body["messages"] if m["role"] == "system"]
    assert texts == expected_system + mid
    used = [b["id"] for b in blocks_of(out, "tool_use")]
    assert [b["tool_use_id"] for b in blocks_of(out, "tool_result")] == used
    assert blocks_of(out, "thinking") == []
    assert out["stream"] is True
    assert "thinking" not in out


# --- encoding for an Anthropic upstream -------------------------------------------------------


def test_anthropic_to_anthropic_keeps_cache_control_and_merges_system() -> None:
    body = load("claude_code_main_turn1_tool_result")
    request = FORMAT.decode_request(body)
    out = FORMAT.encode_request(request, model="claude-sonnet-4-5", stream=True)
    assert [b.get("cache_control") for b in out["system"]] == [
        None,
        {"type": "ephemeral"},
        {"type": "ephemeral"},
        None,
    ]
    assert out["system"][3]["text"] == body["messages"][1]["content"]
    assert roles(out) == ["user", "assistant", "user"]
    assert out["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert out["messages"][1]["content"][1]["input"] == body["messages"][2]["content"][1]["input"]
    assert out["context_management"] == body["context_management"]
    assert out["output_config"] == {"effort": "high"}
    assert out["thinking"] == {"type": "adaptive"}
    assert out["metadata"] == body["metadata"]
    assert out["tools"] == body["tools"]
    assert request.dropped == {}


def test_signed_thinking_goes_back_to_anthropic() -> None:
    body = load("claude_code_turn1_with_thinking_echo")
    out = FORMAT.encode_request(FORMAT.decode_request(body), model="claude", stream=True)
    assert out["messages"][1]["content"][0] == body["messages"][2]["content"][0]
    assert out["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize(
    "thinking_block",
    [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "thinking", "thinking": "hmm", "signature": ""},
        {"type": "thinking", "thinking": "hmm", "signature": "x", "origin": "reasoning_field"},
    ],
)
def test_unsigned_or_foreign_thinking_never_reaches_anthropic(
    thinking_block: dict[str, Any],
) -> None:
    body = load("claude_code_turn1_with_thinking_echo")
    request = FORMAT.decode_request(body)
    request.messages[2] = {
        "role": "assistant",
        "content": [thinking_block, *request.messages[2]["content"][1:]],
    }
    out = FORMAT.encode_request(request, model="claude", stream=True)
    assert blocks_of(out, "thinking") == []
    assert [b["type"] for b in out["messages"][1]["content"]] == ["text", "tool_use"]
    assert request.dropped["thinking"] == 1
    # the current tool-use turn lost its thinking block: thinking must go off with it
    assert "thinking" not in out
    assert "context_management" not in out
    assert request.dropped["thinking_config"] == 1


def test_thinking_stays_on_outside_a_tool_turn() -> None:
    request = FORMAT.decode_request(
        anthropic_request(
            thinking={"type": "enabled", "budget_tokens": 2000},
            max_tokens=8000,
            messages=[
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "t"},
                        {"type": "text", "text": "b"},
                    ],
                },
                {"role": "user", "content": "c"},
            ],
        )
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert out["messages"][1]["content"] == [{"type": "text", "text": "b"}]
    assert "stream" not in out


def test_openai_client_asking_for_reasoning_enables_thinking_with_its_budget() -> None:
    request = OPENAI.decode_request(
        {
            "model": "gpt",
            "reasoning_effort": "high",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok", "reasoning_content": "thought"},
                {"role": "user", "content": "more"},
            ],
        }
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert out["thinking"] == {
        "type": "enabled",
        "budget_tokens": min(24576, DEFAULT_MAX_TOKENS - 1),
    }
    assert "reasoning_effort" not in out
    # The unsigned reasoning text of the earlier turn still cannot go to Anthropic.
    assert out["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS
    assert request.dropped == {"thinking": 1}


def test_thinking_budget_fits_under_max_tokens() -> None:
    request = FORMAT.decode_request(load("claude_code_sonnet45_budget_thinking"))
    request.max_tokens = 8192
    out = FORMAT.encode_request(request, model="claude", stream=True)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 8191}
    request = FORMAT.decode_request(load("claude_code_sonnet45_budget_thinking"))
    request.max_tokens = 1000
    out = FORMAT.encode_request(request, model="claude", stream=True)
    assert "thinking" not in out
    assert "context_management" not in out
    assert request.dropped["thinking_config"] == 1


def test_response_format_becomes_output_config_format() -> None:
    request = OPENAI.decode_request(
        {
            "model": "gpt",
            "messages": [{"role": "user", "content": "title?"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "title",
                    "schema": {"type": "object", "required": ["title"]},
                },
            },
        }
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert out["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object", "required": ["title"]}}
    }
    request = OPENAI.decode_request(
        {
            "model": "gpt",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"},
        }
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert "output_config" not in out
    assert request.dropped == {"response_format": 1}


def test_title_request_round_trips_anthropic_to_anthropic() -> None:
    body = load("claude_code_title_small_model_structured_output")
    out = FORMAT.encode_request(FORMAT.decode_request(body), model="haiku", stream=True)
    assert out["output_config"] == body["output_config"]
    assert "tools" not in out


PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABXvMqGgAAAABJRU5Erk"
    "Jggg=="
)


def test_images_base64_and_url_both_ways() -> None:
    body = anthropic_request(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "compare"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.jpg"},
                    },
                ],
            }
        ]
    )
    openai_body = OPENAI.encode_request(FORMAT.decode_request(body), model="vl", stream=False)
    assert openai_body["messages"][0]["content"] == [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
    ]
    back = FORMAT.encode_request(OPENAI.decode_request(openai_body), model="claude", stream=False)
    assert back["messages"][0]["content"] == body["messages"][0]["content"]


def test_tool_results_keep_order_and_errors_and_come_first() -> None:
    body = anthropic_request(
        tools=[{"name": "Bash", "input_schema": {"type": "object"}}],
        messages=[
            {"role": "user", "content": "run two"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_a",
                        "name": "Bash",
                        "input": {"command": "a"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_b",
                        "name": "Bash",
                        "input": {"command": "b"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "both ran"},
                    {"type": "tool_result", "tool_use_id": "toolu_a", "content": "A out"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_b",
                        "is_error": True,
                        "content": [{"type": "text", "text": "B failed"}],
                    },
                ],
            },
        ],
    )
    out = FORMAT.encode_request(FORMAT.decode_request(body), model="claude", stream=False)
    assert out["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "A out"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "is_error": True,
            "content": [{"type": "text", "text": "B failed"}],
        },
        {"type": "text", "text": "both ran"},
    ]
    openai_body = OPENAI.encode_request(FORMAT.decode_request(body), model="q", stream=False)
    assert [(m["role"], m.get("tool_call_id")) for m in openai_body["messages"]] == [
        ("user", None),
        ("assistant", None),
        ("tool", "toolu_a"),
        ("tool", "toolu_b"),
        ("user", None),
    ]
    assert openai_body["messages"][3]["content"] == "B failed"


def test_turns_alternate_and_tool_ids_are_made_safe() -> None:
    request = Request(
        model="m",
        source="openai_chat",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "a"}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "only thought"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": None}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "functions.Bash:0", "content": "ok"}
                ],
            },
        ],
        tools=[{"name": "Bash", "description": "", "input_schema": {"properties": {}}}],
        temperature=1.7,
        top_p=0.5,
        stop=["\n", "END"],
        max_tokens=None,
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "functions_Bash_0", "name": "Bash", "input": {}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "functions_Bash_0", "content": "ok"}
            ],
        },
    ]
    assert out["tools"] == [{"name": "Bash", "input_schema": {"type": "object", "properties": {}}}]
    assert out["temperature"] == 1.0
    assert "top_p" not in out
    assert out["stop_sequences"] == ["END"]
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS
    assert request.dropped == {"thinking": 1, "top_p": 1}


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    request = OPENAI.decode_request(
        {
            "model": "gpt",
            "messages": [{"role": "user", "content": "x"}],
            "parallel_tool_calls": False,
            "tool_choice": "required",
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
        }
    )
    out = FORMAT.encode_request(request, model="claude", stream=False)
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "parallel_tool_calls" not in out
    body = anthropic_request(
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    out = FORMAT.encode_request(FORMAT.decode_request(body), model="c", stream=False)
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "disable_parallel_tool_use" not in out


def test_encoding_does_not_touch_the_decoded_request() -> None:
    body = load("claude_code_turn1_with_thinking_echo")
    pristine = copy.deepcopy(body)
    request = FORMAT.decode_request(body)
    before = copy.deepcopy(request.messages)
    FORMAT.encode_request(request, model="c", stream=True)
    OPENAI.encode_request(request, model="q", stream=True)
    assert request.messages == before
    assert body == pristine


# --- passthrough ------------------------------------------------------------------------------


def test_passthrough_replaces_model_and_keeps_everything_else() -> None:
    body = load("claude_code_main_turn0")
    body["profile"] = "fast"
    body["some_future_field"] = {"x": [1, 2]}
    pristine = copy.deepcopy(body)
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="claude-opus-4-8", stream=True, notes=[], max_tokens=None)
    )
    assert out["model"] == "claude-opus-4-8"
    assert "profile" not in out
    assert out["some_future_field"] is body["some_future_field"]
    assert out["context_management"] is body["context_management"]
    assert out["messages"] is body["messages"]
    assert out["system"] is body["system"]
    assert out["max_tokens"] == 64000
    assert out["thinking"] == {"type": "adaptive"}
    assert body == pristine


def test_passthrough_appends_notes_and_clamps_max_tokens() -> None:
    body = anthropic_request(system="be brief", max_tokens=64000)
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="m", stream=False, notes=["a", "b"], max_tokens=8192)
    )
    assert out["system"] == [
        {"type": "text", "text": "be brief"},
        {"type": "text", "text": "a\n\nb"},
    ]
    assert out["max_tokens"] == 8192
    assert body["system"] == "be brief"
    out = FORMAT.passthrough_request(
        anthropic_request(max_tokens=100),
        PassthroughEdits(model="m", stream=False, notes=["n"], max_tokens=8192),
    )
    assert out["max_tokens"] == 100
    assert out["system"] == [{"type": "text", "text": "n"}]
    cc = load("claude_code_main_turn0")
    out = FORMAT.passthrough_request(
        cc, PassthroughEdits(model="m", stream=True, notes=["n"], max_tokens=None)
    )
    assert out["system"][:3] == cc["system"]
    assert out["system"][3] == {"type": "text", "text": "n"}


def test_passthrough_keeps_signed_thinking_untouched() -> None:
    body = load("claude_code_turn1_with_thinking_echo")
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="claude", stream=True, notes=[], max_tokens=None)
    )
    assert out["messages"] is body["messages"]
    assert out["thinking"] == {"type": "adaptive"}


def test_passthrough_removes_unsigned_thinking_claude_code_echoes() -> None:
    # Claude Code echoes an unsigned thinking block exactly as it received it: signature "".
    body = load("claude_code_turn1_with_thinking_echo")
    body["messages"][2]["content"][0]["signature"] = ""
    pristine = copy.deepcopy(body)
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="claude", stream=True, notes=[], max_tokens=None)
    )
    assert [b["type"] for b in out["messages"][2]["content"]] == ["text", "tool_use"]
    assert "thinking" not in out
    assert "context_management" not in out
    assert out["output_config"] == {"effort": "high"}
    assert body == pristine


def test_passthrough_fits_thinking_budget_to_clamped_max_tokens() -> None:
    body = load("claude_code_sonnet45_budget_thinking")
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="c", stream=True, notes=[], max_tokens=16000)
    )
    assert out["max_tokens"] == 16000
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 15999}
    assert body["thinking"]["budget_tokens"] == 31999
    out = FORMAT.passthrough_request(
        body, PassthroughEdits(model="c", stream=True, notes=[], max_tokens=512)
    )
    assert "thinking" not in out
    assert "context_management" not in out


def test_strip_thinking_removes_every_thinking_block() -> None:
    body = load("claude_code_turn1_with_thinking_echo")
    body["messages"][2]["content"].insert(1, {"type": "redacted_thinking", "data": "abc"})
    out = strip_thinking(body)
    assert [b["type"] for b in out["messages"][2]["content"]] == ["text", "tool_use"]
    assert "thinking" not in out
    assert "context_management" not in out
    assert body["messages"][2]["content"][0]["type"] == "thinking"
    assert FORMAT.strip_thinking(body) == out


def test_strip_thinking_keeps_thinking_on_outside_a_tool_turn() -> None:
    body = anthropic_request(
        thinking={"type": "adaptive"},
        messages=[
            {"role": "user", "content": "a"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": "s"}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "u", "signature": "s"},
                    {"type": "text", "text": "b"},
                ],
            },
            {"role": "user", "content": "c"},
        ],
    )
    out = strip_thinking(body)
    assert out["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"},
    ]
    assert out["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "messages.1.content.0: Invalid `signature` in `thinking` block", True),
        (400, "messages.3.content.0.thinking.signature: Field required", True),
        (
            400,
            "messages.47.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            "`text`. When `thinking` is enabled, a final `assistant` message must start with a "
            "thinking block",
            True,
        ),
        (
            400,
            "messages.11.content.0: When thinking is disabled, an `assistant` message in the "
            "final position cannot contain `thinking`.",
            True,
        ),
        (500, "Invalid `signature` in `thinking` block", False),
        (400, "prompt is too long: 250000 tokens > 200000 maximum", False),
        (400, "", False),
    ],
)
def test_invalid_signature_errors(status: int, message: str, expected: bool) -> None:
    assert is_invalid_signature_error(status, message) is expected
    assert FORMAT.is_invalid_signature_error(status, message) is expected


# --- context overflow -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "prompt is too long: 250000 tokens > 200000 maximum",
            "prompt is too long: 250000 tokens > 200000 maximum",
        ),
        (
            "This model's maximum context length is 8192 tokens. However, you requested 9000 "
            "tokens (8000 in the messages, 1000 in the completion). Please reduce the length "
            "of the messages or completion.",
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        (
            "This model's maximum context length is 128000 tokens. However, your messages resulted "
            "in 130,500 tokens. Please reduce the length of the messages.",
            "prompt is too long: 130500 tokens > 128000 maximum",
        ),
        (
            "request (9000 tokens) exceeds the available context size (8192 tokens), "
            "try increasing it",
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        (
            "The decoder prompt (length 9000) is longer than the maximum model length of 8192.",
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        (
            "The prompt (total length 25938) is too long to fit into the model (context length "
            "4096).",
            "prompt is too long: 25938 tokens > 4096 maximum",
        ),
        (
            "'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's maximum "
            "context length is 8192 tokens and your request has 5000 input tokens (4096 > 8192 - "
            "5000).",
            "prompt is too long: 9096 tokens > 8192 maximum",
        ),
        (
            "The input token count (1196265) exceeds the maximum number of tokens allowed "
            "(1048575)",
            "prompt is too long: 1196265 tokens > 1048575 maximum",
        ),
        (
            "Prompt has 5,958,968 tokens, but the configured context size is 256,000 tokens",
            "prompt is too long: 5958968 tokens > 256000 maximum",
        ),
        (
            "Requested token count exceeds the model's maximum context length of 131072 tokens",
            "prompt is too long: 131073 tokens > 131072 maximum",
        ),
        ("input length exceeds maximum context length", "prompt is too long: 1 tokens > 0 maximum"),
        ("model 'qwen' not found", None),
        ("max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens", None),
        ("Invalid `signature` in `thinking` block", None),
    ],
)
def test_context_overflow_messages(message: str, expected: str | None) -> None:
    assert context_overflow_message(message) == expected
    assert FORMAT.context_overflow_message(message) == expected


def test_context_overflow_uses_the_error_body_and_the_estimate() -> None:
    body = {
        "error": {
            "code": 400,
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 9100,
            "n_ctx": 8192,
            "message": "the request exceeds the available context size, try increasing it",
        }
    }
    message = FORMAT.error_message(body)
    assert (
        context_overflow_message(message, body=body)
        == "prompt is too long: 9100 tokens > 8192 maximum"
    )
    assert context_overflow_message(message) == "prompt is too long: 1 tokens > 0 maximum"
    assert (
        context_overflow_message(message, request_tokens=30000)
        == "prompt is too long: 30000 tokens > 29999 maximum"
    )
    assert (
        context_overflow_message(
            "Requested token count exceeds the model's maximum context length of 131072 tokens",
            request_tokens=140000,
        )
        == "prompt is too long: 140000 tokens > 131072 maximum"
    )
    assert (
        context_overflow_message(
            "x",
            body={"error": {"message": "x", "code": "context_length_exceeded"}},
            request_tokens=9000,
        )
        == "prompt is too long: 9000 tokens > 8999 maximum"
    )


# --- errors -----------------------------------------------------------------------------------

ANTHROPIC_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "context_overflow": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "budget": "rate_limit_error",
    "overloaded": "overloaded_error",
    "api_error": "api_error",
    "timeout": "api_error",
}


def test_error_types_cover_every_router_status() -> None:
    assert set(ANTHROPIC_ERROR_TYPES) == set(ERROR_STATUS)


@pytest.mark.parametrize(("neutral", "wire"), sorted(ANTHROPIC_ERROR_TYPES.items()))
def test_error_body_and_stream_error(neutral: str, wire: str) -> None:
    assert FORMAT.error_body(neutral, "boom") == {
        "type": "error",
        "error": {"type": wire, "message": "boom"},
    }
    frames = SSEParser().feed(FORMAT.stream_error(neutral, "boom"))
    assert [f.event for f in frames] == ["error"]
    assert json.loads(frames[0].data) == {
        "type": "error",
        "error": {"type": wire, "message": "boom"},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "Overloaded",
        ),
        (
            {
                "error": {
                    "message": "bad model",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            "bad model",
        ),
        (
            {
                "error": {
                    "message": "Provider returned error",
                    "metadata": {"raw": "Invalid `signature` in `thinking` block"},
                }
            },
            "Provider returned error: Invalid `signature` in `thinking` block",
        ),
        ({"error": "model not found"}, "model not found"),
        ({"detail": "Not Found"}, "Not Found"),
        ("plain text", "plain text"),
        (None, ""),
        ({"error": {"code": 5}}, ""),
    ],
)
def test_error_message_reads_both_shapes(body: Any, message: str) -> None:
    assert FORMAT.error_message(body) == message


# --- whole responses --------------------------------------------------------------------------

MESSAGE = {
    "id": "msg_01XYZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Let me check.", "signature": "EqQBCkYIBRgC"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
        {"type": "text", "text": "Running it."},
        {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls -la"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 90,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 4000,
        "output_tokens_details": {"thinking_tokens": 40},
    },
}


def test_usage_of_reads_cache_and_thinking_tokens() -> None:
    assert FORMAT.usage_of(MESSAGE) == Usage(
        input_tokens=12,
        output_tokens=90,
        cache_read_tokens=4000,
        cache_write_tokens=300,
        reasoning_tokens=40,
    )
    assert FORMAT.usage_of({}) == Usage()


def test_decode_response_keeps_block_order_and_signatures() -> None:
    events = FORMAT.decode_response(MESSAGE)
    assert events[0] == MessageStart("msg_01XYZ", "claude-sonnet-4-5", FORMAT.usage_of(MESSAGE))
    response = accumulate(events)
    assert response.content == [
        {"type": "thinking", "thinking": "Let me check.", "signature": "EqQBCkYIBRgC"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
        {"type": "text", "text": "Running it."},
        {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls -la"}},
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage.cache_read_tokens == 4000
    assert isinstance(events[-1], MessageStop)


def test_encode_response_round_trips_a_message() -> None:
    out = FORMAT.encode_response(FORMAT.decode_response(MESSAGE), model="")
    assert out == MESSAGE
    echoed = FORMAT.encode_response(
        FORMAT.decode_response(MESSAGE), model="", request_body=anthropic_request()
    )
    assert echoed == MESSAGE
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.usage.cache_read_input_tokens == 4000


def test_encode_response_of_an_openai_answer() -> None:
    chat = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "qwen",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "reasoning_content": "thinking hard",
                    "tool_calls": [
                        {
                            "id": "call:1",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
    out = FORMAT.encode_response(OPENAI.decode_response(chat), model="my-router/qwen")
    assert out["id"].startswith("msg_")
    assert out["model"] == "my-router/qwen"
    assert out["content"] == [
        {"type": "thinking", "thinking": "thinking hard", "signature": ""},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
    ]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {
        "input_tokens": 20,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
    }
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.content[0].type == "thinking"


# --- streams: decoding ------------------------------------------------------------------------

TRANSCRIPT = "".join(
    f"event: {name}\ndata: {json.dumps(data)}\n\n"
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01ABC",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 12,
                        "cache_creation_input_tokens": 300,
                        "cache_read_input_tokens": 4000,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "The user wants "},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "a listing — café."},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCkYIBRgCKkB"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "I'll list "},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "the files ✓"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "Bash",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"command": "ls'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": ' -la"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 87},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
).encode()

TRANSCRIPT_EVENTS: list[Event] = [
    MessageStart(
        "msg_01ABC",
        "claude-sonnet-4-5",
        Usage(input_tokens=12, output_tokens=1, cache_read_tokens=4000, cache_write_tokens=300),
    ),
    BlockStart(0, {"type": "thinking"}),
    ThinkingDelta(0, "The user wants "),
    ThinkingDelta(0, "a listing — café."),
    SignatureDelta(0, "EqQBCkYIBRgCKkB"),
    BlockStop(0),
    BlockStart(1, {"type": "text"}),
    TextDelta(1, "I'll list "),
    TextDelta(1, "the files ✓"),
    BlockStop(1),
    BlockStart(2, {"type": "tool_use", "id": "toolu_01A", "name": "Bash"}),
    ToolArgsDelta(2, '{"command": "ls'),
    ToolArgsDelta(2, ' -la"}'),
    BlockStop(2),
    MessageDelta("tool_use", Usage(output_tokens=87)),
    MessageStop(),
]


def decode_chunks(chunks: list[bytes]) -> tuple[list[Event], bool]:
    parser = SSEParser()
    decoder = FORMAT.stream_decoder()
    events: list[Event] = []
    for chunk in chunks:
        for frame in parser.feed(chunk):
            events += decoder.feed(frame)
    for frame in parser.flush():
        events += decoder.feed(frame)
    events += decoder.finish()
    return events, decoder.complete


def test_stream_decoder_reads_a_full_transcript() -> None:
    events, complete = decode_chunks([TRANSCRIPT])
    assert events == TRANSCRIPT_EVENTS
    assert complete is True
    response = accumulate(events)
    assert response.content[2]["input"] == {"command": "ls -la"}
    assert response.usage == Usage(
        input_tokens=12, output_tokens=87, cache_read_tokens=4000, cache_write_tokens=300
    )


def test_stream_decoder_gives_the_same_events_at_every_split() -> None:
    for cut in range(1, len(TRANSCRIPT)):
        events, complete = decode_chunks([TRANSCRIPT[:cut], TRANSCRIPT[cut:]])
        assert events == TRANSCRIPT_EVENTS, cut
        assert complete
    one_by_one = [TRANSCRIPT[i : i + 1] for i in range(len(TRANSCRIPT))]
    assert decode_chunks(one_by_one) == (TRANSCRIPT_EVENTS, True)
    assert decode_chunks([TRANSCRIPT.replace(b"\n", b"\r\n")]) == (TRANSCRIPT_EVENTS, True)


def test_stream_without_message_stop_is_complete_after_its_stop_reason() -> None:
    cut = TRANSCRIPT[: TRANSCRIPT.index(b"event: message_stop")]
    events, complete = decode_chunks([cut])
    assert events == TRANSCRIPT_EVENTS
    assert complete


def test_stream_cut_before_its_stop_reason_is_incomplete() -> None:
    cut = TRANSCRIPT[: TRANSCRIPT.index(b"event: message_delta")]
    events, complete = decode_chunks([cut])
    assert events == TRANSCRIPT_EVENTS[:-2]
    assert not complete


@pytest.mark.parametrize(
    ("wire", "neutral"),
    [
        ("overloaded_error", "overloaded"),
        ("rate_limit_error", "rate_limit"),
        ("api_error", "api_error"),
        ("invalid_request_error", "invalid_request"),
        ("something_new", "api_error"),
    ],
)
def test_stream_error_events(wire: str, neutral: str) -> None:
    decoder = FORMAT.stream_decoder()
    data = json.dumps({"type": "error", "error": {"type": wire, "message": "Overloaded"}})
    assert decoder.feed(Frame("error", data, b"")) == [StreamError(neutral, "Overloaded")]
    assert not decoder.complete


def test_stream_decoder_ignores_pings_and_unknown_events_and_flags_garbage() -> None:
    decoder = FORMAT.stream_decoder()
    assert decoder.feed(Frame("ping", '{"type": "ping"}', b"")) == []
    assert decoder.feed(Frame("future_event", '{"type": "future_event"}', b"")) == []
    assert decoder.feed(Frame(None, "", b"")) == []
    [error] = decoder.feed(Frame("content_block_delta", "{not json", b""))
    assert isinstance(error, StreamError) and error.error_type == "api_error"
    [error] = decoder.feed(Frame(None, '{"type": "content_block_stop", "index": "x"}', b""))
    assert isinstance(error, StreamError) and error.error_type == "api_error"


def test_stream_decoder_keeps_content_inside_block_starts() -> None:
    decoder = FORMAT.stream_decoder()
    frame = Frame(
        None,
        json.dumps(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "t1",
                    "name": "Read",
                    "input": {"path": "a"},
                },
            }
        ),
        b"",
    )
    assert decoder.feed(frame) == [
        BlockStart(0, {"type": "tool_use", "id": "t1", "name": "Read"}),
        ToolArgsDelta(0, '{"path":"a"}'),
    ]


def test_relay_frame_is_the_raw_bytes() -> None:
    [frame] = SSEParser().feed(b'event: ping\ndata: {"type": "ping"}\n\n')
    assert FORMAT.relay_frame(frame, {}) == b'event: ping\ndata: {"type": "ping"}\n\n'


# --- streams: encoding ------------------------------------------------------------------------


def frames_of(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    return [(f.event, json.loads(f.data)) for f in SSEParser().feed(data)]


def assert_strict_anthropic_stream(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """What the strictest clients need, checked frame by frame."""
    frames = frames_of(data)
    assert data.count(b"event: ") == len(frames)
    assert all(event == body["type"] for event, body in frames)
    assert frames[0][0] == "message_start"
    usage = frames[0][1]["message"]["usage"]
    assert set(usage) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    assert frames[1][0] == "ping"
    starts = [b["index"] for e, b in frames if e == "content_block_start"]
    stops = [b["index"] for e, b in frames if e == "content_block_stop"]
    assert starts == list(range(len(starts)))
    assert sorted(stops) == starts
    deltas = [b["index"] for e, b in frames if e == "content_block_delta"]
    assert all(i in starts for i in deltas)
    [delta] = [b for e, b in frames if e == "message_delta"]
    assert isinstance(delta["usage"]["output_tokens"], int)
    assert delta["delta"]["stop_reason"] is not None
    assert frames[-1][0] == "message_stop"
    return frames


def test_stream_encoder_output_satisfies_strict_clients() -> None:
    data = FORMAT.stream_encoder(model="router-big", request_body={}).encode(TRANSCRIPT_EVENTS)
    frames = assert_strict_anthropic_stream(data)
    message = frames[0][1]["message"]
    assert message["id"] == "msg_01ABC"
    assert message["model"] == "router-big"
    assert frames[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}


def test_stream_encoder_round_trips_through_the_decoder() -> None:
    encoder = FORMAT.stream_encoder(model="", request_body={})
    data = b"".join(encoder.encode([event]) for event in TRANSCRIPT_EVENTS)
    events, complete = decode_chunks([data])
    assert complete
    assert accumulate(events) == accumulate(TRANSCRIPT_EVENTS)


def test_stream_encoder_repairs_loose_event_sequences() -> None:
    events: list[Event] = [
        TextDelta(3, "no start"),  # no MessageStart, no BlockStart
        BlockStart(5, {"type": "text"}),
        TextDelta(5, ""),
        BlockStop(5),  # empty text block
        BlockStart(7, {"type": "thinking", "origin": "reasoning_field"}),
        ThinkingDelta(7, "hmm"),
        BlockStart(9, {"type": "tool_use", "id": "call:9", "name": "Read"}),
        ToolArgsDelta(9, '{"path": "a"}'),
        MessageDelta("end_turn", Usage(input_tokens=50, output_tokens=9)),
        MessageStop(),
    ]
    data = FORMAT.stream_encoder(model="m", request_body={}).encode(events)
    frames = assert_strict_anthropic_stream(data)
    starts = [b["content_block"] for e, b in frames if e == "content_block_start"]
    assert starts == [
        {"type": "text", "text": ""},
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "tool_use", "id": "call_9", "name": "Read", "input": {}},
    ]
    [delta] = [b for e, b in frames if e == "message_delta"]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["input_tokens"] == 50
    assert frames[0][1]["message"]["id"].startswith("msg_")


def test_stream_encoder_closes_a_message_that_never_sent_its_delta() -> None:
    events: list[Event] = [
        MessageStart("chatcmpl-9", "q"),
        BlockStart(0, {"type": "text"}),
        TextDelta(0, "hi"),
        MessageStop(),
    ]
    frames = assert_strict_anthropic_stream(
        FORMAT.stream_encoder(model="", request_body={}).encode(events)
    )
    assert [e for e, _ in frames] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert frames[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_stream_encoder_turns_errors_into_error_events() -> None:
    encoder = FORMAT.stream_encoder(model="m", request_body={})
    head = encoder.encode(
        [MessageStart("msg_1", "m"), BlockStart(0, {"type": "text"}), TextDelta(0, "par")]
    )
    tail = encoder.encode([StreamError("overloaded", "upstream overloaded")])
    assert frames_of(tail) == [
        (
            "error",
            {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "upstream overloaded"},
            },
        )
    ]
    assert frames_of(head)[-1][1]["delta"] == {"type": "text_delta", "text": "par"}


# --- streams against the real SDKs ------------------------------------------------------------


def anthropic_client(payload: bytes, content_type: str) -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        return httpx2.Response(200, content=payload, headers={"content-type": content_type})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(
        base_url="http://router.test", api_key="x", http_client=http, max_retries=0
    )


def final_message(payload: bytes) -> anthropic.types.Message:
    client = anthropic_client(payload, "text/event-stream")
    with client.messages.stream(
        model="claude-test", max_tokens=1024, messages=[{"role": "user", "content": "list files"}]
    ) as stream:
        return stream.get_final_message()


def test_anthropic_sdk_accumulates_the_encoded_stream() -> None:
    data = FORMAT.stream_encoder(model="router-big", request_body={}).encode(TRANSCRIPT_EVENTS)
    message = final_message(data)
    assert message.id == "msg_01ABC"
    assert message.model == "router-big"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "The user wants a listing — café."
    assert thinking.signature == "EqQBCkYIBRgCKkB"
    assert text.type == "text" and text.text == "I'll list the files ✓"
    assert tool.type == "tool_use" and tool.input == {"command": "ls -la"}
    assert tool.id == "toolu_01A" and tool.name == "Bash"
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 12
    assert message.usage.output_tokens == 87
    assert message.usage.cache_read_input_tokens == 4000
    assert message.usage.cache_creation_input_tokens == 300


def openai_stream_bytes(chunks: int = 50) -> bytes:
    """An OpenAI-kind provider's stream: reasoning, text, one tool call, usage, [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return (
            "data: "
            + json.dumps(
                {
                    "id": "chatcmpl-abc",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "qwen3-coder",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )
            + "\n\n"
        )

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"reasoning_content": f"r{i} "}) for i in range(5)]
    parts += [chunk({"content": f"w{i} "}) for i in range(chunks - 12)]
    parts.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": ""},
                    }
                ]
            }
        )
    )
    for piece in ('{"comm', 'and": "ec', 'ho hi"}'):
        parts.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    parts.append(chunk({}, "tool_calls"))
    parts.append(
        "data: "
        + json.dumps(
            {
                "id": "chatcmpl-abc",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "qwen3-coder",
                "choices": [],
                "usage": {
                    "prompt_tokens": 900,
                    "completion_tokens": 120,
                    "prompt_tokens_details": {"cached_tokens": 800},
                },
            }
        )
        + "\n\n"
    )
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def openai_to_anthropic(data: bytes) -> bytes:
    parser = SSEParser()
    decoder = OPENAI.stream_decoder()
    encoder = FORMAT.stream_encoder(model="my-router/qwen3-coder", request_body={})
    out = [encoder.encode(decoder.feed(frame)) for frame in parser.feed(data)]
    out.append(encoder.encode(decoder.finish()))
    assert decoder.complete
    return b"".join(out)


def test_anthropic_sdk_accumulates_a_converted_openai_stream() -> None:
    data = openai_to_anthropic(openai_stream_bytes())
    assert_strict_anthropic_stream(data)
    message = final_message(data)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "r0 r1 r2 r3 r4 "
    assert thinking.signature == ""
    assert text.type == "text" and text.text == "".join(f"w{i} " for i in range(38))
    assert tool.type == "tool_use" and tool.input == {"command": "echo hi"}
    assert message.stop_reason == "tool_use"
    assert message.model == "my-router/qwen3-coder"
    assert message.usage.input_tokens == 100
    assert message.usage.cache_read_input_tokens == 800
    assert message.usage.output_tokens == 120


def test_anthropic_sdk_reads_a_non_stream_answer() -> None:
    body = FORMAT.encode_response(TRANSCRIPT_EVENTS, model="router-big")
    client = anthropic_client(json.dumps(body).encode(), "application/json")
    message = client.messages.create(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "x"}]
    )
    assert message.content[2].type == "tool_use"
    assert message.content[2].input == {"command": "ls -la"}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 87


def test_anthropic_sdk_raises_on_an_encoded_error_event() -> None:
    encoder = FORMAT.stream_encoder(model="m", request_body={})
    data = encoder.encode(
        [
            MessageStart("msg_1", "m"),
            BlockStart(0, {"type": "text"}),
            TextDelta(0, "par"),
            StreamError("overloaded", "upstream overloaded"),
        ]
    )
    with pytest.raises(anthropic.APIStatusError) as info:
        final_message(data)
    assert "upstream overloaded" in str(info.value)


def test_openai_sdk_accumulates_a_converted_anthropic_stream() -> None:
    parser = SSEParser()
    decoder = FORMAT.stream_decoder()
    encoder = OPENAI.stream_encoder(
        model="claude-sonnet-4-5", request_body={"stream_options": {"include_usage": True}}
    )
    data = b"".join(encoder.encode(decoder.feed(frame)) for frame in parser.feed(TRANSCRIPT))

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=data, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        base_url="http://router.test/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.chat.completions.stream(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "list files"}],
        stream_options={"include_usage": True},
    ) as stream:
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.message.content == "I'll list the files ✓"
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id == "toolu_01A"
    assert call.function.name == "Bash"
    assert json.loads(call.function.arguments) == {"command": "ls -la"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 12 + 4000 + 300
    assert completion.usage.completion_tokens == 87


@pytest.mark.parametrize(
    ("choice", "keeps_thinking"),
    [({"type": "any"}, False), ({"type": "tool", "name": "Read"}, False), ({"type": "auto"}, True)],
)
def test_a_translated_forced_tool_choice_drops_thinking(
    choice: dict[str, Any], keeps_thinking: bool
) -> None:
    request = OPENAI.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "read a"}]}
    )
    request.tool_choice = choice
    request.tools = [{"name": "Read", "input_schema": {"type": "object"}}]
    request.thinking = {"type": "enabled", "budget_tokens": 2048}
    body = FORMAT.encode_request(request, model="claude", stream=False)
    assert body["tool_choice"]["type"] == choice["type"]
    assert ("thinking" in body) is keeps_thinking
    assert request.dropped == ({} if keeps_thinking else {"thinking_config": 1})
