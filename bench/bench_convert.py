"""Wire-conversion cost per request: what the router adds on top of the upstream's own time.

Measures, on the largest recorded Claude Code request (padded to at least 100 KB):

* request: Anthropic body -> internal model -> OpenAI Chat body -> JSON bytes;
* stream: a 50-chunk OpenAI Chat stream parsed, decoded and re-encoded as Anthropic SSE;
* total: both, as one cross-format streaming turn costs;
* passthrough: the same-format path (Anthropic body -> Anthropic body -> JSON bytes), for
  comparison.

Run: ``.venv/bin/python bench/bench_convert.py [--runs N]``. Target: total median under 2 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coderouter.sse import SSEParser
from coderouter.wire.anthropic import FORMAT as ANTHROPIC
from coderouter.wire.base import PassthroughEdits
from coderouter.wire.openai_chat import FORMAT as OPENAI
from coderouter.wire.tokens import estimate_request_tokens

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "clients"
TARGET_BYTES = 100_000
STREAM_CHUNKS = 50
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def largest_claude_code_body() -> tuple[str, dict[str, Any]]:
    best: tuple[int, str, dict[str, Any]] = (0, "", {})
    for path in sorted(FIXTURES.glob("claude_code_*.json")):
        body = json.loads(path.read_text())["body"]
        size = len(_dumps(body))
        if size > best[0]:
            best = (size, path.stem, body)
    name, body = best[1], best[2]
    missing = TARGET_BYTES - len(_dumps(body))
    if missing > 0:
        body["messages"][0]["content"].append({"type": "text", "text": "x" * missing})
    return name, body


def openai_stream(chunks: int) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return (
            "data: "
            + _dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "qwen3-coder",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )
            + "\n\n"
        )

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": f"token{i} "}) for i in range(chunks - 6)]
    parts.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": ""},
                    }
                ]
            }
        )
    )
    for piece in ('{"command": "ls', ' -la", "desc', 'ription": "list"}'):
        parts.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    parts.append(chunk({}, "tool_calls"))
    parts.append(
        "data: "
        + _dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "qwen3-coder",
                "choices": [],
                "usage": {"prompt_tokens": 25000, "completion_tokens": 80},
            }
        )
        + "\n\n"
    )
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def convert_request(body: dict[str, Any]) -> bytes:
    request = ANTHROPIC.decode_request(body)
    return _dumps(OPENAI.encode_request(request, model="qwen3-coder", stream=True)).encode()


def convert_stream(data: bytes, frames_per_read: int = 3) -> bytes:
    """The stream arrives in network reads of a few frames each, as it does in practice."""
    parser = SSEParser()
    decoder = OPENAI.stream_decoder()
    encoder = ANTHROPIC.stream_encoder(model="my-router/qwen3-coder", request_body={})
    reads = data.split(b"\n\n")
    out: list[bytes] = []
    for start in range(0, len(reads), frames_per_read):
        piece = b"\n\n".join(reads[start : start + frames_per_read]) + b"\n\n"
        for frame in parser.feed(piece):
            out.append(encoder.encode(decoder.feed(frame)))
    out.append(encoder.encode(decoder.finish()))
    return b"".join(out)


def passthrough(body: dict[str, Any]) -> bytes:
    out = ANTHROPIC.passthrough_request(
        body, PassthroughEdits(model="claude-sonnet-4-5", stream=True, notes=[], max_tokens=None)
    )
    return _dumps(out).encode()


def measure(fn: Callable[[], object], runs: int) -> list[float]:
    for _ in range(min(50, runs)):
        fn()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def report(label: str, timings: list[float]) -> float:
    median = statistics.median(timings)
    p90 = statistics.quantiles(timings, n=10)[-1]
    print(f"  {label:<36} median {median:7.3f} ms   p90 {p90:7.3f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()

    name, body = largest_claude_code_body()
    raw = _dumps(body).encode()
    stream = openai_stream(STREAM_CHUNKS)
    converted = convert_stream(stream)
    print(
        f"request: {name}, {len(raw) / 1000:.1f} KB, {len(body['tools'])} tools, "
        f"~{estimate_request_tokens(ANTHROPIC.decode_request(body))} tokens"
    )
    print(
        f"stream: {STREAM_CHUNKS} OpenAI chunks, {len(stream)} bytes in, "
        f"{len(converted)} bytes of Anthropic SSE out"
    )
    print(f"runs: {args.runs}")

    report("json.loads of the client body", measure(lambda: json.loads(raw), args.runs))
    report("request Anthropic -> OpenAI + dumps", measure(lambda: convert_request(body), args.runs))
    report("stream OpenAI -> Anthropic SSE", measure(lambda: convert_stream(stream), args.runs))
    total = report(
        "total (request + stream)",
        measure(lambda: (convert_request(body), convert_stream(stream)), args.runs),
    )
    report("passthrough Anthropic + dumps", measure(lambda: passthrough(body), args.runs))
    report(
        "token estimate",
        measure(lambda: estimate_request_tokens(ANTHROPIC.decode_request(body)), args.runs),
    )
    print(f"target: total median under 2 ms -> {'ok' if total < 2.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
