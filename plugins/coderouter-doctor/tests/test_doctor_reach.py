"""``reach``: one short turn; auth, missing models and transport failures named."""

from __future__ import annotations

import os
from typing import Any

import pytest
from coderouter_doctor.probes import Reach

from coderouter.testing import Answer, anthropic_message, chat_completion


def test_an_answer_is_ok(probe_once: Any) -> None:
    result = probe_once(Reach(), Answer.json(chat_completion("pong")))
    assert result.verdict == "ok"
    assert result.reason.startswith("answered in ")
    sent = probe_once.upstream.requests[0]  # type: ignore[attr-defined]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "test-model"
    assert sent.body["messages"][-1]["content"] == "Reply with one word: pong"


def test_an_anthropic_provider_gets_messages(probe_once: Any) -> None:
    result = probe_once(Reach(), Answer.json(anthropic_message("pong")), kind="anthropic")
    assert result.verdict == "ok"
    sent = probe_once.upstream.requests[0]  # type: ignore[attr-defined]
    assert sent.path == "/v1/messages"
    assert sent.headers["anthropic-version"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_auth_fail_naming_the_variable(
    probe_once: Any, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_TEST_KEY", "sk-wrong")
    result = probe_once(
        Reach(), Answer.error(status, "invalid api key"), api_key_env="DOCTOR_TEST_KEY"
    )
    assert result.verdict == "auth_fail"
    assert result.reason == f"HTTP {status}: invalid api key; check the key in $DOCTOR_TEST_KEY"


def test_a_missing_key_is_auth_fail_without_a_request(probe_once: Any) -> None:
    assert "DOCTOR_UNSET_KEY" not in os.environ
    result = probe_once(Reach(), api_key_env="DOCTOR_UNSET_KEY")
    assert result.verdict == "auth_fail"
    assert "$DOCTOR_UNSET_KEY is not set" in result.reason
    assert probe_once.upstream.count == 0  # type: ignore[attr-defined]


def test_a_missing_ollama_model_says_pull_it(probe_once: Any) -> None:
    result = probe_once(
        Reach(),
        Answer.error(404, 'model "qwen3:8b" not found, try pulling it first'),
        name="ollama",
        model="qwen3:8b",
    )
    assert result.verdict == "unsupported"
    assert result.reason.startswith("model 'qwen3:8b' not found (HTTP 404)")
    assert result.advice == "ollama pull qwen3:8b"


def test_connection_refused_is_transport_error(probe_once: Any) -> None:
    result = probe_once(Reach(), base_url="http://127.0.0.1:9/v1")
    assert result.verdict == "transport_error"
    assert result.reason.startswith("connect: ")


def test_non_json_is_transport_error(probe_once: Any) -> None:
    result = probe_once(Reach(), Answer.sse(["not json at all"], content_type="text/plain"))
    assert result.verdict == "transport_error"
    assert "non-JSON" in result.reason


def test_a_server_error_is_transport_error(probe_once: Any) -> None:
    result = probe_once(Reach(), Answer.error(503, "loading model"))
    assert (result.verdict, result.reason) == ("transport_error", "HTTP 503: loading model")
