"""The transform on internal events: numbering, stop reason, holding, edge cases."""

from __future__ import annotations

import itertools
import json
from typing import Any

from coderouter_tool_repair import ToolRepairTransform, ToolSet, repair_text

from coderouter.wire import model as ir

TOOLS = ToolSet(
    [
        {
            "name": "read_file",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
        {
            "name": "run",
            "input_schema": {
                "type": "object",
                "properties": {"cmd": {"type": "string"}},
                "required": ["cmd"],
            },
        },
    ]
)
CALL = '{"name": "read_file", "arguments": {"path": "a.py"}}'


def transform(**kwargs: Any) -> ToolRepairTransform:
    ids = itertools.count(1)
    return ToolRepairTransform(TOOLS, new_id=lambda: f"call_{next(ids)}", **kwargs)


def run(events: list[ir.Event], t: ToolRepairTransform | None = None) -> list[ir.Event]:
    t = t or transform()
    out: list[ir.Event] = []
    for event in events:
        out += t.feed(event)
    return out + t.flush()


def text_answer(*pieces: str, stop: str = "end_turn") -> list[ir.Event]:
    return [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "text"}),
        *[ir.TextDelta(0, p) for p in pieces],
        ir.BlockStop(0),
        ir.MessageDelta(stop),  # type: ignore[arg-type]
        ir.MessageStop(),
    ]


def assert_well_formed(events: list[ir.Event]) -> None:
    """Block indexes are 0, 1, 2 ... in order of opening; each block opens and stops once."""
    opened = [e.index for e in events if isinstance(e, ir.BlockStart)]
    stopped = [e.index for e in events if isinstance(e, ir.BlockStop)]
    assert opened == list(range(len(opened)))
    assert stopped == opened
    open_now: int | None = None
    for event in events:
        if isinstance(event, ir.BlockStart):
            assert open_now is None
            open_now = event.index
        elif isinstance(event, ir.BlockStop):
            assert event.index == open_now
            open_now = None
        elif isinstance(event, ir.TextDelta | ir.ThinkingDelta | ir.ToolArgsDelta):
            assert event.index == open_now


def test_call_becomes_tool_use_block_and_stop_reason_tool_use() -> None:
    events = run(text_answer("Reading.\n", CALL))
    assert_well_formed(events)
    response = ir.accumulate(events)
    assert response.content == [
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "call_1", "name": "read_file", "input": {"path": "a.py"}},
    ]
    assert response.stop_reason == "tool_use"


def test_answer_that_is_only_a_call_has_no_text_block() -> None:
    events = run(text_answer("\n", CALL, "\n\n"))
    assert_well_formed(events)
    assert [b["type"] for b in ir.accumulate(events).content] == ["tool_use"]


def test_blocks_after_a_removed_block_are_renumbered() -> None:
    events = [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
        ir.ThinkingDelta(0, "hmm"),
        ir.BlockStop(0),
        ir.BlockStart(1, {"type": "text"}),
        ir.TextDelta(1, CALL),
        ir.BlockStop(1),
        ir.BlockStart(2, {"type": "text"}),
        ir.TextDelta(2, "after"),
        ir.BlockStop(2),
        ir.MessageDelta("end_turn"),
        ir.MessageStop(),
    ]
    out = run(events)
    assert_well_formed(out)
    content = ir.accumulate(out).content
    assert [b["type"] for b in content] == ["thinking", "text", "tool_use"]
    assert content[1]["text"] == "after"


def test_plain_text_streams_without_waiting() -> None:
    t = transform()
    assert t.feed(ir.MessageStart("m", "x")) == [ir.MessageStart("m", "x")]
    assert t.feed(ir.BlockStart(0, {"type": "text"})) == []
    first = t.feed(ir.TextDelta(0, "Hello there"))
    assert first == [ir.BlockStart(0, {"type": "text"}), ir.TextDelta(0, "Hello there")]
    assert t.feed(ir.TextDelta(0, ", friend.")) == [ir.TextDelta(0, ", friend.")]


def test_possible_call_is_held_until_decided() -> None:
    t = transform()
    t.feed(ir.BlockStart(0, {"type": "text"}))
    assert t.feed(ir.TextDelta(0, 'ok {"name": "read')) == [
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, "ok"),
    ]
    assert t.feed(ir.TextDelta(0, '_file", "arguments": {"path": "a"}}')) == []
    assert t.feed(ir.TextDelta(0, " done")) == [ir.TextDelta(0, " done")]


