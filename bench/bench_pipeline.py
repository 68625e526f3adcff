"""The stream pipeline in process: a 50-chunk Chat stream through :class:`Pipeline` with the
transforms a router builds for a request that declares tools, same format and translated.

Configurations: ``none`` (no transform), ``tool_repair``, ``output_filters``, ``both``; targets
``chat`` (pass-through) and ``anthropic`` (translated). ``--decode-all`` turns the undecoded
paths off (every frame decoded, transformed and re-encoded), for comparison.

    python bench/bench_pipeline.py [--iterations 2000] [--config both] [--target chat]

Prints the median µs per stream over five rounds. For deterministic figures on a busy
machine count instructions instead: run it under ``valgrind --tool=callgrind`` with two
iteration counts and divide the difference of the totals by the difference of the counts
(startup and imports cancel out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from typing import Any

from coderouter_output_filters import DEFAULT_STOP_MARKERS, OutputFilterTransform, compile_patterns
from coderouter_tool_repair import ToolRepairTransform, ToolSet

from coderouter.streaming import Pipeline
from coderouter.types import StreamTransform
from coderouter.wire import wire_format

CHUNKS = 50
TOOLS = ToolSet(
    [
        {
            "name": "read_file",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        }
    ]
)
WORDS = [
    "The",
    "function",
    "reads",
    "the",
    "file",
    "and",
    "returns",
    "its",
    "lines.",
    "It",
    "handles",
    "errors",
    "too",
]


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "qwen3-coder",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def stream() -> list[bytes]:
    """Token-sized prose pieces, the way local servers stream them (one frame per read)."""
    pieces = [f" {word}" for word in itertools.islice(itertools.cycle(WORDS), CHUNKS)]
    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in pieces]
    frames.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 900, "completion_tokens": CHUNKS, "total_tokens": 950}
    frames.append(
        b'data: {"id":"chatcmpl-bench","choices":[],"usage":%s}\n\n'
        % (json.dumps(usage, separators=(",", ":")).encode())
    )
    return [*frames, b"data: [DONE]\n\n"]


def transforms(config: str) -> list[StreamTransform]:
    found: list[StreamTransform] = []
    if config in ("tool_repair", "both"):
        found.append(ToolRepairTransform(TOOLS))
    if config in ("output_filters", "both"):
        patterns = compile_patterns(strip_thinking=True, stop_markers=list(DEFAULT_STOP_MARKERS))
        found.append(OutputFilterTransform(patterns, drop_reasoning=True))
    return found


def one_stream(frames: list[bytes], config: str, target: str, decode_all: bool) -> int:
    chat = wire_format("openai_chat")
    pipeline = Pipeline(
        source=chat,
        target=wire_format("openai_chat" if target == "chat" else "anthropic"),
        transforms=transforms(config),
        request_body={"stream_options": {"include_usage": True}},
        model="qwen3-coder",
    )
    if decode_all:
        pipeline._passes = None
        pipeline._literal = None
    size = 0
    for frame in frames:
        size += len(pipeline.push(frame))
    return size + len(pipeline.finish())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument(
        "--config", choices=["none", "tool_repair", "output_filters", "both"], default="both"
    )
    parser.add_argument("--target", choices=["chat", "anthropic"], default="chat")
    parser.add_argument("--decode-all", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frames = stream()
    times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.iterations):
            one_stream(frames, args.config, args.target, args.decode_all)
        times.append((time.perf_counter() - started) / args.iterations * 1e6)
    print(
        f"{args.config} -> {args.target}{' (decode all)' if args.decode_all else ''}: "
        f"{statistics.median(times):.1f} µs per {CHUNKS}-chunk stream"
    )


if __name__ == "__main__":
    main()
