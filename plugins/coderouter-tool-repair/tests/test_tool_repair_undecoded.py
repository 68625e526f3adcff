"""Text chunks tool repair vouches for (``passes_text``) reach the client undecoded: the client
gets the same stream as when every chunk is decoded, on a Chat pass-through and translated to
Anthropic, however the answer is split."""

from __future__ import annotations

import itertools
import json
from typing import Any

from coderouter_tool_repair import ToolRepairTransform, ToolSet
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coderouter.streaming import Pipeline
from coderouter.wire import wire_format

CHAT = wire_format("openai_chat")
ANTHROPIC = wire_format("anthropic")
TOOLS = ToolSet(
    [
        {
            "name": "run",
            "input_schema": {
                "type": "object",
                "properties": {"cmd": {"type": "string"}},
                "required": ["cmd"],
            },
        }
    ]
)
CALL = json.dumps({"name": "run", "arguments": {"cmd": "ls"}})
FRAGMENTS = [
    "Hello",
    "plain prose without any trigger.",
    " ",
    "\n",
    "x = ",
    "f(",
    "a, ",
    "done,",
    "{",
    "}",
    "[1]",
    "<tool_call>",
    "</tool_call>",
    "`",
    '"',
    "\\",
    "\u00a0",
    "é",
    "😀",
    CALL,
]


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def stream(pieces: list[str], *, ascii_only: bool) -> list[bytes]:
    frames = [chunk({"role": "assistant", "content": ""})]
    for piece in pieces:
        raw = chunk({"content": piece})
        frames.append(raw.decode().encode("ascii", "backslashreplace") if ascii_only else raw)
    return [*frames, chunk({}, "stop"), b"data: [DONE]\n\n"]


def run(frames: list[bytes], target: Any, *, undecoded: bool) -> tuple[bytes, Pipeline]:
    ids = itertools.count()
    transform = ToolRepairTransform(TOOLS, new_id=lambda: f"call_{next(ids)}")
    pipeline = Pipeline(
        source=CHAT, target=target, transforms=[transform], request_body={}, model="m"
    )
    if not undecoded:
        pipeline._passes = None
        pipeline._literal = None
    out = b"".join(pipeline.push(f) for f in frames) + pipeline.finish()
    return out, pipeline


def client_events(raw: bytes) -> list[Any]:
    found = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            event = json.loads(line[6:])
            if event.get("type") == "message_start":
                event["message"]["id"] = "<id>"
            for choice in event.get("choices", ()):
                choice.pop("logprobs", None)  # the encoder's, absent from the upstream's
            found.append(event)
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12),
    ascii_only=st.booleans(),
    translate=st.booleans(),
)
@example(pieces=["Run", "f(", CALL], ascii_only=False, translate=False)  # code context
@example(pieces=["Run", "done,", CALL], ascii_only=False, translate=True)
@example(pieces=["Run", "\u00a0", CALL], ascii_only=True, translate=False)  # held space
def test_undecoded_text_gives_the_decoded_stream(
    pieces: list[str], ascii_only: bool, translate: bool
) -> None:
    frames = stream(pieces, ascii_only=ascii_only)
    target = ANTHROPIC if translate else CHAT
    fast, fast_pipeline = run(frames, target, undecoded=True)
    slow, slow_pipeline = run(frames, target, undecoded=False)
    assert client_events(fast) == client_events(slow)
    assert fast_pipeline.content_frames == slow_pipeline.content_frames


def test_plain_prose_passes_as_the_upstream_wrote_it() -> None:
    frames = stream(["Hello", " there.", " More prose."], ascii_only=False)
    out, _ = run(frames, CHAT, undecoded=True)
    assert frames[2] in out and frames[3] in out  # after the first text opened the block


def test_text_that_may_begin_a_call_is_decoded() -> None:
    frames = stream(["Hello", " see {", '"name": "run"}'], ascii_only=False)
    out, _ = run(frames, CHAT, undecoded=True)
    assert frames[2] not in out
