"""Scoring the repair against a corpus of answers with known calls.

A corpus is a folder of ``*.jsonl`` files (one case per line: ``id``, ``tools``, ``text``,
``calls`` and optionally ``remaining``, the text expected after the calls are removed, and
``known_gap``, true for calls in a format the repair does not recover: they count against
recall and must come out as untouched text) and a ``toolsets.json`` mapping the names used in
``tools`` to tool lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from coderouter_tool_repair.calls import Call
from coderouter_tool_repair.repair import repair_text

__all__ = ["Case", "CaseResult", "Report", "evaluate", "load_corpus", "stream_pieces"]


@attrs.frozen
class Case:
    id: str
    group: str
    tools: list[dict[str, Any]]
    text: str
    calls: list[Call]
    remaining: str | None
    known_gap: bool = False


@attrs.frozen
class CaseResult:
    case: Case
    calls: list[Call]
    remaining: str
    streamed_calls: list[Call]
    streamed_remaining: str

    @property
    def true_positives(self) -> int:
        return (
            sum(1 for a, b in zip(self.calls, self.case.calls, strict=False) if a == b)
            if self.calls == self.case.calls
            else 0
        )

    @property
    def false_positives(self) -> int:
        return 0 if self.calls == self.case.calls else len(self.calls)

    @property
    def correct(self) -> bool:
        """As expected: the calls recovered, or for a known gap nothing touched."""
        if self.case.known_gap:
            return not self.calls and self.remaining == self.case.text
        remaining_ok = self.case.remaining is None or self.remaining == self.case.remaining
        return self.calls == self.case.calls and remaining_ok

    @property
    def stream_matches(self) -> bool:
        return (self.streamed_calls, self.streamed_remaining) == (self.calls, self.remaining)


@attrs.frozen
class Report:
    results: list[CaseResult]

    @property
    def expected_calls(self) -> int:
        return sum(len(r.case.calls) for r in self.results)

    @property
    def recovered_calls(self) -> int:
        return sum(len(r.calls) for r in self.results)

    @property
    def true_positives(self) -> int:
        return sum(r.true_positives for r in self.results)

    @property
    def precision(self) -> float:
        return self.true_positives / self.recovered_calls if self.recovered_calls else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected_calls if self.expected_calls else 1.0

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.correct or not r.stream_matches]

    def by_group(self) -> dict[str, tuple[int, int]]:
        """``group -> (correct cases, cases)``."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.results:
            ok, total = out.get(r.case.group, (0, 0))
            out[r.case.group] = (ok + int(r.correct), total + 1)
        return out


def load_corpus(folder: str | Path) -> list[Case]:
    folder = Path(folder)
    toolsets = json.loads((folder / "toolsets.json").read_text(encoding="utf-8"))
    cases = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            tools = raw["tools"]
            cases.append(
                Case(
                    id=raw["id"],
                    group=path.stem,
                    tools=toolsets[tools] if isinstance(tools, str) else tools,
                    text=raw["text"],
                    calls=[Call(c["name"], c.get("arguments", {})) for c in raw["calls"]],
                    remaining=raw.get("remaining"),
                    known_gap=raw.get("known_gap", False),
                )
            )
    return cases


def stream_pieces(text: str, size: int = 3) -> list[str]:
    """``text`` cut into pieces of ``size`` characters, as a stream would deliver it."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def evaluate(cases: Iterable[Case], *, stream_size: int = 3) -> Report:
    results = []
    for case in cases:
        remaining, calls = repair_text(case.text, case.tools)
        s_remaining, s_calls = repair_text(stream_pieces(case.text, stream_size), case.tools)
        results.append(CaseResult(case, calls, remaining, s_calls, s_remaining))
    return Report(results)
