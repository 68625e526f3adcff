"""A fast fake OpenAI Chat Completions upstream for benchmarks.

A raw :class:`asyncio.Protocol` HTTP/1.1 server with keep-alive (on uvloop when it is
installed), so that the upstream's own cost stays far below the router's. It answers
``POST .../chat/completions``:

* without ``"stream": true``: one fixed small JSON completion;
* with ``"stream": true``: an SSE stream of N content chunks (header ``x-bench-chunks``, else
  ``--chunks``), then a finish chunk, a usage chunk and ``data: [DONE]``. With
  ``x-bench-delay-ms: D`` (else ``--delay-ms``) the frames are written D ms apart, one
  frame per write; without a delay the whole stream goes out in one write.

``GET /healthz`` answers 200. Every response body is built once and cached.

    python bench/fake_upstream.py --port 9000 [--chunks 50] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

MODEL = "bench-model"
CHUNK_ID = "chatcmpl-bench0000000000000000"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def completion_body() -> bytes:
    return _dumps(
        {
            "id": CHUNK_ID,
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33},
        }
    ).encode()


def stream_frames(chunks: int) -> list[bytes]:
    """The SSE frames of one stream: ``chunks`` content deltas, finish, usage, ``[DONE]``."""

    def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload = {
            "id": CHUNK_ID,
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": MODEL,
            "choices": choices,
            **extra,
        }
        return b"data: " + _dumps(payload).encode() + b"\n\n"

    frames = []
    for i in range(chunks):
        delta: dict[str, Any] = {"content": f"tok{i} "}
        if i == 0:
            delta = {"role": "assistant", "content": "tok0 "}
        frames.append(frame([{"index": 0, "delta": delta, "finish_reason": None}]))
    frames.append(frame([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    frames.append(
        frame(
            [],
            usage={"prompt_tokens": 24, "completion_tokens": chunks, "total_tokens": 24 + chunks},
        )
    )
    frames.append(b"data: [DONE]\n\n")
    return frames


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


JSON_BODY = completion_body()
JSON_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%b" % (len(JSON_BODY), JSON_BODY)
)
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
CHUNKED_END = b"0\r\n\r\n"
OK_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"

_stream_cache: dict[int, tuple[bytes, list[bytes]]] = {}


def stream_parts(chunks: int) -> tuple[bytes, list[bytes]]:
    """(the whole response in one piece, its HTTP chunks one per frame)."""
    cached = _stream_cache.get(chunks)
    if cached is None:
        parts = [_chunked(f) for f in stream_frames(chunks)]
        cached = (SSE_HEAD + b"".join(parts) + CHUNKED_END, parts)
        _stream_cache[chunks] = cached
    return cached


def _header(head: bytes, name: bytes) -> bytes | None:
    """Value of header ``name`` (lower case, with the leading CRLF) in a lower-cased head."""
    at = head.find(name)
    if at < 0:
        return None
    start = at + len(name)
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else None].strip()


class Settings:
    def __init__(self, chunks: int, delay_ms: float, coalesce: bool = False) -> None:
        self.chunks = chunks
        self.delay_ms = delay_ms
        self.coalesce = coalesce


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection. Requests are answered in order; a paced stream holds the
    connection until its last frame (as a real upstream does)."""

    __slots__ = ("buffer", "busy", "loop", "settings", "timer", "transport")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.busy:
            buffer = self.buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self._fail()
                return
            head = buffer[:end].lower()
            length_value = _header(head, b"\r\ncontent-length:")
            try:
                length = int(length_value) if length_value is not None else 0
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY or b"\r\ntransfer-encoding:" in head:
                self._fail()
                return
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = buffer[end + 4 : total]
            self.buffer = buffer[total:]
            self._answer(head, body)

    def _fail(self) -> None:
        assert self.transport is not None
        self.transport.write(BAD_REQUEST)
        self.transport.close()

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        line_end = head.find(b"\r\n")
        request_line = head[: line_end if line_end >= 0 else None]
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"post" and path.endswith(b"/chat/completions"):
            if b'"stream":true' in body or b'"stream": true' in body:
                self._stream(head)
            else:
                self.transport.write(JSON_RESPONSE)
        elif path.endswith(b"/healthz"):
            self.transport.write(OK_RESPONSE)
        else:
            self.transport.write(NOT_FOUND)
        if _header(head, b"\r\nconnection:") == b"close":
            self.transport.close()

    def _stream(self, head: bytes) -> None:
        assert self.transport is not None
        chunks = self.settings.chunks
        delay_ms = self.settings.delay_ms
        value = _header(head, b"\r\nx-bench-chunks:")
        if value:
            chunks = int(value)
        value = _header(head, b"\r\nx-bench-delay-ms:")
        if value:
            delay_ms = float(value)
        whole, parts = stream_parts(chunks)
        if delay_ms <= 0:
            if self.settings.coalesce:
                self.transport.write(whole)
                return
            write = self.transport.write
            write(SSE_HEAD + parts[0])
            for part in parts[1:-1]:
                write(part)
            write(parts[-1] + CHUNKED_END)
            return
        self.busy = True
        self.transport.write(SSE_HEAD + parts[0])
        self._schedule(parts, 1, delay_ms / 1000.0)

    def _schedule(self, parts: list[bytes], index: int, delay_s: float) -> None:
        self.timer = self.loop.call_later(delay_s, self._next_frame, parts, index, delay_s)

    def _next_frame(self, parts: list[bytes], index: int, delay_s: float) -> None:
        self.timer = None
        if self.transport is None:
            return
        if index < len(parts) - 1:
            self.transport.write(parts[index])
            self._schedule(parts, index + 1, delay_s)
            return
        self.transport.write(parts[index] + CHUNKED_END)
        self.busy = False
        if self.buffer:
            self._process()


async def serve(host: str, port: int, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: UpstreamProtocol(settings), host, port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake upstream on http://{host}:{port} (pid {os.getpid()})", file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--chunks",
        type=int,
        default=50,
        help="content chunks per stream when x-bench-chunks is absent",
    )
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="delay between frames when x-bench-delay-ms is absent",
    )
    parser.add_argument(
        "--coalesce",
        action="store_true",
        help="without a delay, send a whole stream in one write instead of one write per frame",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    args = parser.parse_args(argv)
    settings = Settings(args.chunks, args.delay_ms, args.coalesce)
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(serve(args.host, args.port, settings))
            return 0
    asyncio.run(serve(args.host, args.port, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