def test_text_that_is_data_is_released_at_its_first_key() -> None:
    t = transform()
    t.feed(ir.BlockStart(0, {"type": "text"}))
    out = t.feed(ir.TextDelta(0, 'config: {"compilerOptions": {"strict'))
    assert (
        "".join(e.text for e in out if isinstance(e, ir.TextDelta))
        == 'config: {"compilerOptions": {"strict'
    )


def test_angle_bracket_is_released_once_it_cannot_open_a_wrapper() -> None:
    t = transform()
    t.feed(ir.BlockStart(0, {"type": "text"}))
    assert [e for e in t.feed(ir.TextDelta(0, "a <tool")) if isinstance(e, ir.TextDelta)] == [
        ir.TextDelta(0, "a")
    ]
    rest = t.feed(ir.TextDelta(0, "bar> b"))
    assert "".join(e.text for e in rest if isinstance(e, ir.TextDelta)) == " <toolbar> b"


def test_overlong_candidate_is_released_as_text() -> None:
    big = json.dumps({"name": "run", "arguments": {"cmd": "x" * 600}})
    text, calls = repair_text(
        [big[i : i + 10] for i in range(0, len(big), 10)], TOOLS, max_hold=256
    )
    assert calls == [] and text == big
    text, calls = repair_text(big, TOOLS, max_hold=256)
    assert calls == [] and text == big
    _, calls = repair_text(big, TOOLS, max_hold=1024)
    assert [c.name for c in calls] == ["run"]


def test_structured_call_from_upstream_turns_repair_off() -> None:
    events = [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, CALL),
        ir.BlockStop(0),
        ir.BlockStart(1, {"type": "tool_use", "id": "call_up", "name": "run"}),
        ir.ToolArgsDelta(1, '{"cmd": "ls"}'),
        ir.BlockStop(1),
        ir.MessageDelta("tool_use"),
        ir.MessageStop(),
    ]
    t = transform()
    out = run(events, t)
    assert_well_formed(out)
    content = ir.accumulate(out).content
    assert [b["type"] for b in content] == ["tool_use", "text"]
    assert content[0]["id"] == "call_up" and content[1]["text"] == CALL
    assert t.outcome.calls == [] and t.outcome.ignored == 1


def test_max_tokens_answer_with_a_complete_call_still_ends_in_tool_use() -> None:
    response = ir.accumulate(run(text_answer(CALL, " and then", stop="max_tokens")))
    assert response.stop_reason == "tool_use"


def test_stream_without_message_delta_emits_calls_before_message_stop() -> None:
    events = [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, CALL),
        ir.BlockStop(0),
        ir.MessageStop(),
    ]
    out = run(events)
    assert isinstance(out[-1], ir.MessageStop)
    assert [b["type"] for b in ir.accumulate(out).content] == ["tool_use"]


def test_stream_error_releases_held_text_and_repairs_nothing() -> None:
    events = [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, 'x {"name": "read_file", '),
        ir.StreamError("api_error", "cut"),
    ]
    out = run(events)
    assert isinstance(out[-1], ir.StreamError)
    texts = "".join(e.text for e in out if isinstance(e, ir.TextDelta))
    assert texts == 'x {"name": "read_file", '
    assert not any(isinstance(e, ir.BlockStart) and e.block["type"] == "tool_use" for e in out)


def test_flush_without_any_end_event_releases_everything() -> None:
    t = transform()
    out = [*t.feed(ir.BlockStart(0, {"type": "text"})), *t.feed(ir.TextDelta(0, "a {")), *t.flush()]
    assert "".join(e.text for e in out if isinstance(e, ir.TextDelta)) == "a {"
    assert t.flush() == []


def test_outcome_reported_once() -> None:
    seen = []
    t = transform(on_done=seen.append)
    run(text_answer(CALL), t)
    assert len(seen) == 1 and [c.name for c in seen[0].calls] == ["read_file"]


def test_whitespace_around_removed_spans() -> None:
    assert repair_text(f"Before.\n\n{CALL}\n\nAfter.", TOOLS)[0] == "Before.\n\nAfter."
    assert repair_text(f"Before.\n\n{CALL}\n\n", TOOLS)[0] == "Before."
    assert repair_text("No call here.\n\n", TOOLS) == ("No call here.\n\n", [])


def test_text_block_stopped_after_the_message_end_is_stopped_once() -> None:
    events = [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "text"}),
        ir.TextDelta(0, "hi"),
        ir.MessageDelta("end_turn"),
        ir.BlockStop(0),
        ir.MessageStop(),
    ]
    out = run(events)
    assert_well_formed(out)
    assert ir.accumulate(out).content == [{"type": "text", "text": "hi"}]
