"""The transform on internal events: reasoning blocks, lazy text blocks, renumbering."""

from __future__ import annotations

from coderouter_output_filters import (
    DEFAULT_STOP_MARKERS,
    OutputFilterTransform,
    compile_patterns,
)

from coderouter.wire import model as ir

PATTERNS = compile_patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS)


def run(
    events: list[ir.Event], *, drop_reasoning: bool = True, patterns: object = PATTERNS
) -> list[ir.Event]:
    t = OutputFilterTransform(patterns, drop_reasoning=drop_reasoning)  # type: ignore[arg-type]
    out: list[ir.Event] = []
    for event in events:
        out += t.feed(event)
    return out + t.flush()


def answer(reasoning: str | None, text: str, *, tool: bool = False) -> list[ir.Event]:
    events: list[ir.Event] = [ir.MessageStart("m", "x")]
    i = 0
    if reasoning is not None:
        events += [
            ir.BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
            ir.ThinkingDelta(0, reasoning),
            ir.BlockStop(0),
        ]
        i = 1
    events += [ir.BlockStart(i, {"type": "text"}), ir.TextDelta(i, text), ir.BlockStop(i)]
    if tool:
        events += [
            ir.BlockStart(i + 1, {"type": "tool_use", "id": "call_1", "name": "f"}),
            ir.ToolArgsDelta(i + 1, '{"a": 1}'),
            ir.BlockStop(i + 1),
        ]
    return [*events, ir.MessageDelta("tool_use" if tool else "end_turn"), ir.MessageStop()]


def indexes(events: list[ir.Event]) -> list[int]:
    return [e.index for e in events if isinstance(e, ir.BlockStart)]


def test_reasoning_block_is_stripped_and_later_blocks_renumbered() -> None:
    out = run(answer("secret plan", "Hi<|im_end|>", tool=True))
    assert indexes(out) == [0, 1]
    assert [e.index for e in out if isinstance(e, ir.ToolArgsDelta)] == [1]
    response = ir.accumulate(out)
    assert response.content == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert not any(isinstance(e, ir.ThinkingDelta) for e in out)


def test_reasoning_kept_when_asked_and_never_signed() -> None:
    out = run(answer("plan", "Hi"), drop_reasoning=False)
    content = ir.accumulate(out).content
    assert content[0] == {"type": "thinking", "origin": "reasoning_field", "thinking": "plan"}
    assert "signature" not in content[0]
    assert not any(isinstance(e, ir.SignatureDelta) for e in out)


def test_signed_thinking_blocks_are_never_touched() -> None:
    events: list[ir.Event] = [
        ir.BlockStart(0, {"type": "thinking"}),
        ir.ThinkingDelta(0, "t"),
        ir.SignatureDelta(0, "sig"),
        ir.BlockStop(0),
    ]
    assert run(events) == events


def test_text_block_made_only_of_think_leaves_no_block() -> None:
    out = run(answer(None, "<think>all of it</think>\n", tool=True))
    assert indexes(out) == [0]
    assert [b["type"] for b in ir.accumulate(out).content] == ["tool_use"]


def test_text_block_opens_at_its_first_surviving_character() -> None:
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    assert t.feed(ir.BlockStart(0, {"type": "text"})) == []
    assert t.feed(ir.TextDelta(0, "<think>a")) == []
    assert t.feed(ir.TextDelta(0, "</think>Hel")) == [
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, "Hel"),
    ]
    assert t.feed(ir.TextDelta(0, "lo")) == [ir.TextDelta(0, "lo")]
    assert t.feed(ir.BlockStop(0)) == [ir.BlockStop(0)]


def test_unchanged_events_are_passed_on_as_the_same_objects() -> None:
    start = ir.MessageStart("m", "x")
    delta = ir.MessageDelta("end_turn")
    tool = ir.BlockStart(0, {"type": "tool_use", "id": "c", "name": "f"})
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    assert t.feed(start)[0] is start
    assert t.feed(tool)[0] is tool
    assert t.feed(delta)[0] is delta


def test_reasoning_only_mode_leaves_text_alone() -> None:
    out = run(answer("plan", "<think>x</think>Hi<|im_end|>"), patterns=None)
    assert ir.accumulate(out).content == [{"type": "text", "text": "<think>x</think>Hi<|im_end|>"}]


def test_block_left_open_at_the_end_is_closed_by_flush() -> None:
    t = OutputFilterTransform(PATTERNS, drop_reasoning=True)
    out = t.feed(ir.BlockStart(3, {"type": "text"})) + t.feed(ir.TextDelta(3, "a<|im_"))
    out += t.flush()
    assert out == [
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, "a"),
        ir.TextDelta(0, "<|im_"),
        ir.BlockStop(0),
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
    transform.feed(ir.BlockStart(0, {"type": "text"}))
    assert not transform.passes(frame("Hi"))  # the block has not opened for the client yet
    transform.feed(ir.TextDelta(0, "Hello"))
    assert transform.passes(frame(" world"))
    assert not transform.passes(frame("a <b"))  # could begin a tag or a marker
    assert not transform.passes(frame("\\u003cthink"))  # an escape hides what it is
    assert not transform.passes(b'data: {"choices":[{"delta":{"reasoning_content":"x"}}]}\n\n')
    transform.feed(ir.TextDelta(0, " <thi"))  # a tag may be starting: held back
    assert not transform.passes(frame("nk"))
    transform.feed(ir.TextDelta(0, "nk>plan</think>"))
    assert not transform.passes(frame("  next"))  # whitespace after a think block is eaten
    transform.feed(ir.TextDelta(0, "Done"))
    assert transform.passes(frame(" and more"))
