"""The transform on internal events: reasoning blocks, lazy text blocks, renumbering."""

from __future__ import annotations

from coderouter_output_filters import (
    DEFAULT_STOP_MARKERS,
    OutputFilterTransform,
    compile_patterns,
)

from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
)

PATTERNS = compile_patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS)


def run(
    events: list[Event], *, drop_reasoning: bool = True, patterns: object = PATTERNS
) -> list[Event]:
    t = OutputFilterTransform(patterns, drop_reasoning=drop_reasoning)  # type: ignore[arg-type]
    out: list[Event] = []
    for event in events:
        out += t.feed(event)
    return out + t.flush()


def answer(reasoning: str | None, text: str, *, tool: bool = False) -> list[Event]:
    events: list[Event] = [MessageStart("m", "x")]
    i = 0
    if reasoning is not None:
        events += [
            BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
            ThinkingDelta(0, reasoning),
            BlockStop(0),
        ]
        i = 1
    events += [BlockStart(i, {"type": "text"}), TextDelta(i, text), BlockStop(i)]
    if tool:
        events += [
            BlockStart(i + 1, {"type": "tool_use", "id": "call_1", "name": "f"}),
            ToolArgsDelta(i + 1, '{"a": 1}'),
            BlockStop(i + 1),
        ]
    return [*events, MessageDelta("tool_use" if tool else "end_turn"), MessageStop()]


def indexes(events: list[Event]) -> list[int]:
    return [e.index for e in events if isinstance(e, BlockStart)]


def test_reasoning_block_is_stripped_and_later_blocks_renumbered() -> None:
    out = run(answer("secret plan", "Hi<|im_end|>", tool=True))
    assert indexes(out) == [0, 1]
    assert [e.index for e in out if isinstance(e, ToolArgsDelta)] == [1]
    response = accumulate(out)
    assert response.content == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert not any(isinstance(e, ThinkingDelta) for e in out)


def test_reasoning_kept_when_asked_and_never_signed() -> None:
    out = run(answer("plan", "Hi"), drop_reasoning=False)
    content = accumulate(out).content
    assert content[0] == {"type": "thinking", "origin": "reasoning_field", "thinking": "plan"}
    assert "signature" not in content[0]
    assert not any(isinstance(e, SignatureDelta) for e in out)


def test_signed_thinking_blocks_are_never_touched() -> None:
    events: list[Event] = [
        BlockStart(0, {"type": "thinking"}),
        ThinkingDelta(0, "t"),
        SignatureDelta(0, "sig"),
        BlockStop(0),
    ]
    assert run(events) == events


def test_text_block_made_only_of_think_leaves_no_block() -> None:
    out = run(answer(None, "<think>all of it</think>\n", tool=True))
    assert indexes(out) == [0]
    assert [b["type"] for b in accumulate(out).content] == ["tool_use"]


def test_text_block_opens_at_its_first_surviving_character() -> None:
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    assert t.feed(BlockStart(0, {"type": "text"})) == []
    assert t.feed(TextDelta(0, "<think>a")) == []
    assert t.feed(TextDelta(0, "</think>Hel")) == [
        BlockStart(0, {"type": "text"}),
        TextDelta(0, "Hel"),
    ]
    assert t.feed(TextDelta(0, "lo")) == [TextDelta(0, "lo")]
    assert t.feed(BlockStop(0)) == [BlockStop(0)]


def test_unchanged_events_are_passed_on_as_the_same_objects() -> None:
    start = MessageStart("m", "x")
    delta = MessageDelta("end_turn")
    tool = BlockStart(0, {"type": "tool_use", "id": "c", "name": "f"})
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    assert t.feed(start)[0] is start
    assert t.feed(tool)[0] is tool
    assert t.feed(delta)[0] is delta


def test_reasoning_only_mode_leaves_text_alone() -> None:
    out = run(answer("plan", "<think>x</think>Hi<|im_end|>"), patterns=None)
    assert accumulate(out).content == [{"type": "text", "text": "<think>x</think>Hi<|im_end|>"}]


def test_block_left_open_at_the_end_is_closed_by_flush() -> None:
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    out = t.feed(BlockStart(3, {"type": "text"})) + t.feed(TextDelta(3, "a<|im_"))
    out += t.flush()
    assert out == [
        BlockStart(0, {"type": "text"}),
        TextDelta(0, "a"),
        TextDelta(0, "<|im_"),
        BlockStop(0),
    ]


def test_counts_what_was_removed() -> None:
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    for event in answer("r", "<think>x</think>y<|im_end|>"):
        t.feed(event)
    t.flush()
    assert t.counts == {"reasoning_blocks": 1, "think_blocks": 1, "markers": 1}


def frame(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


def test_passes_only_frames_that_would_come_out_unchanged() -> None:
    transform = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    transform.feed(BlockStart(0, {"type": "text"}))
    assert not transform.passes(frame("Hi"))  # the block has not opened for the client yet
    transform.feed(TextDelta(0, "Hello"))
    assert transform.passes(frame(" world"))
    assert not transform.passes(frame("a <b"))  # could begin a tag or a marker
    assert not transform.passes(frame("\\u003cthink"))  # an escape hides what it is
    assert not transform.passes(b'data: {"choices":[{"delta":{"reasoning_content":"x"}}]}\n\n')
    transform.feed(TextDelta(0, " <thi"))  # a tag may be starting: held back
    assert not transform.passes(frame("nk"))
    transform.feed(TextDelta(0, "nk>plan</think>"))
    assert not transform.passes(frame("  next"))  # whitespace after a think block is eaten
    transform.feed(TextDelta(0, "Done"))
    assert transform.passes(frame(" and more"))
