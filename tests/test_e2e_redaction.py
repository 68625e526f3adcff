"""Provider keys echoed by an upstream error never leave `coderouter serve`: not in the client's
error body, not in x-coderouter-fallback, the log, the event log or /metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_stream,
    chat_completion,
    chat_stream,
)

KEY = "local-secret-value-123"
SHAPED = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
ECHO = f"invalid api key {KEY} (did you mean {SHAPED}?) Authorization: Bearer {KEY}"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_an_echoed_key_is_redacted_everywhere(
    router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    leaky: FakeUpstream = fake_upstreams(Answer.error(500, ECHO))
    healthy: FakeUpstream = fake_upstreams(Answer.json(chat_completion("hello")))
    final: FakeUpstream = fake_upstreams(Answer.error(400, ECHO))
    events = tmp_path / "events.jsonl"
    built = (
        ConfigBuilder()
        .provider("leaky", leaky, model="m", api_key_env="CODEROUTER_TEST_LEAKY_KEY")
        .provider("healthy", healthy, model="m")
        .provider("final", final, model="m", api_key_env="CODEROUTER_TEST_LEAKY_KEY")
        .profile("default", ["leaky", "healthy"])
        .profile("strict", ["final"])
        .router(state_dir=str(tmp_path / "state"))
        .plugin("metrics", event_log_file=str(events))
    )
    router = router_process(built, env={"CODEROUTER_TEST_LEAKY_KEY": KEY})
    served = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
    assert served.status_code == 200
    assert "leaky=failed" in served.headers["x-coderouter-fallback"]
    refused = httpx.post(router.url + "/v1/chat/completions", json={**CHAT, "model": "strict"})
    assert refused.status_code == 400
    assert "invalid api key [redacted]" in refused.json()["error"]["message"]
    router.wait_for_log(2)
    metrics = httpx.get(router.url + "/metrics.json").text
    surfaces = {
        "fallback header": served.headers["x-coderouter-fallback"],
        "error body": refused.text,
        "log": router.stderr_text(),
        "metrics.json": metrics,
        "event log": events.read_text() if events.exists() else "",
    }
    assert "[redacted]" in surfaces["log"]
    for name, text in surfaces.items():
        assert KEY not in text, name
        assert SHAPED not in text, name
    sent = {k.lower(): v for k, v in leaky.requests[0].headers.items()}
    assert sent["authorization"] == f"Bearer {KEY}"  # the key itself still goes upstream


HEADER_KEY = "header-held-secret-456"


def test_a_key_in_provider_headers_is_redacted_by_value(
    router_process: Any, fake_upstreams: Any
) -> None:
    leaky: FakeUpstream = fake_upstreams(Answer.error(400, f"key {HEADER_KEY} is revoked"))
    built = (
        ConfigBuilder()
        .provider("leaky", leaky, model="m", headers={"x-goog-api-key": HEADER_KEY})
        .profile("default", ["leaky"])
    )
    router = router_process(built)
    refused = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
    assert refused.status_code == 400
    assert "key [redacted] is revoked" in refused.json()["error"]["message"]
    router.wait_for_log(1)
    assert HEADER_KEY not in router.stderr_text()
    sent = {k.lower(): v for k, v in leaky.requests[0].headers.items()}
    assert sent["x-goog-api-key"] == HEADER_KEY


def _chat_error_frame(message: str) -> str:
    return f"data: {json.dumps({'error': {'message': message, 'type': 'server_error'}})}\n\n"


def _anthropic_error_frame(message: str) -> str:
    body = json.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
    return f"event: error\ndata: {body}\n\n"


def test_a_relayed_stream_error_frame_has_keys_redacted(
    router_process: Any, fake_upstreams: Any
) -> None:
    chat: FakeUpstream = fake_upstreams(
        Answer.sse([*chat_stream(["ok"])[:2], _chat_error_frame(f"bad key {KEY}")])
    )
    claude: FakeUpstream = fake_upstreams(
        Answer.sse([*anthropic_stream(["ok"])[:4], _anthropic_error_frame(f"bad key {KEY}")])
    )
    built = (
        ConfigBuilder()
        .provider("chat", chat, model="m", api_key_env="CODEROUTER_TEST_LEAKY_KEY")
        .provider(
            "claude", claude, kind="anthropic", model="m", api_key_env="CODEROUTER_TEST_LEAKY_KEY"
        )
        .profile("default", ["chat"])
        .profile("claude", ["claude"])
    )
    router = router_process(built, env={"CODEROUTER_TEST_LEAKY_KEY": KEY})
    streamed = {
        "chat -> chat": httpx.post(
            router.url + "/v1/chat/completions", json={**CHAT, "stream": True}
        ).text,
        "anthropic -> anthropic": httpx.post(
            router.url + "/v1/messages",
            json={"model": "claude", "max_tokens": 16, "stream": True, **CHAT},
        ).text,
        "chat -> anthropic": httpx.post(
            router.url + "/v1/chat/completions", json={**CHAT, "model": "claude", "stream": True}
        ).text,
    }
    for name, text in streamed.items():
        assert "bad key [redacted]" in text, name
        assert KEY not in text, name
