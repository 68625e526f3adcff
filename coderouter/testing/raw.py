"""A raw-bytes upstream: a TCP server on loopback whose script writes the exact bytes of each
response (malformed heads, hostile framing, closes and resets at chosen points), for testing
what the router does with an upstream that breaks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["RawPeer", "RawUpstream", "raw_response"]

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)


def raw_response(body: bytes = b"{}", *headers: str, status: str = "200 OK") -> bytes:
    """A length-delimited HTTP/1.1 response with ``headers`` (``"name: value"`` each)."""
    head = [f"HTTP/1.1 {status}", *headers, f"content-length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RawPeer:
    """The server side of one accepted connection, for a script to drive: ``record`` is given
    every request read, ``on_eof`` is called when :meth:`until_closed` sees the client's end
    close. :class:`RawUpstream` makes these; a test running its own server in its own loop
    (TLS, say) makes them too."""

    def __init__(
        self,
        record: Callable[[bytes], None],
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        self.record = record
        self.index = index
        """The connection's number, from 0, in the order they were accepted."""
        self.reader = reader
        self.writer = writer
        self.on_eof = on_eof

    async def request(self) -> bytes:
        """Read one whole request (head and content-length body); it is recorded the moment
        it has been read."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        found = _CONTENT_LENGTH.search(head)
        data = head + await self.reader.readexactly(int(found.group(1)) if found else 0)
        self.record(data)
        return data

    async def send(self, *pieces: bytes, gap: float = 0.0) -> None:
        """Write each piece on its own, ``gap`` seconds apart."""
        for n, piece in enumerate(pieces):
            if n and gap:
                await asyncio.sleep(gap)
            self.writer.write(piece)
            await self.writer.drain()

    def reset(self) -> None:
        """Close with a TCP reset instead of an orderly close."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def until_closed(self) -> None:
        """Wait until the client closes its end."""
        while await self.reader.read(65536):
            pass
        if self.on_eof is not None:
            self.on_eof()


Script = Callable[[RawPeer], Awaitable[None]]


def answering(responses: Iterable[bytes]) -> Script:
    """A script that answers the requests of every connection with ``responses`` in turn
    (the last one again once they run out)."""
    answers = list(responses)

    async def script(peer: RawPeer) -> None:
        n = 0
        while True:
            await peer.request()
            await peer.send(answers[min(n, len(answers) - 1)])
            n += 1

    return script


class RawUpstream:
    """A TCP server on 127.0.0.1 in a background thread; each accepted connection runs
    ``script`` (given bytes, it answers every request with them; given a list, the requests of
    each connection with its items in turn). Records every request read
    (:attr:`requests`) and counts connections."""

    def __init__(self, script: Script | bytes | list[bytes]) -> None:
        if isinstance(script, bytes):
            script = [script]
        self.script: Script = answering(script) if isinstance(script, list) else script
        self.requests: list[bytes] = []
        self.connections = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="raw-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("raw upstream did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        return len(self.requests)

    def bodies(self) -> list[Any]:
        """Each recorded request's body, parsed as JSON."""
        return [json.loads(r.partition(b"\r\n\r\n")[2] or b"null") for r in self.requests]

    def _record(self, request: bytes) -> None:
        with self._lock:
            self.requests.append(request)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            index = self.connections
            self.connections += 1
        try:
            await self.script(RawPeer(self._record, index, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away, as it does when it gives up on a hostile answer
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(stop(), self._loop)
            with contextlib.suppress(Exception):
                future.result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> RawUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
