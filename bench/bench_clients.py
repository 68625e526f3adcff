"""The CPU one upstream call costs the caller, by HTTP client: the built-in
:mod:`coderouter.http1` client, httpx over the httpx-aiohttp transport (``router.http_client =
"httpx"``, the router's client with its settings), and aiohttp called directly.

Each client posts the same small chat request to ``fake_upstream.py`` (started here, its own
process) on one keep-alive connection, back to back, on uvloop; the figure is this process's
CPU time (``time.process_time``) over ``--calls`` calls after a warm-up, divided by the calls:
what the call costs the router's worker, the event loop's wake-ups included. Non-stream calls
read the whole body; stream calls read a 50-chunk stream piece by piece.

    .venv/bin/python bench/bench_clients.py [--calls 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

from coderouter import http1
from coderouter.testing import free_port
from coderouter.upstream import UpstreamResponse, make_client


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"fake upstream did not listen on port {port}")


BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
Call = Callable[[], Awaitable[int]]


def headers(stream: bool) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "x-bench-chunks": "50" if stream else "0",
    }


async def consume(response: UpstreamResponse, stream: bool) -> int:
    """Read the body as the router does: whole, or piece by piece for a stream."""
    if not stream:
        return len(await response.aread())
    size = 0
    async for piece in response.aiter_bytes():
        size += len(piece)
    return size


async def builtin_client(url: str, stream: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    client = http1.Http1Client()
    endpoint = http1.Endpoint(url)
    sent = headers(stream)

    async def call() -> int:
        response = await client.post(endpoint, sent, BODY, timeout=60.0, connect_timeout=5.0)
        return await consume(response, stream)

    return call, client.aclose


async def httpx_client(url: str, stream: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import httpx

    client = make_client()
    target = httpx.URL(url)
    sent = headers(stream)

    async def call() -> int:
        request = client.build_request("POST", target, content=BODY, headers=sent)
        response = await client.send(request, stream=True)
        try:
            return await consume(response, stream)
        finally:
            await response.aclose()

    return call, client.aclose


async def aiohttp_client(url: str, stream: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(auto_decompress=False)
    sent = headers(stream)

    async def call() -> int:
        async with session.post(url, data=BODY, headers=sent) as response:
            if not stream:
                return len(await response.read())
            size = 0
            async for piece in response.content.iter_any():
                size += len(piece)
            return size

    return call, session.close


CLIENTS = {"builtin": builtin_client, "httpx": httpx_client, "aiohttp": aiohttp_client}


async def measure(name: str, url: str, stream: bool, calls: int) -> float:
    call, close = await CLIENTS[name](url, stream)
    try:
        for _ in range(max(200, calls // 10)):
            await call()
        started = time.process_time()
        for _ in range(calls):
            await call()
        return (time.process_time() - started) / calls * 1e6
    finally:
        await close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args(argv)
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_upstream.py")), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 10.0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        print(f"CPU per call, µs (best of {args.repeat}; {args.calls} calls each)")
        print(f"{'client':10} {'non-stream':>11} {'50-chunk stream':>16}")
        for name in CLIENTS:
            figures = []
            for stream in (False, True):
                calls = args.calls if not stream else max(500, args.calls // 5)
                runs = [uvloop.run(measure(name, url, stream, calls)) for _ in range(args.repeat)]
                figures.append(min(runs))
            print(f"{name:10} {figures[0]:11.1f} {figures[1]:16.1f}")
    finally:
        upstream.terminate()
        upstream.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
