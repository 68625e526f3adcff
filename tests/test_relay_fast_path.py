"""Same-format relays skip decoding content-only frames once committed; what the client
receives and what the router records must be exactly what full decoding gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coderouter.sse import Frame
from coderouter.streaming import Pipeline
from coderouter.testing import anthropic_stream, chat_stream, responses_stream
from coderouter.types import UpstreamError
from coderouter.wire import wire_format
from coderouter.wire.base import WireFormat

CHAT = wire_format("openai_chat")
ANTHROPIC = wire_format("anthropic")
RESPONSES = wire_format("openai_responses")


class CountingDecoder:
    """Delegates to the real decoder and counts the frames it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fed = 0

    @property
    def complete(self) -> bool:
        return bool(self.inner.complete)

    def feed(self, frame: Frame) -> Any:
        self.fed += 1
        return self.inner.feed(frame)

    def finish(self) -> Any:
        return self.inner.finish()


class Source:
    """A wire format that may be told never to skip, with a counting decoder."""

    def __init__(self, wire: WireFormat, *, skip: bool) -> None:
        self.wire = wire
        self.skip = skip
        self.decoder: CountingDecoder | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wire, name)

    def relay_skippable(self, raw: bytes) -> bool:
        return self.skip and self.wire.relay_skippable(raw)

    def stream_decoder(self) -> CountingDecoder:
        self.decoder = CountingDecoder(self.wire.stream_decoder())
        return self.decoder


def relay(wire: WireFormat, chunks: list[bytes], *, skip: bool) -> tuple[Any, ...]:
    source = Source(wire, skip=skip)
    pipeline = Pipeline(
        source=source,  # type: ignore[arg-type]
        target=wire,
        transforms=[],
        request_body={"stream": True, "stream_options": {"include_usage": True}},
        model="m",
    )
    out = b""
    error = ""
    try:
        for chunk in chunks:
            out += pipeline.push(chunk)
            if pipeline.error is not None:
                break
        else:
            out += pipeline.finish()
    except UpstreamError as exc:
        error = f"raised {exc}"
    if pipeline.error is not None:
        error = f"recorded {pipeline.error}"
    assert source.decoder is not None
    observed = (out, pipeline.usage, pipeline.stop_reason, pipeline.model, error)
    return observed, source.decoder.fed


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [p for p in pieces if p]


texts = st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=8)
ERROR_FRAME = 'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'


