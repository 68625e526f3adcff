"""The resume building blocks on their own: overlap stripping, reading back what the client
was sent, the continuation request, stitching and tool-call holding."""

from __future__ import annotations

import json

import pytest

from coderouter.resume import (
    CONTINUE_NOTE,
    Overlap,
    SentLog,
    Stitcher,
    ToolHolder,
    continuation_request,
    estimated_usage,
    plan_resume,
    primed_encoder,
    read_sent,
    strip_overlap,
    sum_usage,
)
from coderouter.resume.sent import MAX_SENT_BYTES, fold_sent
from coderouter.types import Usage
from coderouter.wire import wire_format
from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    Request,
    Response,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
)

ANTHROPIC = wire_format("anthropic")


def strip(sent: str, continuation: str) -> str:
    return strip_overlap(Overlap(sent), continuation)[0]


# --- overlap ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "continuation", "expected"),
    [
        ("Hello wor", "world again", "ld again"),
        ("Hello wor", "Hello world again", "ld again"),
        ("Hello ", "Hello world", "world"),
        ("Hello", " world", " world"),
        ("Hello ", "world", "world"),
        ("para one.\n", "\n\nPara two", "\nPara two"),
        ("a  list:\n- one", "list: - one\n- two", "\n- two"),
        ("x = 1", "1 + 2", "1 + 2"),
        ("He", "Hello", "llo"),
        ("", "anything", "anything"),
    ],
)
def test_the_longest_repeat_of_the_sent_tail_is_cut(
    sent: str, continuation: str, expected: str
) -> None:
    assert strip(sent, continuation) == expected


def test_whitespace_differences_do_not_hide_a_repeat() -> None:
    rest, cut = strip_overlap(Overlap("def f(x):\n    return x"), "return  x + 1")
    assert rest == " + 1"
    assert cut == len("return  x")


def test_a_repeat_beyond_the_window_is_not_recognised() -> None:
    sent = "start " + "word " * 200
    assert strip(sent, sent + "end") == sent + "end"


# --- reading back what was sent ----------------------------------------------------------------


def anthropic_bytes(events: list[Event]) -> SentLog:
    log = SentLog()
    encoder = ANTHROPIC.stream_encoder(model="m", request_body={})
    log.add(encoder.encode(list(events)))
    return log


def test_the_sent_bytes_are_read_back_into_blocks() -> None:
    log = anthropic_bytes(
        [
            MessageStart("msg_1", "m", Usage(input_tokens=7)),
            BlockStart(0, {"type": "thinking"}),
            ThinkingDelta(0, "hmm"),
            BlockStop(0),
            BlockStart(1, {"type": "text"}),
            TextDelta(1, "Hello "),
            TextDelta(1, "wor"),
        ]
    )
    state = read_sent(ANTHROPIC, log)
    assert [(b.kind, b.text, b.closed) for b in state.blocks] == [
        ("thinking", "hmm", True),
        ("text", "Hello wor", False),
    ]
    assert state.open_block is state.blocks[1]
    assert state.next_index == 2
    assert state.prefill() == [{"type": "text", "text": "Hello wor"}]
    assert state.usage.input_tokens == 7
    assert plan_resume(state, "text").action == "continue"


def test_a_log_past_its_bound_keeps_nothing() -> None:
    log = SentLog()
    log.add(b"x" * MAX_SENT_BYTES)
    assert not log.overflowed
    log.add(b"y")
    assert log.overflowed and log.chunks == []


def test_a_cut_inside_a_sent_tool_call_is_not_resumable() -> None:
    state = fold_sent(
        [
            MessageStart("m", "m"),
            BlockStart(0, {"type": "tool_use", "id": "t", "name": "Read"}),
            ToolArgsDelta(0, '{"pa'),
        ]
    )
    plan = plan_resume(state, "text")
    assert plan.action == "give_up"
    assert 'resume = "all"' in plan.reason


def test_a_cut_after_a_complete_tool_call_or_the_stop_reason_only_closes() -> None:
    tool: list[Event] = [
        MessageStart("m", "m"),
        BlockStart(0, {"type": "tool_use", "id": "t", "name": "Read"}),
        ToolArgsDelta(0, '{"path": "a"}'),
        BlockStop(0),
    ]
    assert plan_resume(fold_sent(tool), "text").action == "close"
    text: list[Event] = [MessageStart("m", "m"), TextDelta(0, "done"), MessageDelta("end_turn")]
    assert plan_resume(fold_sent(text), "text").action == "close"


# --- the continuation request ------------------------------------------------------------------


def original() -> Request:
    return Request(
        model="m",
        messages=[{"role": "user", "content": [{"type": "text", "text": "review it"}]}],
        system=[{"type": "text", "text": "be brief"}],
        thinking={"type": "enabled", "budget_tokens": 1000},
    )


def test_anthropic_targets_get_a_prefill_and_no_note() -> None:
    state = fold_sent([TextDelta(0, "It loads "), TextDelta(0, "four files  \n")])
    request = continuation_request(original(), state, native_prefill=True)
    assert request.messages[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "It loads four files"}],
    }
    assert request.system == original().system
    assert request.thinking is None
    assert len(original().messages) == 1


def test_other_targets_also_get_the_system_note() -> None:
    state = fold_sent([TextDelta(0, "It loads")])
    request = continuation_request(original(), state, native_prefill=False)
    assert request.system[-1] == {"type": "text", "text": CONTINUE_NOTE}
    assert "do not repeat it" in CONTINUE_NOTE


