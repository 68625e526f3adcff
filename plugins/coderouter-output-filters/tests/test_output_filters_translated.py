"""Chat -> Anthropic translation with the filters on: chunks the filter vouches it leaves
unchanged skip decoding, and the client gets the same events as when every chunk is decoded."""

from __future__ import annotations

import json
from typing import Any

from coderouter_output_filters import DEFAULT_STOP_MARKERS, OutputFilterTransform
from coderouter_output_filters import compile_patterns as patterns

from coderouter.streaming import Pipeline
from coderouter.wire import wire_format

CHAT = wire_format("openai_chat")
ANTHROPIC = wire_format("anthropic")


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def events(raw: bytes) -> list[Any]:
    found = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: "):
            event = json.loads(line[6:])
            if event["type"] == "message_start":
                event["message"]["id"] = "<id>"
            found.append(event)
    return found


def test_with_a_transform_that_vouches_only_unchanged_chunks_skip_decoding() -> None:
    def run(fast: bool) -> bytes:
        filters = OutputFilterTransform(
            patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS),
            drop_reasoning=True,
        )
        pipeline = Pipeline(
            source=CHAT, target=ANTHROPIC, transforms=[filters], request_body={}, model="m"
        )
        assert pipeline._literal is not None
        if not fast:
            pipeline._literal = None
        return b"".join(pipeline.push(f) for f in frames) + pipeline.finish()

    pieces = ["Hi", " there", " <thi", "nk>plan</think>", "  after", " more", "<|im_end|>", "!"]
    frames = [chunk({"role": "assistant", "content": pieces[0]})]
    frames += [chunk({"content": p}) for p in pieces[1:]]
    frames += [chunk({}, "stop"), b"data: [DONE]\n\n"]
    fast = events(run(True))
    assert fast == events(run(False))
    texts = [e["delta"].get("text") for e in fast if e["type"] == "content_block_delta"]
    assert "".join(t for t in texts if t) == "Hi there after more!"
