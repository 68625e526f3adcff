"""Cost of the ``tool_repair`` and ``output_filters`` stream transforms per stream event.

Each scenario is a realistic 200-event answer (message start, a text block streamed in
token-sized pieces, block stop, message delta, message stop) run through fresh transforms many
times; the figure is the median over repetitions of (run time / events), in microseconds.

    python bench/bench_repair_filters.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from coderouter_output_filters import DEFAULT_STOP_MARKERS, OutputFilterTransform, compile_patterns
from coderouter_tool_repair import ToolRepairTransform, ToolSet

from coderouter.wire.model import (
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    TextDelta,
)

EVENTS = 200
TOOLS = ToolSet(
    [
        {
            "name": "read_file",
            "description": "Read a file.",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
        {
            "name": "run_command",
            "description": "Run a command.",
            "input_schema": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    ]
)
PATTERNS = compile_patterns(strip_thinking=True, stop_markers=DEFAULT_STOP_MARKERS)

PROSE = (
    "The failing test comes from the parser: when the input ends with a trailing comma the "
    "tokenizer returns an empty token, and `parse_list()` then indexes past the end. Here is "
    "the fix, which keeps the public API unchanged:\n\n```python\ndef parse_list(tokens):\n"
    '    items = [t for t in tokens if t]\n    return {"items": items, "count": len(items)}\n'
    "```\n\nI also added a regression test in tests/test_parser.py for a < b cases and for the "
    "empty list [] so this stays fixed. Let me know if you want the same change applied to "
    "the streaming parser as well; it has the same shape and the same bug in two places. "
)
THINK = "<think>\nThe user wants a fix. Look at the parser first.\n</think>\n\n"
CALL = json.dumps({"name": "read_file", "arguments": {"path": "src/parser.py", "limit": 200}})
SCENARIOS = {
    "prose + code fence": PROSE + PROSE[:150],
    "think block + markers": THINK + PROSE + "<|im_end|>",
    "prose + tool call": PROSE[:690] + "\n<tool_call>\n" + CALL + "\n</tool_call>",
}
"""About 700 characters each: 195 text deltas of 3 or 4 characters, as local models stream."""


def answer_events(text: str) -> list[Event]:
    """``text`` as a stream of exactly :data:`EVENTS` events (its text cut evenly into
    ``EVENTS - 5`` non-empty pieces)."""
    deltas = EVENTS - 5
    size, extra = divmod(len(text), deltas)
    assert size >= 1
    pieces, at = [], 0
    for i in range(deltas):
        step = size + (1 if i < extra else 0)
        pieces.append(text[at : at + step])
        at += step
    return [
        MessageStart("msg_bench", "bench"),
        BlockStart(0, {"type": "text"}),
        *[TextDelta(0, p) for p in pieces],
        BlockStop(0),
        MessageDelta("end_turn"),
        MessageStop(),
    ]


Factory = Callable[[], list[object]]


def repair() -> list[object]:
    return [ToolRepairTransform(TOOLS, new_id=lambda: "call_bench")]


def filters() -> list[object]:
    return [OutputFilterTransform(PATTERNS, drop_reasoning=True)]


def both() -> list[object]:
    return [*filters(), *repair()]


def per_event_us(factory: Factory, events: list[Event], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        transforms = factory()
        started = time.perf_counter()
        for transform in transforms:
            fed: list[Event] = []
            for event in events:
                fed.extend(transform.feed(event))  # type: ignore[attr-defined]
            fed.extend(transform.flush())  # type: ignore[attr-defined]
            events_out = fed
        samples.append((time.perf_counter() - started) / len(events) * 1e6)
        del events_out
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    factories: dict[str, Factory] = {"tool_repair": repair, "output_filters": filters, "both": both}
    print(f"median µs per stream event ({EVENTS}-event answers, {args.repeat} runs each)")
    print(f"{'scenario':<24}" + "".join(f"{name:>16}" for name in factories))
    worst = 0.0
    for scenario, text in SCENARIOS.items():
        events = answer_events(text)
        assert len(events) == EVENTS
        figures = [per_event_us(f, events, args.repeat) for f in factories.values()]
        worst = max(worst, *figures[:2])
        print(f"{scenario:<24}" + "".join(f"{v:>16.2f}" for v in figures))
    print(f"target: under 5 µs per event per transform; worst: {worst:.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
