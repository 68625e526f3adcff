"""The tokenizer-free request estimate: close to JSON size / 4, images fixed, and fast."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from coderouter.wire.anthropic import FORMAT
from coderouter.wire.model import Request
from coderouter.wire.openai_chat import FORMAT as OPENAI
from coderouter.wire.tokens import (
    CHARS_PER_TOKEN,
    IMAGE_TOKENS,
    estimate_request_tokens,
    estimate_tokens,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clients"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())["body"]
    return data


def json_estimate(request: Request) -> float:
    """The reference: compact JSON of system, messages and tools at four characters a token."""
    text = json.dumps(
        [request.system, request.messages, request.tools], ensure_ascii=False, separators=(",", ":")
    )
    return len(text) / CHARS_PER_TOKEN


@pytest.mark.parametrize(
    "name",
    [
        "claude_code_main_turn0",
        "claude_code_main_turn1_tool_result",
        "claude_code_compact",
        "claude_code_sonnet45_budget_thinking",
        "claude_code_title_small_model_structured_output",
        "anthropic_sdk_stream_thinking_tools",
    ],
)
def test_estimate_tracks_the_json_size(name: str) -> None:
    request = FORMAT.decode_request(load(name))
    estimate = estimate_request_tokens(request)
    assert estimate == pytest.approx(json_estimate(request), rel=0.05)


def test_claude_code_turn_is_about_nineteen_thousand_tokens() -> None:
    request = FORMAT.decode_request(load("claude_code_main_turn0"))
    assert 18_000 < estimate_request_tokens(request) < 19_500
    tools_only = estimate_tokens(request.tools)
    assert 15_000 < tools_only < 17_000


def test_count_tokens_body_is_small() -> None:
    request = FORMAT.decode_request(load("claude_code_count_tokens"))
    assert 1 <= estimate_request_tokens(request) <= 20


def test_images_cost_a_fixed_amount_not_their_base64_size() -> None:
    def with_image(data: str) -> Request:
        return Request(
            model="m",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": data},
                        },
                    ],
                }
            ],
        )

    small, large = with_image("A" * 100), with_image("A" * 1_000_000)
    assert estimate_request_tokens(small) == estimate_request_tokens(large)
    text_only = Request(
        model="m",
        messages=[{"role": "user", "content": [{"type": "text", "text": "what is this?"}]}],
    )
    added = estimate_request_tokens(small) - estimate_request_tokens(text_only)
    assert IMAGE_TOKENS <= added <= IMAGE_TOKENS + 1


def test_images_inside_tool_results_count_too() -> None:
    request = Request(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                            {"type": "image", "source": {"type": "url", "url": "https://x/z.png"}},
                        ],
                    }
                ],
            }
        ],
    )
    assert 2 * IMAGE_TOKENS < estimate_request_tokens(request) < 2 * IMAGE_TOKENS + 40


def test_text_grows_the_estimate_by_a_quarter_token_per_character() -> None:
    base = Request(
        model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "x"}]}]
    )
    longer = Request(
        model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "x" * 40_001}]}]
    )
    assert estimate_request_tokens(longer) - estimate_request_tokens(base) == 10_000


def test_same_conversation_from_either_format_estimates_alike() -> None:
    body = load("claude_code_main_turn1_tool_result")
    anthropic_side = FORMAT.decode_request(body)
    openai_side = OPENAI.decode_request(
        OPENAI.encode_request(anthropic_side, model="q", stream=False)
    )
    a, b = estimate_request_tokens(anthropic_side), estimate_request_tokens(openai_side)
    assert b == pytest.approx(a, rel=0.02)


def test_estimate_is_well_under_a_millisecond_for_a_100_kb_request() -> None:
    body = load("claude_code_sonnet45_budget_thinking")
    assert len(json.dumps(body)) > 100_000
    request = FORMAT.decode_request(body)
    timings = []
    for _ in range(200):
        start = time.perf_counter()
        estimate_request_tokens(request)
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.001
