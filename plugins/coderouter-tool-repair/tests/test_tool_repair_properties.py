"""Properties: however an answer is split into stream chunks, the result equals the
non-stream result; the output is always a well-formed event sequence."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from coderouter_tool_repair import ToolRepairTransform, ToolSet
from coderouter_tool_repair.corpus import load_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coderouter.wire import model as ir

CASES = load_corpus(Path(__file__).parent / "corpus")
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

CALL = json.dumps({"name": "read_file", "arguments": {"path": "a {b} `c`"}})
FRAGMENTS = [
    "Hello",
    " ",
    "\n",
    "\n\n",
    "some prose. ",
    "a < b",
    "x = ",
    "f(",
    "[1, 2]",
    "[",
    "{",
    "}",
    "{}",
    '"',
    "\\",
    "`",
    "``",
    "```",
    "```json\n",
    "```python\n",
    "\n```",
    "<",
    "<tool",
    "<tool_call>",
    "</tool_call>",
    "<|tool_call|>",
    "<function=",
    "<function=run>",
    "</function>",
    "<parameter=cmd>",
    "ls\n",
    "</parameter>",
    "[TOOL_CALLS]",
    "[TOOL",
    CALL,
    json.dumps({"name": "run", "arguments": json.dumps({"cmd": "ls"})}),
    json.dumps({"tool": "run", "parameters": {"cmd": "pwd"}}),
    json.dumps({"type": "function", "function": {"name": "run", "arguments": {"cmd": "x"}}}),
    json.dumps({"tool_calls": [{"name": "run", "arguments": {"cmd": "y"}}]}),
    json.dumps({"name": "nope", "arguments": {}}),
    json.dumps({"data": {"name": "run"}}),
    '{"name": "read_file", "arguments": {"path": ',
    "x = {",
    '{"a": 1}',
    "}",
    'Config: {"a": {"b": 1}} ',
    "```inline triple backticks in a long line of prose``` ",
    "a long line of prose without any newline in it at all, none",
    "é",
    "😀",
]


def _run(events: list[ir.Event], max_hold: int) -> list[ir.Event]:
    ids = itertools.count()
    transform = ToolRepairTransform(TOOLS, max_hold=max_hold, new_id=lambda: f"call_{next(ids)}")
    out: list[ir.Event] = []
    for event in events:
        out += transform.feed(event)
    return out + transform.flush()


def _answer(chunks: list[str], *, reasoning: bool) -> list[ir.Event]:
    events: list[ir.Event] = [ir.MessageStart("m", "x")]
    index = 0
    if reasoning:
        events += [
            ir.BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
            ir.ThinkingDelta(0, "plan"),
            ir.BlockStop(0),
        ]
        index = 1
    events.append(ir.BlockStart(index, {"type": "text"}))
    events += [ir.TextDelta(index, chunk) for chunk in chunks]
    return [*events, ir.BlockStop(index), ir.MessageDelta("end_turn"), ir.MessageStop()]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)] or [""]


def _well_formed(events: list[ir.Event]) -> None:
    opened = [e.index for e in events if isinstance(e, ir.BlockStart)]
    assert opened == list(range(len(opened)))
    assert [e.index for e in events if isinstance(e, ir.BlockStop)] == opened
    current: int | None = None
    for event in events:
        if isinstance(event, ir.BlockStart):
            assert current is None
            current = event.index
        elif isinstance(event, ir.BlockStop):
            assert current == event.index
            current = None
        elif isinstance(event, ir.TextDelta | ir.ThinkingDelta | ir.ToolArgsDelta):
            assert current == event.index
    assert isinstance(events[-1], ir.MessageStop)


def _result(response: ir.Response) -> tuple[object, ...]:
    return (response.content, response.stop_reason)


def _run_with(tools: ToolSet, events: list[ir.Event]) -> list[ir.Event]:
    ids = itertools.count()
    t = ToolRepairTransform(tools, new_id=lambda: f"call_{next(ids)}")
    out: list[ir.Event] = []
    for event in events:
        out += t.feed(event)
    return out + t.flush()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=st.sampled_from(CASES), data=st.data(), reasoning=st.booleans())
def test_corpus_answers_split_anywhere_give_the_same_result(
    case: object, data: st.DataObject, reasoning: bool
) -> None:
    text = case.text  # type: ignore[attr-defined]
    tools = ToolSet(case.tools)  # type: ignore[attr-defined]
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=40))
    streamed = _run_with(tools, _answer(_split(text, cuts), reasoning=reasoning))
    _well_formed(streamed)
    whole = _run_with(tools, _answer([text], reasoning=reasoning))
    assert _result(ir.accumulate(streamed)) == _result(ir.accumulate(whole))


def test_corpus_answers_cut_once_at_every_position() -> None:
    for case in CASES:
        tools = ToolSet(case.tools)
        text = case.text
        whole = _result(ir.accumulate(_run_with(tools, _answer([text], reasoning=False))))
        for cut in range(1, min(len(text), 700)):
            pieces = [text[:cut], text[cut:]]
            got = _result(ir.accumulate(_run_with(tools, _answer(pieces, reasoning=False))))
            assert got == whole, (case.id, cut)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=25),
    data=st.data(),
    max_hold=st.sampled_from([256, 16384]),
    reasoning=st.booleans(),
)
def test_generated_answers_split_anywhere_give_the_same_result(
    parts: list[str], data: st.DataObject, max_hold: int, reasoning: bool
) -> None:
    text = "".join(parts)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=60))
    whole = _run(_answer([text], reasoning=reasoning), max_hold)
    streamed = _run(_answer(_split(text, cuts), reasoning=reasoning), max_hold)
    _well_formed(whole)
    _well_formed(streamed)
    assert _result(ir.accumulate(streamed)) == _result(ir.accumulate(whole))


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list('{}[]<>`"\\:, \nab_=|/')), max_size=120),
    data=st.data(),
)
def test_arbitrary_punctuation_never_breaks_the_stream(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=30))
    whole = _run(_answer([text], reasoning=False), 256)
    streamed = _run(_answer(_split(text, cuts), reasoning=False), 256)
    _well_formed(streamed)
    assert _result(ir.accumulate(streamed)) == _result(ir.accumulate(whole))
    response = ir.accumulate(whole)
    if not any(b["type"] == "tool_use" for b in response.content):
        assert "".join(b.get("text", "") for b in response.content) == text