@settings(max_examples=200, deadline=None)
@given(
    pieces=texts,
    reasoning=st.lists(st.text(min_size=1, max_size=8), max_size=3),
    tools=st.lists(st.sampled_from(["read_file", "grep"]), max_size=2),
    usage=st.booleans(),
    done=st.booleans(),
    error_at=st.none() | st.integers(min_value=0, max_value=12),
    crlf=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_chat_relay_skips_only_what_changes_nothing(
    pieces: list[str],
    reasoning: list[str],
    tools: list[str],
    usage: bool,
    done: bool,
    error_at: int | None,
    crlf: bool,
    cuts: list[int],
) -> None:
    frames = chat_stream(
        pieces,
        reasoning=reasoning,
        tool_calls=[{"name": n, "arguments": {"path": "a.py"}} for n in tools],
        usage=usage,
        done=done,
    )
    if error_at is not None:
        frames.insert(min(error_at, len(frames)), ERROR_FRAME)
    data = "".join(frames).encode()
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    chunks = split(data, cuts)
    fast, fast_fed = relay(CHAT, chunks, skip=True)
    full, full_fed = relay(CHAT, chunks, skip=False)
    assert fast == full
    assert fast_fed <= full_fed


@settings(max_examples=100, deadline=None)
@given(pieces=texts, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_anthropic_relay_skips_only_what_changes_nothing(
    pieces: list[str], cuts: list[int]
) -> None:
    chunks = split("".join(anthropic_stream(pieces)).encode(), cuts)
    fast, _ = relay(ANTHROPIC, chunks, skip=True)
    full, _ = relay(ANTHROPIC, chunks, skip=False)
    assert fast == full


@settings(max_examples=100, deadline=None)
@given(
    pieces=texts,
    tools=st.lists(st.sampled_from(["read_file", "grep"]), max_size=2),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_responses_relay_skips_only_harmless_frames(
    pieces: list[str], tools: list[str], cuts: list[int]
) -> None:
    calls = [{"name": n, "arguments": {"path": "a.py"}} for n in tools]
    chunks = split("".join(responses_stream(pieces, tool_calls=calls)).encode(), cuts)
    fast, fast_fed = relay(RESPONSES, chunks, skip=True)
    full, full_fed = relay(RESPONSES, chunks, skip=False)
    assert fast == full
    assert fast_fed <= full_fed


def test_a_long_responses_stream_skips_its_deltas() -> None:
    frames = responses_stream([f"piece {i} " for i in range(50)], output_tokens=7)
    data = "".join(frames).encode()
    (out, usage, stop, _, error), fed = relay(RESPONSES, [data], skip=True)
    assert out == data and error == ""
    assert stop == "end_turn" and usage.output_tokens == 7
    deltas = sum(f.startswith("event: response.output_text.delta") for f in frames)
    assert deltas == 50
    assert fed == len(frames) - deltas + 1  # the first delta commits


def test_a_long_chat_stream_decodes_only_its_first_and_last_frames() -> None:
    data = "".join(chat_stream([f"piece {i} " for i in range(50)])).encode()
    (out, usage, stop, _, error), fed = relay(CHAT, [data], skip=True)
    assert out == data and error == ""
    assert (usage.input_tokens, usage.output_tokens, stop) == (10, 5, "end_turn")
    # role chunk, first content chunk (the commit), finish, usage, [DONE]
    assert fed == 5
    _, fed_without = relay(CHAT, [data], skip=False)
    assert fed_without == 54


def test_a_long_anthropic_stream_skips_its_deltas() -> None:
    frames = anthropic_stream([f"piece {i} " for i in range(50)])
    data = "".join(frames).encode()
    (out, usage, stop, _, error), fed = relay(ANTHROPIC, [data], skip=True)
    assert out == data and error == ""
    assert stop == "end_turn" and usage.output_tokens == 5
    deltas = sum(f.startswith("event: content_block_delta") for f in frames)
    assert fed == len(frames) - deltas + 1  # the first delta commits


def chunk(delta: dict[str, Any], finish: Any = None, **extra: Any) -> bytes:
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def test_chat_frames_that_matter_are_never_skipped() -> None:
    skippable = CHAT.relay_skippable
    assert skippable(chunk({"content": "hi"}))
    assert skippable(chunk({"content": "hi"}).replace(b'":null', b'": null'))
    assert skippable(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}))
    assert skippable(chunk({"content": 'the word "usage" quoted'}))
    assert not skippable(chunk({}, "stop"))
    assert not skippable(chunk({"content": "x"}, usage={"prompt_tokens": 1}))
    assert not skippable(b'data: {"error": {"message": "boom"}}\n\n')
    assert not skippable(b"data: [DONE]\n\n")
    assert not skippable(b": keep-alive\n\n")
    assert not skippable(chunk({"content": "hi"})[:-5] + b"\n\n")  # JSON cut short
    two = {
        "choices": [
            {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
            {"index": 1, "delta": {}, "finish_reason": "stop"},
        ]
    }
    assert not skippable(f"data: {json.dumps(two)}\n\n".encode())


def test_anthropic_frames_that_matter_are_never_skipped() -> None:
    skippable = ANTHROPIC.relay_skippable
    delta = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}'
    assert skippable(f"event: content_block_delta\ndata: {delta}\n\n".encode())
    for event in ("message_start", "message_delta", "message_stop", "error", "ping"):
        assert not skippable(f'event: {event}\ndata: {{"type":"{event}"}}\n\n'.encode())
    assert not skippable(f"event: content_block_delta\ndata: {delta[:-3]}\n\n".encode())
