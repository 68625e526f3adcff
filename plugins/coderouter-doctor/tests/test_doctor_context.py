"""``context``: the canary at the start of a ~6k-token prompt."""

from __future__ import annotations

from typing import Any

from coderouter_doctor.probes import Context

from coderouter.testing import Answer, chat_completion


def test_the_canary_coming_back_is_ok(probe_once: Any) -> None:
    result = probe_once(
        Context(), Answer.json(chat_completion("MARIGOLD-4417", prompt_tokens=6100))
    )
    assert result.verdict == "ok"
    assert result.reason == "a 6100-token prompt kept whole: the canary came back"
    prompt = probe_once.upstream.requests[0].body["messages"][-1]["content"]
    assert prompt.startswith("The secret code is MARIGOLD-4417.")
    assert 5500 * 4 < len(prompt) < 6500 * 4


def test_a_cut_prompt_on_ollama_patches_the_declared_context(probe_once: Any) -> None:
    answer = Answer.json(chat_completion("I do not know", prompt_tokens=2048))
    result = probe_once(Context(), answer, name="ollama", model="qwen2.5-coder:7b")
    assert result.verdict == "needs_tuning"
    assert "the server kept 2048 of about" in result.reason
    assert result.patch.describe() == "providers[ollama].capabilities.max_context_tokens = 2048"
    assert "OLLAMA_CONTEXT_LENGTH=" in result.advice and "num_ctx" in result.advice
    assert result.metrics["usable_context_tokens"] == 2048


def test_a_llamacpp_overflow_error_gives_n_ctx(probe_once: Any) -> None:
    body = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 6051,
            "n_ctx": 1024,
        }
    }
    result = probe_once(Context(), Answer.json(body, status=400), name="llamacpp")
    assert result.verdict == "needs_tuning"
    assert result.reason.startswith("canary lost: HTTP 400: the request exceeds")
    assert result.patch.describe() == "providers[llamacpp].capabilities.max_context_tokens = 1024"
    assert result.advice.startswith("start llama-server with --ctx-size ")


def test_a_declared_small_window_sizes_the_prompt_to_fit(probe_once: Any) -> None:
    result = probe_once(
        Context(),
        Answer.json(chat_completion("4417", prompt_tokens=1500)),
        capabilities={"max_context_tokens": 2048},
    )
    assert result.verdict == "ok"
    prompt = probe_once.upstream.requests[0].body["messages"][-1]["content"]
    assert len(prompt) < 1536 * 4 + 400


def test_a_whole_prompt_without_the_canary_is_unsupported(probe_once: Any) -> None:
    result = probe_once(Context(), Answer.json(chat_completion("no idea", prompt_tokens=6000)))
    assert result.verdict == "unsupported"
    assert "does not recall" in result.reason
    assert result.patch is None


def test_an_unrelated_400_is_not_a_context_verdict(probe_once: Any) -> None:
    result = probe_once(Context(), Answer.error(400, "bad temperature"))
    assert (result.verdict, result.reason) == ("unsupported", "HTTP 400: bad temperature")