def test_a_client_prefill_is_joined_with_the_answer() -> None:
    base = original()
    base.messages.append({"role": "assistant", "content": "{"})
    state = fold_sent([TextDelta(0, '"a": 1')])
    request = continuation_request(base, state, native_prefill=True)
    assert request.messages[-1]["content"] == [{"type": "text", "text": '{"a": 1'}]
    assert len(request.messages) == 2


def test_only_thinking_sent_means_the_original_request() -> None:
    state = fold_sent([BlockStart(0, {"type": "thinking"}), ThinkingDelta(0, "hmm")])
    request = continuation_request(original(), state, native_prefill=True)
    assert request.messages == original().messages
    assert request.thinking == original().thinking


def test_usage_is_summed_and_output_estimated_when_not_reported() -> None:
    assert sum_usage(Usage(10, 2, 1), Usage(12, 30)) == Usage(22, 32, 1)
    assert estimated_usage(Usage(10, 1), 400).output_tokens == 100
    assert estimated_usage(Usage(10, 500), 400).output_tokens == 500


# --- stitching ---------------------------------------------------------------------------------


def stitched(sent: list[Event], continuation: list[Event]) -> tuple[Response, dict[str, object]]:
    """What the client ends up with: the sent events, then the continuation through a
    stitcher, all read back as one Anthropic stream."""
    log = anthropic_bytes(sent)
    state = read_sent(ANTHROPIC, log)
    report: dict[str, object] = {}
    encoder = primed_encoder(ANTHROPIC, state, model="m", request_body={})
    stitcher = Stitcher(encoder, state, earlier=Usage(100, 5), report=report)
    log.add(stitcher.encode(list(continuation)))
    whole = read_sent(ANTHROPIC, log)
    starts = b"".join(log.chunks).count(b"event: message_start")
    assert starts == 1
    return accumulate(whole.events), report


def test_the_continuation_goes_on_in_the_same_text_block() -> None:
    message, report = stitched(
        [MessageStart("msg_1", "m", Usage(100, 1)), TextDelta(0, "Hello wor")],
        [
            MessageStart("msg_2", "m", Usage(120)),
            BlockStart(0, {"type": "text"}),
            TextDelta(0, "Hello "),
            TextDelta(0, "world."),
            BlockStop(0),
            BlockStart(1, {"type": "tool_use", "id": "t1", "name": "Read"}),
            ToolArgsDelta(1, '{"path": "a"}'),
            BlockStop(1),
            MessageDelta("tool_use", Usage(output_tokens=9)),
            MessageStop(),
        ],
    )
    assert message.id == "msg_1"
    assert message.content == [
        {"type": "text", "text": "Hello world."},
        {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "a"}},
    ]
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 220
    assert message.usage.output_tokens == 14
    assert report == {"overlap_chars": len("Hello wor")}


def test_a_thinking_block_cut_is_closed_and_the_answer_follows() -> None:
    message, _ = stitched(
        [MessageStart("msg_1", "m"), BlockStart(0, {"type": "thinking"}), ThinkingDelta(0, "hm")],
        [
            MessageStart("msg_2", "m"),
            BlockStart(0, {"type": "thinking"}),
            ThinkingDelta(0, "fresh thought"),
            BlockStop(0),
            BlockStart(1, {"type": "text"}),
            TextDelta(1, "Answer."),
            BlockStop(1),
            MessageDelta("end_turn"),
            MessageStop(),
        ],
    )
    kinds = [(b["type"], b.get("thinking") or b.get("text")) for b in message.content]
    assert kinds == [("thinking", "hm"), ("thinking", "fresh thought"), ("text", "Answer.")]


def test_thinking_from_the_continuation_is_dropped_once_text_was_sent() -> None:
    message, _ = stitched(
        [MessageStart("msg_1", "m"), TextDelta(0, "Part one")],
        [
            BlockStart(0, {"type": "thinking"}),
            ThinkingDelta(0, "where was I"),
            BlockStop(0),
            BlockStart(1, {"type": "text"}),
            TextDelta(1, ", part two."),
            BlockStop(1),
            MessageDelta("end_turn"),
            MessageStop(),
        ],
    )
    assert message.content == [{"type": "text", "text": "Part one, part two."}]


# --- holding tool calls ------------------------------------------------------------------------


def test_a_tool_call_is_held_until_it_is_complete() -> None:
    holder = ToolHolder()
    text: list[Event] = [TextDelta(0, "hi"), BlockStop(0)]
    assert holder.feed(text) == text
    start = BlockStart(1, {"type": "tool_use", "id": "t", "name": "Read"})
    assert holder.feed([start, ToolArgsDelta(1, '{"a"')]) == []
    assert holder.holding and not holder.released
    done = holder.feed([ToolArgsDelta(1, ": 1}"), BlockStop(1), MessageDelta("tool_use")])
    assert done[0] is start and isinstance(done[-1], MessageDelta) and len(done) == 5
    assert holder.released and not holder.holding


def test_relayed_frames_are_held_by_position() -> None:
    holder = ToolHolder()
    start = BlockStart(1, {"type": "tool_use", "id": "t", "name": "Read"})
    assert holder.frame(b"text", [TextDelta(0, "x")]) == b"text"
    assert holder.frame(b"start", [start]) == b""
    assert holder.frame(b"args", None) == b""
    assert holder.frame(b"stop", [BlockStop(1)]) == b"startargsstop"
    assert ToolHolder.may_start(b'data: {"choices":[{"delta":{"tool_calls":[]}}]}\n\n')
    assert not ToolHolder.may_start(json.dumps({"text": 'say "tool_calls"'}).encode())
