"""Notice clients that go away in the middle of a stream.

Once a client disconnects, an ASGI ``send`` quietly does nothing, so a relay would keep reading
(and paying for) an upstream stream nobody reads. This wrapper listens for
``http.disconnect`` while a streaming response is being sent and sets an event the router
checks between chunks; the router then closes the upstream stream and logs status 499.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["SCOPE_KEY", "watch_disconnects"]

SCOPE_KEY = "coderouter.disconnected"

Scope = dict[str, Any]
Message = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _is_stream_start(message: Message) -> bool:
    if message.get("type") != "http.response.start":
        return False
    for name, value in message.get("headers") or ():
        if name.lower() == b"content-type":
            return bool(value.startswith(b"text/event-stream"))
    return False


def watch_disconnects(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        gone = asyncio.Event()
        scope[SCOPE_KEY] = gone
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    gone.set()
                    return

        async def send_watching(message: Message) -> None:
            nonlocal watcher
            if watcher is None and _is_stream_start(message):
                watcher = asyncio.get_running_loop().create_task(watch())
            await send(message)

        try:
            await app(scope, receive, send_watching)
        finally:
            if watcher is not None:
                watcher.cancel()

    return wrapped
