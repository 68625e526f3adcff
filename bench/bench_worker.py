"""What the slow-client guards of ``coderouter.worker`` cost per request (in process).

Serves keep-alive POST requests through a real uvloop server on 127.0.0.1, with gunicorn's own
HTTP/1 protocol (``gunicorn``) or CodeRouter's :class:`~coderouter.worker.GuardedProtocol`
with its sweep running (``guarded``), to a trivial ASGI app; the client is a raw asyncio
protocol in the same process. Prints CPU per request. On a shared machine compare
instruction counts instead, which do not depend on the neighbours::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python bench/bench_worker.py --protocol gunicorn --requests 3000
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python bench/bench_worker.py --protocol guarded --requests 3000

and subtract a run with ``--requests 0`` (start-up) from each. A fixed hash seed makes the
start-up count repeat to within a few thousand instructions; without one it varies by tens of
millions, more than the difference being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import types
from typing import Any

import uvloop
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.config import Config as GunicornConfig
from gunicorn.glogging import Logger

from coderouter.config import ServerConfig
from coderouter.worker import GuardedProtocol, RouterWorker

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
ANSWER = b'{"ok": true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(ANSWER)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def fake_worker(loop: asyncio.AbstractEventLoop) -> Any:
    """The parts of a gunicorn worker its protocol reads, plus RouterWorker's own."""
    cfg = GunicornConfig()
    cfg.set("keepalive", 5)
    cfg.set("timeout", 120)
    worker = types.SimpleNamespace(
        cfg=cfg,
        log=Logger(cfg),
        asgi=app,
        loop=loop,
        nr_conns=0,
        nr=0,
        max_requests=2**62,
        alive=True,
        server=ServerConfig(),
        watched=set(),
        limits=(0.0, 10.0, 30.0, 5.0, 1.0),
        sweep_every_s=1.0,
    )
    worker.sweep = functools.partial(RouterWorker.sweep, worker)
    return worker


class Client(asyncio.Protocol):
    """Sends one request at a time and the next once the whole answer is in."""

    def __init__(self, requests: int, done: asyncio.Future[None]) -> None:
        self.left = requests
        self.done = done
        self.received = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        if self.left == 0:
            self.transport.close()
            self.done.set_result(None)
            return
        self.left -= 1
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.received.endswith(ANSWER):
            self.received = b""
            self.send_next()


async def run(protocol: str, requests: int) -> float:
    loop = asyncio.get_running_loop()
    worker = fake_worker(loop)
    factory = GuardedProtocol if protocol == "guarded" else ASGIProtocol
    if protocol == "guarded":
        loop.call_later(worker.sweep_every_s, worker.sweep)
    server = await loop.create_server(lambda: factory(worker), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    done: asyncio.Future[None] = loop.create_future()
    started = time.process_time()
    if requests:
        await loop.create_connection(lambda: Client(requests, done), "127.0.0.1", port)
        await done
    spent = time.process_time() - started
    server.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=["gunicorn", "guarded"], default="guarded")
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    spent = uvloop.run(run(args.protocol, args.requests))
    if args.requests:
        print(
            f"{args.protocol}: {args.requests} requests, "
            f"{spent / args.requests * 1e6:.1f} µs CPU per request (client included)"
        )


if __name__ == "__main__":
    main()
