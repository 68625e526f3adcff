"""The context-overflow table: every backend's wording is recognised, and others are not."""

from __future__ import annotations

import pytest

from coderouter.wire.overflow import is_context_overflow, overflow_numbers

OVERFLOWS = {
    "llama-cpp-python": (
        "This model's maximum context length is 512 tokens. However, you requested 1052 tokens "
        "(1048 in the messages, 4 in the completion). Please reduce the length of the messages "
        "or completion."
    ),
    "llama-server": (
        'the request exceeds the available context size, try increasing it {"type": '
        '"exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 8192}'
    ),
    "ollama-old": "prompt too long; exceeded max context length by 4 tokens",
    "ollama": "input length exceeds the context length",
    "lm-studio": (
        "Trying to keep the first 5000 tokens when context the overflows. However, the model is "
        "loaded with context length of only 4096 tokens, which is not enough."
    ),
    "vllm": (
        "'max_tokens' or 'max_completion_tokens' is too large: 1000. This model's maximum "
        "context length is 4096 tokens and your request has 3500 input tokens"
    ),
    "openai": "context_length_exceeded",
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
    "gemini": (
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    ),
}


@pytest.mark.parametrize("text", OVERFLOWS.values(), ids=OVERFLOWS.keys())
def test_every_backend_wording_is_an_overflow(text: str) -> None:
    assert is_context_overflow(text)


@pytest.mark.parametrize(
    "text",
    ['model "qwen3:8b" not found, try pulling it first', "invalid x-api-key", "bad tool schema"],
)
def test_other_errors_are_not(text: str) -> None:
    assert not is_context_overflow(text)


def test_numbers_of_lm_studio_and_llama_server() -> None:
    assert overflow_numbers(OVERFLOWS["lm-studio"]) == (5000, 4096)
    assert overflow_numbers(OVERFLOWS["llama-server"]) == (9000, 8192)


def test_a_prompt_that_alone_does_not_fit_is_counted_without_the_completion() -> None:
    claude_code = (
        "This model's maximum context length is 8192 tokens. However, you requested 86047 "
        "tokens (22047 in the messages, 64000 in the completion). Please reduce the length of "
        "the messages or completion."
    )
    assert overflow_numbers(claude_code) == (22047, 8192)
    # The prompt fits and the completion does not: the request as a whole is what overflows.
    assert overflow_numbers(
        "This model's maximum context length is 8192 tokens. However, you requested 9000 "
        "tokens (5000 in the messages, 4000 in the completion)."
    ) == (9000, 8192)
    assert overflow_numbers(OVERFLOWS["llama-cpp-python"]) == (1048, 512)
