"""``thinking`` and ``reasoning-leak``."""

from __future__ import annotations

from typing import Any

from coderouter_doctor.probes import ReasoningLeak, Thinking

from coderouter.testing import Answer, anthropic_message, chat_completion


def thinking_message() -> dict[str, Any]:
    body = anthropic_message("156")
    body["content"].insert(0, {"type": "thinking", "thinking": "12*13", "signature": "sig"})
    return body


def test_anthropic_thinking_is_ok(probe_once: Any) -> None:
    result = probe_once(Thinking(), Answer.json(thinking_message()), kind="anthropic")
    assert (result.verdict, result.reason) == ("ok", "answered with a thinking block")
    sent = probe_once.upstream.requests[0].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_a_400_on_thinking_declares_no_thinking(probe_once: Any) -> None:
    result = probe_once(
        Thinking(),
        Answer.error(400, "thinking is not supported by this model"),
        kind="anthropic",
    )
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == "providers[local].capabilities.thinking = false"


def test_declared_thinking_without_a_thinking_block_is_corrected(probe_once: Any) -> None:
    result = probe_once(
        Thinking(),
        Answer.json(anthropic_message("156")),
        kind="anthropic",
        capabilities={"thinking": True},
    )
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == "providers[local].capabilities.thinking = false"


def test_declared_no_thinking_is_not_probed(probe_once: Any) -> None:
    result = probe_once(Thinking(), kind="anthropic", capabilities={"thinking": False})
    assert result.verdict == "skip"
    assert probe_once.upstream.count == 0


def test_a_reasoning_field_without_filters_is_declared_and_filtered(probe_once: Any) -> None:
    result = probe_once(Thinking(), Answer.json(chat_completion("42", reasoning="17+25")))
    assert result.verdict == "needs_tuning"
    assert result.reason == (
        "reasoning arrives in reasoning_content and reaches clients as thinking blocks"
    )
    assert result.patch.as_json() == [
        "providers[local].capabilities.thinking = true",
        'providers[local].capabilities.reasoning_field = "reasoning_content"',
        'plugins.enabled += ["output_filters"]',
    ]


def test_a_declared_and_filtered_reasoning_field_is_ok(probe_once: Any) -> None:
    result = probe_once(
        Thinking(),
        Answer.json(chat_completion("42", reasoning="17+25")),
        capabilities={"thinking": True, "reasoning_field": "reasoning_content"},
        plugins={"output_filters": {}},
    )
    assert (result.verdict, result.reason) == (
        "ok",
        "reasoning arrives in reasoning_content; output_filters removes it",
    )


def test_no_reasoning_field_is_ok(probe_once: Any) -> None:
    result = probe_once(Thinking(), Answer.json(chat_completion("42")))
    assert (result.verdict, result.reason) == ("ok", "no reasoning field in the answer")


def test_a_clean_answer_does_not_leak(probe_once: Any) -> None:
    result = probe_once(ReasoningLeak(), Answer.json(chat_completion("42")))
    assert result.verdict == "ok"


def test_think_tags_and_markers_enable_output_filters(probe_once: Any) -> None:
    answer = Answer.json(chat_completion("<think>add them</think>42<|im_end|>"))
    result = probe_once(ReasoningLeak(), answer)
    assert result.verdict == "needs_tuning"
    assert result.reason == "the answer carries <think>, </think>, <|im_end|>"
    assert result.patch.describe() == 'plugins.enabled += ["output_filters"]'


def test_leaks_the_output_filters_remove_are_ok(probe_once: Any) -> None:
    answer = Answer.json(chat_completion("<think>add them</think>42"))
    result = probe_once(ReasoningLeak(), answer, plugins={"output_filters": {}})
    assert result.verdict == "ok"
    assert result.reason == "the answer carries <think>, </think>; output_filters removes it"


def test_filters_switched_off_for_the_provider_are_switched_on(probe_once: Any) -> None:
    answer = Answer.json(chat_completion("<think>x</think>42"))
    result = probe_once(
        ReasoningLeak(),
        answer,
        plugins={"output_filters": {"providers": {"local": {"strip_thinking": False}}}},
    )
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == (
        "plugins.output_filters.providers.local.strip_thinking = true"
    )
