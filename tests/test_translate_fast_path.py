"""Chat -> Anthropic stream translation carries text-only chunks over without decoding them:
the client gets the same events as from decoding and re-encoding every chunk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coderouter.streaming import Pipeline
from coderouter.wire import wire_format

CHAT = wire_format("openai_chat")
ANTHROPIC = wire_format("anthropic")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def events(raw: bytes) -> list[Any]:
    found = []
    for frame in raw.split(b"\n\n"):
        for line in frame.split(b"\n"):
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["type"] == "message_start":
                    event["message"]["id"] = "<id>"
                found.append(event)
    return found


def translate(frames: list[bytes], *, fast: bool) -> tuple[bytes, Pipeline]:
    pipeline = Pipeline(source=CHAT, target=ANTHROPIC, transforms=[], request_body={}, model="m")
    if not fast:
        pipeline._literal = None
    out = b"".join(pipeline.push(f) for f in frames) + pipeline.finish()
    return out, pipeline


TEXTS = ['a "quoted" word', "ends in a backslash \\", '\\"', "é ü 中文\n\tx", 'x\\\\"y', ""]


@pytest.mark.parametrize("ascii_only", [True, False])
def test_text_chunks_translate_as_if_decoded(ascii_only: bool) -> None:
    def text(value: str) -> bytes:
        raw = chunk({"content": value})
        return raw if not ascii_only else raw.decode().encode("ascii", "backslashreplace")

    frames = [chunk({"role": "assistant", "content": "Hi"})]
    frames += [
        chunk({"content": value}, **({} if ascii_only else {"system_fingerprint": "fp"}))
        for value in TEXTS
    ]
    frames += [
        chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "ls"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        chunk({"content": "after the call"}),
        chunk({}, "tool_calls"),
        b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}\n\n',
        b"data: [DONE]\n\n",
    ]
    fast, fast_pipeline = translate(frames, fast=True)
    slow, slow_pipeline = translate(frames, fast=False)
    assert events(fast) == events(slow)
    assert fast_pipeline.content_frames == slow_pipeline.content_frames
    assert (fast_pipeline.usage, fast_pipeline.stop_reason) == (
        slow_pipeline.usage,
        slow_pipeline.stop_reason,
    )
    texts = [e["delta"].get("text") for e in events(fast) if e["type"] == "content_block_delta"]
    assert "".join(t for t in texts if t) == "Hi" + "".join(TEXTS) + "after the call"


def test_a_chunk_with_more_than_text_is_decoded() -> None:
    decoder = CHAT.stream_decoder()
    from coderouter.sse import parse_frame

    first = parse_frame(chunk({"content": "Hi"}))
    assert first is not None
    decoder.feed(first)
    assert decoder.text_literal(chunk({"content": "x"})) == (0, b'"x"')
    assert decoder.text_literal(chunk({"content": "x", "reasoning_content": "y"})) is None
    assert decoder.text_literal(chunk({"content": ""})) is None
    assert decoder.text_literal(chunk({"tool_calls": []})) is None
