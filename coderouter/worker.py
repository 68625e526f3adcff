"""The gunicorn worker ``coderouter serve`` runs: gunicorn's ASGI worker with deadlines on slow
clients and a cap on open connections.

Gunicorn's ASGI worker gives a new connection no deadline for its first request head, reads a
body for as long as each piece arrives within ``timeout``, and does not enforce
``worker_connections``. An ASGI wrapper cannot help: the application is called only once a
head is complete. So this worker serves each connection with :class:`GuardedProtocol`, which
notes the phase a connection is in (head, body, idle between requests) on the transitions
gunicorn's protocol already calls, and one sweep per worker, a few times a second, closes the
connections whose phase has lasted too long. A timer per request would cost more than the rest
of this (about 2-3 µs of CPU to arm and cancel one with uvloop), so the keep-alive timer
gunicorn arms after every answer is replaced by the same sweep.

A connection past ``server.max_connections`` is handed to :class:`Refusal`, which answers 503
in the wire format of the requested path and closes it.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi
from gunicorn.workers.gasgi import ASGIWorker

from coderouter.config import ServerConfig, load_config
from coderouter.resources.guard import ingress_of_path
from coderouter.wire import wire_format

__all__ = ["GuardedProtocol", "Refusal", "RouterWorker"]

# The phases a connection's clock runs in; a phase without a clock is OPEN.
OPEN, HEAD, BODY, IDLE, CLOSING = range(5)
CLOSING_GRACE_S = 1.0
"""After a body deadline, how long the application has to write its 408 before the
connection is closed anyway."""
REFUSAL_LINGER_S = 2.0
"""How long a refused connection is read (and the bytes dropped) after its 503, so that
closing it does not reset the connection before the client has read the answer."""


def _names_used(code: Any) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_used(const)
    return names


if "ASGIProtocol" not in _names_used(ASGIWorker._serve.__code__):  # pragma: no cover
    raise ImportError(
        "gunicorn's ASGI worker no longer builds its connections with gasgi.ASGIProtocol; "
        "coderouter.worker needs updating for this gunicorn version"
    )


class GuardedProtocol(ASGIProtocol):  # type: ignore[misc]
    """Gunicorn's HTTP/1 protocol, with its phase recorded for :meth:`RouterWorker.sweep`."""

    worker: RouterWorker

    def connection_made(self, transport: Any) -> None:
        worker = self.worker
        if len(worker.watched) >= worker.server.max_connections:
            transport.set_protocol(Refusal(worker, transport))
            return
        self.phase = HEAD
        self.phase_since: float | None = None
        worker.watched.add(self)
        super().connection_made(transport)

    def _on_headers_complete(self) -> Any:
        self.phase = BODY
        self.phase_since = None
        return super()._on_headers_complete()

    def _on_message_complete(self) -> None:
        self.phase = OPEN
        super()._on_message_complete()

    def _arm_keepalive_timer(self) -> None:
        if self._keepalive > 0 and self.phase == OPEN:
            self.phase = IDLE
            self.phase_since = None

    def _cancel_keepalive_timer(self) -> None:
        if self.phase == IDLE:
            self.phase = OPEN

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = OPEN
        self.worker.watched.discard(self)
        super().connection_lost(exc)

    def overdue(self) -> None:
        """The current phase has lasted its limit."""
        if self.phase == BODY and self._body_receiver is not None:
            # The application reads the body short and answers 408; the connection closes
            # after that answer because its body was never framed whole.
            receiver = self._body_receiver
            receiver._body_wait_expired = True
            receiver._wake_waiter()
            self.phase = CLOSING
            self.phase_since = None
            return
        self.phase = OPEN
        self._close_transport()
        if self._request_ready is not None:
            # Wakes the connection loop waiting for a head, as gunicorn's keep-alive timer does.
            self._request_ready.set()


class Refusal:
    """An asyncio protocol for a connection past ``server.max_connections``: 503 once the
    request line shows which wire format to answer in, then close."""

    def __init__(self, worker: RouterWorker, transport: Any) -> None:
        self.transport = transport
        self.loop = worker.loop
        self.answered = False
        self.max_connections = worker.server.max_connections
        self.timer = self.loop.call_later(worker.server.header_timeout_s, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return
        self.answered = True
        self.transport.write(refusal_response(data, self.max_connections))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.timer.cancel()
        self.timer = self.loop.call_later(REFUSAL_LINGER_S, self.transport.close)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def refusal_response(head: bytes, max_connections: int) -> bytes:
    """The 503 for a refused connection whose first bytes are ``head``."""
    target = head.split(b"\r\n", 1)[0].split(b" ")
    path = target[1].partition(b"?")[0].decode("latin-1") if len(target) > 1 else "/"
    body = json.dumps(
        wire_format(ingress_of_path(path)).error_body(
            "overloaded",
            f"the router is serving its limit of {max_connections} connections "
            "(server.max_connections); retry shortly",
        )
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )


class RouterWorker(ASGIWorker):  # type: ignore[misc]
    """Gunicorn's ASGI worker serving :class:`GuardedProtocol` connections and sweeping them.

    The server settings come from the application ``coderouter serve`` runs (its
    ``router_config``); under plain gunicorn (``contrib/gunicorn.conf.py``) from
    ``load_config()``, as ``coderouter.asgi`` reads them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = getattr(self.app, "router_config", None) or load_config()
        self.server: ServerConfig = config.server
        self.watched: set[GuardedProtocol] = set()
        keepalive = float(self.cfg.keepalive or 0)
        self.limits = (
            0.0,  # OPEN: no clock
            self.server.header_timeout_s,
            self.server.body_timeout_s,
            keepalive if keepalive > 0 else float("inf"),
            CLOSING_GRACE_S,
        )
        # A deadline fires up to one sweep late: a fifth of the shorter one, at most a second.
        shortest = min(self.server.header_timeout_s, self.server.body_timeout_s)
        self.sweep_every_s = min(1.0, max(0.05, shortest / 5))

    def init_process(self) -> None:
        # gunicorn's ASGIWorker._serve builds each connection's protocol from this name (the
        # check at import makes sure it still does); in this worker process it is ours.
        gasgi.ASGIProtocol = GuardedProtocol
        super().init_process()

    async def _serve(self) -> None:
        self.loop.call_later(self.sweep_every_s, self.sweep)
        await super()._serve()

    def sweep(self) -> None:
        """Start the clock of connections that entered a phase since the last sweep; act on
        those whose phase has lasted its limit."""
        # The next sweep first: one failing connection must not end the sweeps.
        self.loop.call_later(self.sweep_every_s, self.sweep)
        now = self.loop.time()
        limits = self.limits
        for connection in tuple(self.watched):
            phase = connection.phase
            if phase == OPEN:
                continue
            since = connection.phase_since
            if since is None:
                connection.phase_since = now
            elif now - since >= limits[phase]:
                connection.overdue()
