"""Hostile client bodies for each ingress (hypothesis strategies), and a fake upstream that
answers every provider kind well, so any error the router gives is about the body.

A body is a well-formed request of the ingress with a few of its values replaced: by JSON of
any type, lone surrogates, nesting thousands deep, or removed. ``encode`` writes it as the
bytes a client would send.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import httpx
from hypothesis import strategies as st

from coderouter.testing.bodies import (
    anthropic_message,
    anthropic_stream,
    chat_completion,
    chat_stream,
    responses_body,
    responses_stream,
)
from coderouter.testing.router import ConfigBuilder

if TYPE_CHECKING:
    from coderouter.config import Config

__all__ = [
    "INGRESS_PATHS",
    "Deep",
    "bodies",
    "encode",
    "fake_upstream_transport",
    "fuzz_config",
]

INGRESS_PATHS = {
    "anthropic": "/v1/messages",
    "count_tokens": "/v1/messages/count_tokens",
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
}

_TOOL_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
_IMAGE = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}

_ANTHROPIC: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "read a.py"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "text", "text": "reading"},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "print(1)"}],
                    "is_error": False,
                },
                {"type": "image", "source": _IMAGE},
            ],
        },
    ],
    "tools": [{"name": "Read", "description": "read a file", "input_schema": _TOOL_SCHEMA}],
    "tool_choice": {"type": "auto"},
    "temperature": 0.5,
    "stop_sequences": ["END"],
    "thinking": {"type": "enabled", "budget_tokens": 32},
    "metadata": {"user_id": "u"},
    "stream": False,
}
_COUNT_TOKENS = {k: v for k, v in _ANTHROPIC.items() if k not in ("max_tokens", "stream")}
_CHAT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "read a.py"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "hm",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "Read", "arguments": '{"path": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "print(1)"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "Read", "description": "read", "parameters": _TOOL_SCHEMA},
        }
    ],
    "tool_choice": "auto",
    "max_tokens": 64,
    "temperature": 0.5,
    "top_p": 0.9,
    "stop": ["END"],
    "response_format": {"type": "text"},
    "stream": False,
    "stream_options": {"include_usage": True},
}
_RESPONSES: dict[str, Any] = {
    "model": "gpt-5-codex",
    "instructions": "be brief",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "shell",
            "arguments": '{"cmd": "ls"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "a.py"},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_image", "image_url": "data:image/png;base64,iVBO"}],
        },
    ],
    "tools": [
        {"type": "function", "name": "shell", "description": "run", "parameters": _TOOL_SCHEMA},
        {
            "type": "namespace",
            "name": "mcp",
            "tools": [{"type": "function", "name": "look", "parameters": _TOOL_SCHEMA}],
        },
        {"type": "web_search"},
    ],
    "tool_choice": "auto",
    "reasoning": {"effort": "low"},
    "text": {"format": {"type": "text"}},
    "max_output_tokens": 64,
    "temperature": 0.5,
    "stream": False,
}
_BASES = {
    "anthropic": _ANTHROPIC,
    "count_tokens": _COUNT_TOKENS,
    "openai_chat": _CHAT,
    "openai_responses": _RESPONSES,
}


class Deep:
    """A value nested ``depth`` arrays deep (written by :func:`encode`: ``json`` cannot)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800", "", "null", "auto", "text"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["type", "text", "content", "x"]), inner, max_size=3),
    ),
    max_leaves=6,
)
_VALUES = st.one_of(
    _JSON,
    st.builds(Deep, st.sampled_from([50, 400, 990, 1500, 20000])),
)


def _slots(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) in ``value``, the places a mutation may hit."""
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((value, key))
            _slots(child, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.append((value, index))
            _slots(child, out)
    return out


@st.composite
def bodies(draw: st.DrawFn, ingress: str, max_mutations: int = 3) -> Any:
    """A request body for ``ingress`` (a key of :data:`INGRESS_PATHS`) with up to
    ``max_mutations`` values replaced or removed; sometimes not an object at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(_VALUES)
    body = copy.deepcopy(_BASES[ingress])
    if ingress != "count_tokens" and draw(st.booleans()):
        body["stream"] = True
    for _ in range(draw(st.integers(1, max_mutations))):
        slots = _slots(body, [])
        if not slots:
            break
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        if isinstance(container, dict) and draw(st.integers(0, 4)) == 0:
            del container[key]
        else:
            container[key] = draw(_VALUES)
    return body


def encode(body: Any) -> bytes:
    """The body as a client sends it (``\\u`` escapes for lone surrogates, ``NaN`` as
    Python writes it)."""
    deep: list[int] = []

    def default(value: Any) -> Any:
        if isinstance(value, Deep):
            deep.append(value.depth)
            return f"\x00deep{len(deep) - 1}\x00"
        raise TypeError(type(value).__name__)

    text = json.dumps(body, default=default)
    for index, depth in enumerate(deep):
        text = text.replace(f'"\\u0000deep{index}\\u0000"', "[" * depth + "]" * depth, 1)
    return text.encode()


def fake_upstream_transport() -> httpx.MockTransport:
    """Answers every provider kind's endpoint with a well-formed reply, streamed when the
    request asks for a stream."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/count_tokens"):
            return httpx.Response(200, json={"input_tokens": 7})
        stream = b'"stream":true' in request.content
        if path.endswith("/chat/completions"):
            frames, whole = chat_stream(), chat_completion("ok")
        elif path.endswith("/messages"):
            frames, whole = anthropic_stream(["ok"]), anthropic_message("ok")
        else:
            frames, whole = responses_stream(["ok"]), responses_body("ok")
        if stream:
            data = "".join(frames).encode()
            return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=whole)

    return httpx.MockTransport(answer)


def fuzz_config(kind: str) -> Config:
    """One provider of ``kind`` (answered by :func:`fake_upstream_transport`) in the default
    profile, request log off: the router a fuzz run sends its bodies to."""
    url = "http://upstream" + ("" if kind == "anthropic" else "/v1")
    return (
        ConfigBuilder()
        .provider("p", url, kind=kind, model="m")
        .profile("default", ["p"])
        .router(log_requests=False)
        .build()
    )
