"""Bodies that used to crash a translation or reach the upstream get a 400 naming the JSON path,
from `coderouter serve`, in the ingress's wire format; the upstream never sees them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from coderouter.testing import ConfigBuilder, FakeUpstream

USER = [{"role": "user", "content": "hi"}]
DEEP = b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "x": ' + (
    b"[" * 5000 + b"]" * 5000 + b"}"
)
CASES = [
    (
        "/v1/messages",
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\\ud800"}]}',
        "messages[0].content holds a lone UTF-16 surrogate",
    ),
    ("/v1/messages", DEEP, "nested too deeply"),
    (
        "/v1/responses",
        b'{"model":"m","input":"x","stream":true,"metadata":{"k":"a\\udfffb"}}',
        "metadata.k holds a lone UTF-16 surrogate",
    ),
    (
        "/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": USER, "temperature": {}},
        "'temperature' must be a number, got an object",
    ),
    (
        "/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": USER, "system": [{"type": "text", "text": 5}]},
        "system[0].text must be a string, got an integer",
    ),
    (
        "/v1/messages/count_tokens",
        {"model": "m", "messages": USER, "tools": [{"name": "a", "description": 5}]},
        "tools[0].description must be a string, got an integer",
    ),
    (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": 42}]},
        "messages[0].content must be a string, an array of content parts or null, got an integer",
    ),
    (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "assistant", "content": "x", "tool_calls": [1]}]},
        "messages[0].tool_calls[0] must be an object, got an integer",
    ),
    (
        "/v1/responses",
        {
            "model": "m",
            "input": [
                {
                    "type": "function_call_output",
                    "call_id": "a",
                    "output": [{"type": "input_text", "text": 5}],
                }
            ],
        },
        "input[0].output[0].text must be a string, got an integer",
    ),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: Any) -> Any:
    from coderouter.testing import RouterProcess

    upstream = FakeUpstream()
    path = (
        ConfigBuilder()
        .provider("local", upstream, model="qwen")
        .profile("default", ["local"])
        .write(tmp_path_factory.mktemp("bad-bodies"))
    )
    router = RouterProcess(path)
    yield router, upstream
    router.stop()
    upstream.close()


@pytest.mark.parametrize(("path", "body", "message"), CASES)
def test_bad_body_is_a_400_naming_the_path(served: Any, path: str, body: Any, message: str) -> None:
    router, upstream = served
    before = len(upstream.requests)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(
        router.url + path, content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    if path.startswith("/v1/messages"):
        assert answer.json()["type"] == "error"
    assert len(upstream.requests) == before
