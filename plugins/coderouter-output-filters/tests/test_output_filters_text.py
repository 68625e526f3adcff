"""The text filter: think blocks, markers and spans, split at any point."""

from __future__ import annotations

import pytest
from coderouter_output_filters import DEFAULT_STOP_MARKERS, TextFilter, compile_patterns

PATTERNS = compile_patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS)


def run(pieces: list[str], patterns: object = PATTERNS) -> str:
    flt = TextFilter(patterns)  # type: ignore[arg-type]
    return "".join(flt.feed(p) for p in pieces) + flt.finish()


CASES = [
    ("<think>plan the answer</think>\n\nHello!", "Hello!"),
    ("\n\n<think>\nplan\n</think>\nHello", "Hello"),
    ("<thinking>a</thinking>Answer", "Answer"),
    ("Sure. <think>hmm</think> Here it is.", "Sure. Here it is."),
    ("Answer.<think>never closed, model ran out of tokens", "Answer."),
    ("<think>only thinking", ""),
    ("reasoning leaked</think>\n\nAnswer", "reasoning leaked\n\nAnswer"),
    ("Hello<|im_end|>", "Hello"),
    ("Hello<|im_end|>\n<|im_start|>", "Hello\n"),
    ("Done.<|eot_id|>", "Done."),
    ("A<|end|>B<|turn|>C<|endoftext|>", "ABC"),
    ("<|python_tag|>print(1)", "print(1)"),
    ("end of answer</s>", "end of answer"),
    (
        "<|channel|>analysis<|message|>We need...<|end|><|start|>assistant<|channel|>final"
        "<|message|>Paris.<|return|>",
        "We need...Paris.",
    ),
    ("<|start_header_id|>assistant<|end_header_id|>\n\nHi", "\n\nHi"),
    ("<|channel|>final", "final"),
    ("a <b> c </b> d <div>", "a <b> c </b> d <div>"),
    ("x < y and y > z; a<|b", "x < y and y > z; a<|b"),
    ("Use <|im_end to stop", "Use <|im_end to stop"),
    ("<|unknown_marker|>", "<|unknown_marker|>"),
    ("<thin", "<thin"),
    ("if a<think", "if a<think"),
    ("if a<think>", "if a"),
    ("   ", "   "),
    ("", ""),
    ("😀<think>é</think>ü", "😀ü"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_whole(text: str, expected: str) -> None:
    assert run([text]) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_at_every_position_and_char_by_char(text: str, expected: str) -> None:
    for cut in range(len(text) + 1):
        assert run([text[:cut], text[cut:]]) == expected, cut
    assert run(list(text)) == expected


def test_text_without_tags_passes_through_unchanged_and_at_once() -> None:
    flt = TextFilter(PATTERNS)
    assert flt.feed("Hello") == "Hello"
    assert flt.feed(" world, no tags here.") == " world, no tags here."
    assert flt.finish() == ""


def test_held_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    flt = TextFilter(PATTERNS)
    assert flt.feed("Hi <|im_") == "Hi "
    assert flt.feed("x") == "<|im_x"
    assert flt.feed(" a <") == " a "
    assert flt.feed("b") == "<b"


def test_think_content_is_not_held_in_memory() -> None:
    flt = TextFilter(PATTERNS)
    flt.feed("ok <think>")
    for _ in range(100):
        assert flt.feed("x" * 1000) == ""
    assert len(flt._pending) < 10
    assert flt.feed("</think>after") == "after"


def test_counts() -> None:
    flt = TextFilter(PATTERNS)
    flt.feed("<think>a</think>b<|im_end|>c<|channel|>x<|message|>")
    flt.finish()
    assert flt.counts == {"think_blocks": 1, "markers": 2}


def test_span_without_close_nearby_removes_only_the_opening_marker() -> None:
    text = "<|channel|>" + "y" * 300 + "<|message|>z"
    assert run([text]) == "y" * 300 + "z"
    assert run([text[i : i + 7] for i in range(0, len(text), 7)]) == "y" * 300 + "z"


def test_only_thinking_or_only_markers() -> None:
    no_markers = compile_patterns(strip_thinking=True, stop_markers=[])
    assert run(["<think>a</think>b<|im_end|>"], no_markers) == "b<|im_end|>"
    no_think = compile_patterns(strip_thinking=False, stop_markers=DEFAULT_STOP_MARKERS)
    assert run(["<think>a</think>b<|im_end|>"], no_think) == "<think>a</think>b"


def test_custom_markers_with_other_first_characters() -> None:
    patterns = compile_patterns(strip_thinking=True, stop_markers=["[/INST]", "###END", "<|x|>"])
    for pieces in (["a[/INST]b###ENDc<|x|>d[/IN"], list("a[/INST]b###ENDc<|x|>d[/IN")):
        assert run(pieces, patterns) == "abcd[/IN"


@pytest.mark.parametrize("marker", ["x", "", "<|a|>…", "…<|b|>"])
def test_bad_markers_are_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="stop marker"):
        compile_patterns(strip_thinking=False, stop_markers=[marker])


def test_span_closing_marker_may_start_at_most_span_limit_characters_after_the_opening() -> None:
    from coderouter_output_filters.text import SPAN_LIMIT

    inside = "<|channel|>" + "c" * SPAN_LIMIT + "<|message|>A"
    assert run([inside]) == "A"
    assert run(list(inside)) == "A"
    beyond = "<|channel|>" + "c" * (SPAN_LIMIT + 1) + "<|message|>A"
    assert run([beyond]) == "c" * (SPAN_LIMIT + 1) + "A"
    assert run(list(beyond)) == "c" * (SPAN_LIMIT + 1) + "A"
