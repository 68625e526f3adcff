"""Properties: however an answer is split into stream chunks, the result equals the
non-stream result; filtering pieces that do not touch each other is filtering each piece."""

from __future__ import annotations

import itertools

from coderouter_output_filters import (
    DEFAULT_STOP_MARKERS,
    OutputFilterTransform,
    TextFilter,
    compile_patterns,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coderouter.wire import model as ir

PATTERNS = compile_patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS)
CUSTOM = compile_patterns(
    strip_thinking=True, stop_markers=[*DEFAULT_STOP_MARKERS, "[/INST]", "###…\n"]
)
FRAGMENTS = [
    "Hello",
    " ",
    "\n",
    "\n\n",
    "a < b",
    "<b>",
    "<",
    "<|",
    "|>",
    "<|im_",
    "end|>",
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "</s>",
    "<s>",
    "<think>",
    "</think>",
    "<thinking>",
    "</thinking>",
    "<thi",
    "nk>",
    "</",
    "<|channel|>",
    "analysis",
    "<|message|>",
    "<|start|>",
    "assistant",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "[/INST]",
    "[/IN",
    "###",
    "x" * 40,
    "é",
    "😀",
    "<|end|>",
    "<|endoftext|>",
    "<|python_tag|>",
    '{"a": 1}',
]
# Pieces that neither form nor break a tag when placed next to each other, with their output.
ATOMS = [
    ("Hello", "Hello"),
    ("a < b", "a < b"),
    ("<b>x</b>", "<b>x</b>"),
    ("é😀", "é😀"),
    ("<|im_end|>", ""),
    ("<|eot_id|>", ""),
    ("</s>", ""),
    ("<|channel|>commentary<|message|>", ""),
    ("<think>plan</think>", ""),
    ("<thinking>a\nb</thinking>", ""),
    ("word", "word"),
]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)] or [""]


def _answer(chunks: list[str]) -> list[ir.Event]:
    return [
        ir.MessageStart("m", "x"),
        ir.BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
        ir.ThinkingDelta(0, "why"),
        ir.BlockStop(0),
        ir.BlockStart(1, {"type": "text"}),
        *[ir.TextDelta(1, c) for c in chunks],
        ir.BlockStop(1),
        ir.BlockStart(2, {"type": "tool_use", "id": "c1", "name": "f"}),
        ir.ToolArgsDelta(2, "{}"),
        ir.BlockStop(2),
        ir.MessageDelta("tool_use"),
        ir.MessageStop(),
    ]


def _run(events: list[ir.Event], patterns: object, drop: bool) -> list[ir.Event]:
    t = OutputFilterTransform(patterns, drop_reasoning=drop)  # type: ignore[arg-type]
    out: list[ir.Event] = []
    for event in events:
        out += t.feed(event)
    return out + t.flush()


def _well_formed(events: list[ir.Event]) -> None:
    opened = [e.index for e in events if isinstance(e, ir.BlockStart)]
    assert opened == list(range(len(opened)))
    assert [e.index for e in events if isinstance(e, ir.BlockStop)] == opened
    assert all(e.text for e in events if isinstance(e, ir.TextDelta))


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=30),
    data=st.data(),
    patterns=st.sampled_from([PATTERNS, CUSTOM]),
    drop=st.booleans(),
)
def test_stream_equals_non_stream_for_any_split(
    parts: list[str], data: st.DataObject, patterns: object, drop: bool
) -> None:
    text = "".join(parts)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=60))
    whole = _run(_answer([text]), patterns, drop)
    streamed = _run(_answer(_split(text, cuts)), patterns, drop)
    _well_formed(streamed)
    a, b = ir.accumulate(streamed), ir.accumulate(whole)
    assert (a.content, a.stop_reason) == (b.content, b.stop_reason)


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("<>|/thinkms_e\n x")), max_size=80), data=st.data()
)
def test_arbitrary_tag_soup_is_split_safe(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=40))

    def run(pieces: list[str]) -> str:
        flt = TextFilter(PATTERNS)
        return "".join(flt.feed(p) for p in pieces) + flt.finish()

    assert run(_split(text, cuts)) == run([text])


@settings(max_examples=500, deadline=None)
@given(atoms=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=12), data=st.data())
def test_output_is_the_concatenation_of_each_atom_filtered(
    atoms: list[tuple[str, str]], data: st.DataObject
) -> None:
    text = "/".join(a for a, _ in atoms)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=30))
    flt = TextFilter(PATTERNS)
    got = "".join(flt.feed(p) for p in _split(text, cuts)) + flt.finish()
    assert got == "/".join(out for _, out in atoms)
