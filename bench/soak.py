"""Soak under faults: many concurrent streams through `coderouter serve` to a first provider
that fails at random and a healthy second one, counting what the clients got and what each
upstream received.

The first provider answers each request with one of: 429, 500, a reset at a random byte of
the stream, a stall past the router's deadlines, an oversize body (``content-length`` of
10 GB, then bytes for as long as the router reads), or a good stream; every few seconds it
also stops listening for a moment (connections refused). The second answers every request
with a good stream. Both are raw asyncio servers in a child process that record the request
id carried in each body, so a request reaching one upstream twice is counted.

Prints client requests, complete answers (the whole text and ``[DONE]``), clean errors (one
error in the OpenAI format), anything else, upstream requests per client request,
duplicates and the worker's peak RSS.

    .venv/bin/python bench/soak.py [--clients 500] [--seconds 120] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from coderouter.testing import free_port

TEXT_CHUNKS = 20
_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)
_ID = re.compile(rb"soak-(\d+)")


# --- the upstreams (child process) --------------------------------------------------------------


def stream_bytes(request_id: str) -> bytes:
    """A good Chat Completions stream, chunked."""
    frames = [
        {"id": request_id, "choices": [{"index": 0, "delta": {"content": f"w{n} "}}]}
        for n in range(TEXT_CHUNKS)
    ]
    frames.append(
        {"id": request_id, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    )
    body = b"".join(b"data: " + json.dumps(f).encode() + b"\n\n" for f in frames)
    body += b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def error_bytes(status: int) -> bytes:
    body = json.dumps({"error": {"message": f"injected {status}", "type": "error"}}).encode()
    head = f"HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\n"
    return head.encode() + b"content-length: %d\r\n\r\n" % len(body) + body


class Recorder:
    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    found = _LENGTH.search(head)
    return head + await reader.readexactly(int(found.group(1)) if found else 0)


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def faulty_answer(
    recorder: Recorder, rng: random.Random, request_id: str, writer: asyncio.StreamWriter
) -> bool:
    """Answer one request with a random fault; False when the connection is done."""
    roll = rng.random()
    good = stream_bytes(request_id)
    if roll < 0.15:
        recorder.faults["429"] += 1
        writer.write(error_bytes(429))
    elif roll < 0.25:
        recorder.faults["500"] += 1
        writer.write(error_bytes(500))
    elif roll < 0.40:
        recorder.faults["reset"] += 1
        writer.write(good[: rng.randrange(1, len(good))])
        await writer.drain()
        reset(writer)
        return False
    elif roll < 0.50:
        recorder.faults["stall"] += 1
        await asyncio.sleep(10)
        return False
    elif roll < 0.52:
        recorder.faults["oversize"] += 1
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        writer.write(head + b"content-length: 10737418240\r\n\r\ndata: {")
        block = b"x" * 65536
        for _ in range(2000):  # until the router gives up on it
            writer.write(block)
            await writer.drain()
        return False
    else:
        recorder.faults["good"] += 1
        writer.write(good)
    await writer.drain()
    return True


async def serve_upstream(port: int, faulty: bool, recorder: Recorder, seed: int) -> None:
    rng = random.Random(seed)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                if request.startswith(b"GET /stats"):
                    body = json.dumps({"ids": recorder.ids, "faults": recorder.faults}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
                    writer.write(body)
                    await writer.drain()
                    continue
                found = _ID.search(request)
                request_id = found.group(1).decode() if found else "?"
                recorder.ids[request_id] += 1
                if not faulty:
                    writer.write(stream_bytes(request_id))
                    await writer.drain()
                elif not await faulty_answer(recorder, rng, request_id, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    while True:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        if not faulty:
            await asyncio.Event().wait()
        await asyncio.sleep(rng.uniform(3, 6))
        server.close()  # refused until it listens again; open connections go on
        await asyncio.sleep(0.3)


def upstreams_main(faulty_port: int, healthy_port: int, seed: int) -> None:
    async def both() -> None:
        await asyncio.gather(
            serve_upstream(faulty_port, True, Recorder(), seed),
            serve_upstream(healthy_port, False, Recorder(), seed),
        )

    asyncio.run(both())


# --- the clients ---------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.complete = 0
        self.clean_errors = 0
        self.other: Counter[str] = Counter()


def classify(status: int, body: bytes) -> str:
    """complete, clean_error or what else it was."""
    if status != 200:
        try:
            error = json.loads(body)["error"]
            return "clean_error" if isinstance(error.get("message"), str) else "bad error body"
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"status {status} without an error body"
    text, done, errors = "", False, 0
    for frame in body.split(b"\n\n"):
        if not frame.startswith(b"data: "):
            continue
        data = frame[6:]
        if data == b"[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            errors += 1
            continue
        for choice in chunk.get("choices") or ():
            text += (choice.get("delta") or {}).get("content") or ""
    expected = "".join(f"w{n} " for n in range(TEXT_CHUNKS))
    if errors == 1:
        return "clean_error"
    if done and text == expected and errors == 0:
        return "complete"
    return f"incomplete stream (done={done}, errors={errors}, {len(text)} chars)"


async def client_loop(
    session: aiohttp.ClientSession, url: str, ids: Any, until: float, tally: Tally
) -> None:
    while time.monotonic() < until:
        request_id = next(ids)
        body = {
            "model": "m",
            "stream": True,
            "messages": [{"role": "user", "content": f"soak-{request_id}"}],
        }
        tally.requests += 1
        try:
            async with session.post(url, json=body) as response:
                data = await response.read()
                verdict = classify(response.status, data)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            verdict = f"client saw {type(exc).__name__}"
        if verdict == "complete":
            tally.complete += 1
        elif verdict == "clean_error":
            tally.clean_errors += 1
        else:
            tally.other[verdict] += 1


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_of(master: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no worker process")


async def stats(port: int) -> dict[str, Any]:
    """What an upstream recorded (retried: the faulty one stops listening now and then)."""
    for _ in range(50):
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/stats") as response,
            ):
                result: dict[str, Any] = await response.json(content_type=None)
                return result
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"no stats from the upstream on port {port}")


async def drive(args: argparse.Namespace, router_port: int, worker: int) -> dict[str, Any]:
    tally = Tally()
    ids = iter(range(10**9))
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(worker))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    connector = aiohttp.TCPConnector(limit=args.clients + 10)
    timeout = aiohttp.ClientTimeout(total=60)
    url = f"http://127.0.0.1:{router_port}/v1/chat/completions"
    until = time.monotonic() + args.seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(client_loop(session, url, ids, until, tally) for _ in range(args.clients))
        )
    stop.set()
    sampler.join()
    return {"tally": tally, "peak_rss_mb": peak[0] / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--upstreams", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.upstreams:
        upstreams_main(*args.upstreams, args.seed)
        return 0
    faulty_port, healthy_port, router_port = free_port(), free_port(), free_port()
    folder = Path(tempfile.mkdtemp(prefix="coderouter-soak-"))
    config = {
        "router": {"default_profile": "default", "log_requests": False},
        "providers": [
            {
                "name": "faulty",
                "base_url": f"http://127.0.0.1:{faulty_port}/v1",
                "timeout_s": 2.0,
                "first_token_timeout_s": 3.0,
                "connect_timeout_s": 1.0,
            },
            {"name": "healthy", "base_url": f"http://127.0.0.1:{healthy_port}/v1"},
        ],
        "profiles": {"default": {"providers": ["faulty", "healthy"]}},
    }
    path = folder / "coderouter.toml"
    path.write_text(tomli_w.dumps(config))
    ports = [str(faulty_port), str(healthy_port)]
    serve = ["--port", str(router_port), "--workers", "1"]
    upstreams = subprocess.Popen(
        [sys.executable, __file__, "--seed", str(args.seed), "--upstreams", *ports]
    )
    router = subprocess.Popen(
        [sys.executable, "-m", "coderouter.cli", "serve", "--config", str(path), *serve],
        stderr=(folder / "router.log").open("w"),
    )
    try:
        time.sleep(2.0)
        worker = worker_of(router.pid)
        result = asyncio.run(drive(args, router_port, worker))
        faulty = asyncio.run(stats(faulty_port))
        healthy = asyncio.run(stats(healthy_port))
    finally:
        router.terminate()
        router.wait(30)
        upstreams.terminate()
        upstreams.wait(5)
    tally: Tally = result["tally"]
    upstream_requests = sum(faulty["ids"].values()) + sum(healthy["ids"].values())
    duplicates = sum(n - 1 for n in faulty["ids"].values() if n > 1) + sum(
        n - 1 for n in healthy["ids"].values() if n > 1
    )
    print(f"clients {args.clients}, {args.seconds:g} s, seed {args.seed}")
    print(f"client requests        {tally.requests}")
    print(f"complete answers       {tally.complete}")
    print(f"clean errors           {tally.clean_errors}")
    print(f"anything else          {sum(tally.other.values())} {dict(tally.other)}")
    print(
        f"upstream requests      {upstream_requests} "
        f"({upstream_requests / max(1, tally.requests):.2f} per client request; "
        f"faulty {sum(faulty['ids'].values())}, healthy {sum(healthy['ids'].values())})"
    )
    print(f"duplicates             {duplicates}")
    print(f"faults injected        {dict(faulty['faults'])}")
    print(f"worker peak RSS        {result['peak_rss_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
