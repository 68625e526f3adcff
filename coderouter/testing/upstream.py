"""A scripted fake upstream: a real HTTP server on loopback answering from a queue of
:class:`Answer` s and recording every request it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import attrs
from aiohttp import web

from coderouter.testing.bodies import chat_completion

# --- scripted answers ------------------------------------------------------------------------


@attrs.define
class Answer:
    """One scripted answer.

    ``kind``: ``json`` (``body`` with ``status``), ``sse`` (``frames`` each sent as is, with
    ``delay_s`` before each; ``cut_after`` closes the connection after that many frames),
    ``drop`` (close the connection without answering), ``hang`` (wait ``delay_s`` then answer
    ``body``).
    """

    kind: str = "json"
    status: int = 200
    body: Any = None
    frames: Sequence[bytes | str] = ()
    delay_s: float = 0.0
    first_delay_s: float = 0.0
    cut_after: int | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    content_type: str = ""

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls("json", status=status, body=body, headers=headers or {})

    @classmethod
    def error(
        cls, status: int, message: str = "upstream error", headers: dict[str, str] | None = None
    ) -> Answer:
        return cls(
            "json",
            status=status,
            body={"error": {"message": message, "type": "error", "code": status}},
            headers=headers or {},
        )

    @classmethod
    def sse(
        cls,
        frames: Sequence[bytes | str],
        *,
        delay_s: float = 0.0,
        first_delay_s: float = 0.0,
        cut_after: int | None = None,
        content_type: str = "text/event-stream",
    ) -> Answer:
        return cls(
            "sse",
            frames=frames,
            delay_s=delay_s,
            first_delay_s=first_delay_s,
            cut_after=cut_after,
            content_type=content_type,
        )

    @classmethod
    def drop(cls) -> Answer:
        return cls("drop")

    @classmethod
    def hang(cls, seconds: float, body: Any = None) -> Answer:
        return cls("hang", delay_s=seconds, body=body)


@attrs.define
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> Any:
        return self.body


# --- the fake upstream server ----------------------------------------------------------------


class FakeUpstream:
    """A scriptable HTTP server on 127.0.0.1 in a background thread.

    Answers are taken from the queue set with :meth:`script` (per path or for every path);
    when the queue is empty :attr:`default` answers. Every request is kept in
    :attr:`requests`.
    """

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer.json(chat_completion())
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *answers: Answer, path: str = "*") -> FakeUpstream:
        with self._lock:
            self._queues.setdefault(path, deque()).extend(answers)
        return self

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.body for r in self.requests if path is None or r.path == path]

    @property
    def count(self) -> int:
        return len(self.requests)

    def _next(self, path: str) -> Answer:
        with self._lock:
            for key in (path, "*"):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        return self.default

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.path, dict(request.headers.items()), body))
        answer = self._next(request.path)
        if answer.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        if answer.kind == "hang":
            await asyncio.sleep(answer.delay_s)
            return web.json_response(answer.body or chat_completion())
        if answer.kind == "sse":
            return await self._sse(request, answer)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _sse(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(
            status=answer.status, headers={"content-type": answer.content_type, **answer.headers}
        )
        await response.prepare(request)
        if answer.first_delay_s:
            await asyncio.sleep(answer.first_delay_s)
        for sent, frame in enumerate(answer.frames):
            if answer.cut_after is not None and sent >= answer.cut_after:
                if request.transport is not None:
                    request.transport.abort()
                return response
            if answer.delay_s and sent:
                await asyncio.sleep(answer.delay_s)
            await response.write(frame.encode() if isinstance(frame, str) else frame)
        await response.write_eof()
        return response

    def close(self) -> None:
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with contextlib.suppress(Exception):
                future.result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
