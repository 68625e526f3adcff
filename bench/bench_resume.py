"""What resume costs a stream that never breaks: the router's CPU per stream with
``router.resume`` off, ``text`` (the sent bytes kept, error events held back) and ``all``
(tool calls held until complete, too).

Each stream is a 40-event answer (text, then a tool call) through
:class:`~coderouter.streaming.Pipeline` one frame per chunk, as the router's relay loop does:
relayed Anthropic -> Anthropic and Responses -> Responses, and translated from a Chat
Completions upstream to Anthropic (Claude Code) and to Responses (codex).

Run: ``.venv/bin/python bench/bench_resume.py [--runs N]``. Target: at most 50 µs per stream
over ``off``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from coderouter.resume import SentLog, ToolHolder
from coderouter.streaming import Pipeline
from coderouter.testing import anthropic_stream, chat_stream, responses_stream
from coderouter.wire import wire_format

ANTHROPIC = wire_format("anthropic")
CHAT = wire_format("openai_chat")
RESPONSES = wire_format("openai_responses")
TOOL = [{"name": "Read", "input": {"path": "coderouter/config.py", "limit": 120}}]


def answers() -> dict[str, tuple[Any, Any, list[bytes]]]:
    """name -> (upstream format, client format, upstream frames)."""
    text = [f"word{i} " for i in range(33)]
    call = [{"name": "Read", "arguments": TOOL[0]["input"]}]
    anthropic = [f.encode() for f in anthropic_stream(text, tool_uses=TOOL)]
    chat = [f.encode() for f in chat_stream(text, tool_calls=call)]
    responses = [f.encode() for f in responses_stream(text[:27], tool_calls=call)]
    return {
        "anthropic -> anthropic (relay)": (ANTHROPIC, ANTHROPIC, anthropic),
        "chat -> anthropic (translated)": (CHAT, ANTHROPIC, chat),
        "responses -> responses (relay)": (RESPONSES, RESPONSES, responses),
        "chat -> responses (translated)": (CHAT, RESPONSES, chat),
    }


def one_stream(source: Any, target: Any, frames: list[bytes], mode: str) -> int:
    pipeline = Pipeline(
        source=source,
        target=target,
        transforms=[],
        request_body={"model": "m"},
        model="m",
        holder=ToolHolder() if mode == "all" else None,
    )
    sent = SentLog() if mode != "off" else None
    pipeline.hold_errors = mode != "off"
    size = 0
    for chunk in frames:
        data = pipeline.push(chunk)
        if data:
            if sent is not None:
                sent.add(data)
            size += len(data)
    tail = pipeline.finish()
    if tail and sent is not None:
        sent.add(tail)
    return size + len(tail)


MODES = ("off", "text", "all")


def measure(source: Any, target: Any, frames: list[bytes], runs: int) -> dict[str, float]:
    """Median CPU µs per stream for each mode over ``runs`` batches of 200 streams, the modes
    interleaved batch by batch so a busy machine slows them alike."""
    per_stream: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(runs):
        for mode in MODES:
            start = time.process_time_ns()
            for _ in range(200):
                one_stream(source, target, frames, mode)
            per_stream[mode].append((time.process_time_ns() - start) / 200 / 1000)
    return {m: statistics.median(v) for m, v in per_stream.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, (source, target, frames) in answers().items():
        sizes = {one_stream(source, target, frames, m) for m in MODES}
        assert len(sizes) == 1, f"{name}: the client bytes differ between modes"
        measure(source, target, frames, 1)
        results[name] = measure(source, target, frames, args.runs)
    head = ("stream (40 events)", "off µs", "text µs", "all µs", "+text", "+all")
    print(f"{head[0]:34} {head[1]:>9} {head[2]:>9} {head[3]:>9} {head[4]:>7} {head[5]:>7}")
    for name, r in results.items():
        print(
            f"{name:34} {r['off']:9.1f} {r['text']:9.1f} {r['all']:9.1f} "
            f"{r['text'] - r['off']:+7.1f} {r['all'] - r['off']:+7.1f}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
