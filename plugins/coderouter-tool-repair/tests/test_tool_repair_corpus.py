"""The corpus: every shape of call written as text, and text that only looks like one."""

from __future__ import annotations

from pathlib import Path

import pytest
from coderouter_tool_repair.corpus import Case, evaluate, load_corpus

CORPUS = Path(__file__).parent / "corpus"
CASES = load_corpus(CORPUS)


def test_corpus_is_large_and_covers_every_shape() -> None:
    assert len(CASES) >= 150
    groups = {c.group for c in CASES}
    for shape in (
        "bare_json",
        "aliases",
        "fenced",
        "wrappers",
        "function_forms",
        "shapes",
        "multiple",
        "tricky",
    ):
        assert f"positive_{shape}" in groups
    for reason in (
        "data",
        "code",
        "unknown_tool",
        "malformed",
        "prose",
        "missing_required",
        "no_tools",
    ):
        assert f"negative_{reason}" in groups
    assert sum(1 for c in CASES if not c.calls) >= 50
    assert sum(1 for c in CASES if len(c.calls) > 1) >= 10


def test_precision_is_one_and_recall_at_least_95_percent() -> None:
    report = evaluate(CASES)
    assert report.precision == 1.0
    assert report.recall >= 0.95
    assert report.expected_calls >= 100


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.group}/{c.id}")
def test_case(case: Case) -> None:
    for size in (1, 2, 3, 7):
        [result] = evaluate([case], stream_size=size).results
        assert result.stream_matches, size
        if case.known_gap or not case.calls:
            assert result.calls == []
            assert result.remaining == case.text
        else:
            assert result.calls == case.calls
            if case.remaining is not None:
                assert result.remaining == case.remaining
        assert result.correct
