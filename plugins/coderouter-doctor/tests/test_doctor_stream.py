"""``stream`` and ``speed``."""

from __future__ import annotations

from typing import Any

from coderouter_doctor.probes import Speed, Stream

from coderouter.testing import Answer, anthropic_stream, chat_stream

COUNT = [f"{n} " for n in range(1, 31)]


def test_a_full_count_with_done_is_ok(probe_once: Any) -> None:
    result = probe_once(Stream(), Answer.sse(chat_stream(COUNT, completion_tokens=60)))
    assert (result.verdict, result.reason) == ("ok", "30 chunks, finish end_turn, [DONE]")
    sent = probe_once.upstream.requests[0].body
    assert sent["stream"] is True and "max_tokens" not in sent


def test_a_missing_done_is_noted(probe_once: Any) -> None:
    result = probe_once(Stream(), Answer.sse(chat_stream(COUNT, done=False)))
    assert result.verdict == "ok"
    assert "no data: [DONE]" in result.reason


def test_a_tiny_output_limit_needs_tuning(probe_once: Any) -> None:
    frames = chat_stream(COUNT[:8], finish_reason="length", completion_tokens=16)
    result = probe_once(Stream(), Answer.sse(frames), name="ollama")
    assert result.verdict == "needs_tuning"
    assert "stopped at the length limit after 16 tokens" in result.reason
    assert "num_predict -1" in result.advice
    assert result.patch is None


def test_zero_chunks_is_unsupported(probe_once: Any) -> None:
    result = probe_once(Stream(), Answer.sse(chat_stream([], completion_tokens=0)))
    assert result.verdict == "unsupported"
    assert result.reason.startswith("the stream carried no content")


def test_an_empty_answer_is_unsupported(probe_once: Any) -> None:
    result = probe_once(Stream(), Answer.sse(chat_stream(["", " "])))
    assert result.verdict == "unsupported"


def test_a_stream_cut_in_the_middle_is_transport_error(probe_once: Any) -> None:
    frames = chat_stream(COUNT)
    result = probe_once(Stream(), Answer.sse(frames, cut_after=5))
    assert result.verdict == "transport_error"
    assert "ended without a finish reason" in result.reason or "broke off" in result.reason


def test_an_anthropic_stream_is_ok(probe_once: Any) -> None:
    result = probe_once(Stream(), Answer.sse(anthropic_stream(COUNT)), kind="anthropic")
    assert result.verdict == "ok"
    assert probe_once.upstream.requests[0].body["max_tokens"] == 1024


def test_speed_reports_ttft_and_rate(probe_once: Any) -> None:
    frames = chat_stream(["a"] * 10, completion_tokens=100)
    result = probe_once(Speed(), Answer.sse(frames, delay_s=0.01))
    assert result.verdict == "ok"
    assert result.metrics["output_tokens"] == 100
    assert result.metrics["tokens_per_s"] > 0
    assert result.reason.startswith("first token after ")
