"""A lean HTTP/1.1 client for upstream calls: keep-alive pool, chunked and length-delimited
bodies, bounded responses, per-read timeouts and deadlines, TLS.

The response grammar (status line, headers, chunked framing) is llhttp's, the parser under
Node.js, uvicorn and aiohttp, through httptools: what it rejects fails the call as a
:class:`ProtocolError`. On top of it the client refuses what llhttp would read to the close
(a transfer-encoding other than ``chunked``) and a ``101``, and applies :class:`Limits`.

The router sends one kind of request (a JSON ``POST``) to a handful of origins, so it needs
little of a general client. Measured by bench/bench_clients.py, a call costs the worker a
third of the CPU it costs through httpx over aiohttp, and that difference was the larger part
of the router's whole cost per non-stream request. ``router.http_client = "httpx"`` switches
to httpx over aiohttp for what this client does not do.

What it does not do: proxies, HTTP/2, redirects, cookies, compressed bodies other than
gzip/deflate (it never asks for compression), ``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn, cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "ClientError",
    "ConnectError",
    "ConnectTimeout",
    "Endpoint",
    "HeadTimeout",
    "Http1Client",
    "InvalidRequest",
    "Limits",
    "ProtocolError",
    "ReadTimeout",
    "Response",
    "Timeout",
    "TooLarge",
    "TotalTimeout",
    "header_problem",
    "os_reason",
]

MAX_HEAD_BYTES = 64 * 1024
"""The response head, interim responses before it included."""
PAUSE_ABOVE = 1024 * 1024
"""Unread body bytes at which the connection stops reading until the consumer catches up."""

_IDLE, _HEAD, _BODY, _UNTIL_CLOSE = range(4)


class ClientError(Exception):
    """Any failure of an upstream call below HTTP status level."""


class InvalidRequest(ClientError):
    """The request cannot be written: a header value that HTTP/1.1 cannot carry."""


class ConnectError(ClientError):
    """No connection could be made (refused, unreachable, name not found, TLS failed)."""


class Timeout(ClientError):
    """A timeout ran out."""


class ReadTimeout(Timeout):
    """The upstream sent nothing for longer than the read timeout."""


class ConnectTimeout(Timeout):
    """The connection was not made within the connect timeout."""


class HeadTimeout(Timeout):
    """The response head did not arrive within ``first_byte_timeout_s``."""


class TotalTimeout(Timeout):
    """The response did not end within ``total_timeout_s``."""


class ProtocolError(ClientError):
    """The upstream broke HTTP/1.1 or closed the connection before the response ended."""


class TooLarge(ProtocolError):
    """The response went over one of the :class:`Limits`."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class Limits:
    """What one call may take: the response's bytes (each cap is checked as bytes arrive, so
    an oversize response fails before it is held) and the deadlines beyond the read timeout.
    Field names are the provider settings they come from."""

    __slots__ = (
        "first_byte_timeout_s",
        "max_decompressed_bytes",
        "max_response_bytes",
        "max_trailer_bytes",
        "total_timeout_s",
    )

    def __init__(
        self,
        *,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_decompressed_bytes: int = 64 * 1024 * 1024,
        max_trailer_bytes: int = 64 * 1024,
        first_byte_timeout_s: float | None = None,
        total_timeout_s: float | None = None,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        """Body bytes as received (before decompression)."""
        self.max_decompressed_bytes = max_decompressed_bytes
        self.max_trailer_bytes = max_trailer_bytes
        """Chunked framing beyond 64 bytes a chunk: chunk extensions and trailers."""
        self.first_byte_timeout_s = first_byte_timeout_s
        """From the request's write to the end of the final response head."""
        self.total_timeout_s = total_timeout_s
        """From the request's write to the end of the response."""


DEFAULT_LIMITS = Limits()


class _StaleConnection(ProtocolError):
    """A pooled connection found closed before a byte of the request was written to it:
    the request can go on a fresh connection."""


class Endpoint:
    """One upstream URL, parsed once: where to connect and what to put on the request line."""

    __slots__ = ("host", "host_header", "key", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if any(c.isspace() or not c.isprintable() for c in url):
            raise ValueError(f"the URL contains a space or a control character: {url!r}")
        if "@" in parts.netloc:
            raise ValueError(
                "the URL carries user info (user:password@), which is never sent; "
                "put the key in api_key_env or headers"
            )
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.tls else 80
        self.host_header = shown if self.port == default_port else f"{shown}:{self.port}"
        self.key = (self.tls, self.host, self.port)

    def __repr__(self) -> str:
        return f"Endpoint({'https' if self.tls else 'http'}://{self.host_header}{self.path})"


class Response:
    """An upstream response whose head has arrived; the body arrives behind it. Mirrors the
    part of ``httpx.Response`` the router uses."""

    __slots__ = (
        "_chunks",
        "_connection",
        "_done",
        "_error",
        "_unread",
        "_waiter",
        "headers",
        "reason_phrase",
        "status_code",
    )

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        self.status_code = status
        self.reason_phrase = reason
        self.headers = headers
        self._chunks: list[bytes] = []
        self._unread = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._connection: _Connection | None = None

    # --- fed by the connection -----------------------------------------------------------------

    def _feed(self, piece: bytes) -> None:
        self._chunks.append(piece)
        self._unread += len(piece)
        self._wake()

    def _end(self, error: ClientError | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        if error is None:
            self._connection = None  # back in the pool: no longer this response's to resume
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        except BaseException:
            # Cancelled while the body was still arriving: the connection is mid-response.
            self._abandon()
            raise
        finally:
            self._waiter = None

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._unread = 0
        connection = self._connection
        if connection is not None:
            connection.resume()
        return data

    # --- read by the caller --------------------------------------------------------------------

    async def aread(self) -> bytes:
        """The whole body."""
        parts: list[bytes] = []
        while True:
            if self._chunks:
                # Taking as it arrives keeps a large body from pausing the connection.
                parts.append(self._take())
            if self._done:
                break
            await self._wait()
        if self._error is not None:
            raise self._error
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in the pieces it arrives in (joined when the consumer was
        slower than the upstream)."""
        while True:
            if self._chunks:
                yield self._take()
            elif self._done:
                if self._error is not None:
                    raise self._error
                return
            else:
                await self._wait()

    async def aclose(self) -> None:
        """Close the connection unless the whole body has arrived (the connection is then
        back in the pool already)."""
        if not self._done:
            self._abandon()

    def _abandon(self) -> None:
        connection = self._connection
        if connection is not None:
            connection.close()
        self._end(ProtocolError("response closed before its end"))


FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})
"""Headers the client writes itself: one set from settings would contradict them."""


def header_problem(name: str, value: str) -> str:
    """Why ``name: value`` cannot go on an HTTP/1.1 request, or ``""``. Checked on settings
    when they load; :meth:`Http1Client.post` checks each value's two conditions as it writes
    the request (the names it sends come from those settings and from fixed code)."""
    if not name or not all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name):
        return "not a valid header name"
    if name.lower() in FRAMING_HEADERS:
        return (
            "the client sets this header itself (content-length, transfer-encoding, host and "
            "connection cannot be configured)"
        )
    if "\r" in value or "\n" in value:
        return "the value contains a line break"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "the value has characters outside Latin-1"
    return ""


def _decoder(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise ProtocolError(f"unsupported content-encoding {encoding!r}")


class _Trailing(Exception):
    """Bytes followed the end of the response: they stop the parser and close the connection."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: llhttp (through httptools) parses responses as bytes arrive;
    its callbacks hand body pieces to the current :class:`Response` and keep every count that
    a limit applies to."""

    def __init__(self, pool: Http1Client, endpoint: Endpoint) -> None:
        self.pool = pool
        self.key = endpoint.key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.fd = -1
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._state = _IDLE
        self._limits = DEFAULT_LIMITS
        self._keep_alive = True
        self._decoder: Any = None
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._error: BaseException | None = None
        self._interim = False
        self._reason = ""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._body_bytes = 0
        self._decoded_room = 0
        self._framing = 0
        self._chunks = 0
        self._timeout: float | None = None
        self._head_deadline: float | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._paused = False

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state == _IDLE:
            # Bytes nobody asked for: the connection can no longer be trusted.
            self.close()
            return
        self._last_read = self.loop.time()
        body_before = self._body_bytes
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the upstream switched protocols (101) on an API call"))
            return
        except httptools.HttpParserError as exc:
            error, self._error = self._error, None
            if isinstance(error, ClientError):
                self._fail(error)
            elif isinstance(error, _Trailing):
                self.close()
            else:
                self._fail(ProtocolError(f"malformed response: {exc}"))
            return
        if self._state == _HEAD:
            # A head still arriving; llhttp keeps an unfinished header line in memory.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(ProtocolError("response head over 64 KiB"))
        elif state == self._state and state == _BODY:
            # Chunk sizes, extensions and trailers: all that is not body, a little per chunk.
            self._framing += len(data) - (self._body_bytes - body_before)
            if self._framing > self._limits.max_trailer_bytes + 64 * self._chunks:
                limit = self._limits.max_trailer_bytes
                self._fail(TooLarge(f"chunk framing and trailers over {limit} bytes", limit))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        state = self._state
        if state == _IDLE:
            return
        if state == _UNTIL_CLOSE:
            self._finish()
            return
        reason = f": {exc}" if exc else ""
        where = "before the response head" if state == _HEAD else "in the middle of the body"
        self._fail(ProtocolError(f"upstream closed the connection {where}{reason}"))

    # --- llhttp callbacks ----------------------------------------------------------------------

    def _stop(self, error: ClientError) -> NoReturn:
        """Stop the parser from inside a callback; :meth:`data_received` fails the call."""
        self._error = error
        raise error

    def on_message_begin(self) -> None:
        if self._state == _IDLE:
            self._error = _Trailing()
            raise self._error
        self._headers = {}
        self._reason = ""

    def on_status(self, reason: bytes) -> None:
        self._reason += reason.decode("latin-1")  # in pieces when it arrives in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state != _HEAD:
            self._framing += len(name) + len(value)  # a trailer: counted, then dropped
            return
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            self._stop(ProtocolError("response head over 64 KiB"))
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                self._stop(ProtocolError("the upstream switched protocols (101) on an API call"))
            self._interim = True  # an interim response; the real one follows
            return
        headers = self._headers
        limits = self._limits
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            # What else a response may be framed with is read to the close by llhttp, which
            # would take a misframed body for a whole one.
            self._stop(ProtocolError(f"unsupported transfer-encoding {coding[:40]!r}"))
        length = headers.get("content-length")
        if length is not None and int(length) > limits.max_response_bytes:
            self._stop(
                TooLarge(
                    f"content-length {length} is over max_response_bytes "
                    f"({limits.max_response_bytes})",
                    limits.max_response_bytes,
                )
            )
        try:
            self._decoder = _decoder(headers.get("content-encoding", "").strip().lower())
        except ProtocolError as exc:
            self._stop(exc)
        self._decoded_room = limits.max_decompressed_bytes
        self._keep_alive = self._parser.should_keep_alive()
        if coding is None and length is None and status not in (204, 304):
            self._state = _UNTIL_CLOSE
            self._keep_alive = False
        else:
            self._state = _BODY
        self._body_bytes = self._framing = self._chunks = 0
        response = Response(status, self._reason, headers)
        response._connection = self
        self._response = response
        head_waiter = self._head
        self._head = None
        if head_waiter is not None and not head_waiter.done():
            head_waiter.set_result(response)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, piece: bytes) -> None:
        self._body_bytes += len(piece)
        limit = self._limits.max_response_bytes
        if self._body_bytes > limit:
            self._stop(TooLarge(f"response body over max_response_bytes ({limit})", limit))
        decoder = self._decoder
        if decoder is not None:
            room = self._decoded_room
            try:
                # Never more than the room left: a small body can inflate without bound.
                piece = decoder.decompress(piece, room + 1)
            except zlib.error as exc:
                self._stop(ProtocolError(f"cannot decompress the body: {exc}"))
            if len(piece) > room:
                limit = self._limits.max_decompressed_bytes
                self._stop(
                    TooLarge(f"decompressed body over max_decompressed_bytes ({limit})", limit)
                )
            self._decoded_room = room - len(piece)
        response = self._response
        if response is None or not piece:
            return
        response._feed(piece)
        if response._unread > PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._finish()

    # --- one exchange --------------------------------------------------------------------------

    def send(
        self, data: bytes, body: bytes, timeout: float | None, limits: Limits
    ) -> asyncio.Future[Response]:
        """Write the request. Raises :class:`_StaleConnection`, having written nothing, when the
        connection is already closing."""
        transport = self.transport
        assert transport is not None
        if self.closed or transport.is_closing():
            raise _StaleConnection("pooled connection closed")
        self._state = _HEAD
        self._limits = limits
        self._keep_alive = True
        self._decoder = None
        self._response = None
        self._head_bytes = 0
        self._head = self.loop.create_future()
        self._timeout = timeout
        now = self._last_read = self.loop.time()
        head_s, total_s = limits.first_byte_timeout_s, limits.total_timeout_s
        self._head_deadline = now + head_s if head_s is not None else None
        self._deadline = now + total_s if total_s is not None else None
        if timeout is not None or head_s is not None or total_s is not None:
            self._timer = self.loop.call_at(self._next_check(now), self._check_timeout)
        if len(body) < 65536:
            transport.write(data + body)
        else:
            transport.writelines((data, body))
        return self._head

    def resume(self) -> None:
        if self._paused and not self.closed and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool._forget(self)
            self._cancel_timer()
            if self.transport is not None:
                # RuntimeError: its event loop is already closed (a client used across
                # loops, as test clients do), and the loop took the socket with it.
                with contextlib.suppress(RuntimeError):
                    self.transport.close()

    def _next_check(self, now: float) -> float:
        """When the next deadline falls: silence (counted from now while the consumer, not
        the upstream, is behind), the head's, the whole call's."""
        when = float("inf")
        if self._timeout is not None:
            when = (now if self._paused else self._last_read) + self._timeout
        if self._head_deadline is not None and self._state == _HEAD:
            when = min(when, self._head_deadline)
        if self._deadline is not None:
            when = min(when, self._deadline)
        return when

    def _check_timeout(self) -> None:
        self._timer = None
        if self._state == _IDLE:
            return
        now = self.loop.time()
        limits = self._limits
        if self._deadline is not None and now >= self._deadline:
            self._fail(
                TotalTimeout(
                    f"the response did not end within {limits.total_timeout_s:g} s "
                    "(total_timeout_s)"
                )
            )
        elif (
            self._state == _HEAD and self._head_deadline is not None and now >= self._head_deadline
        ):
            self._fail(
                HeadTimeout(
                    f"the response head did not arrive within {limits.first_byte_timeout_s:g} s "
                    "(first_byte_timeout_s)"
                )
            )
        elif (
            self._timeout is not None
            and not self._paused
            and now >= self._last_read + self._timeout
        ):
            self._fail(
                ReadTimeout(f"no data from the upstream for {self._timeout:g} s (timeout_s)")
            )
        else:
            self._timer = self.loop.call_at(self._next_check(now), self._check_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, error: ClientError) -> None:
        state, self._state = self._state, _IDLE
        head, response = self._head, self._response
        self.close()
        if state == _IDLE:
            return
        if head is not None and not head.done():
            head.set_exception(error)
        elif response is not None:
            response._end(error)

    def _finish(self) -> None:
        self._state = _IDLE
        self._cancel_timer()
        response = self._response
        self._response = None
        if self._paused:
            self.resume()
        if not self._keep_alive:
            self.close()
        else:
            self.pool._release(self)
        if response is not None:
            response._end()


def _readable(fd: int) -> bool:
    """Whether an idle connection has something to read: the server's close (or bytes nobody
    asked for) that the event loop has not seen yet. Such a connection is not reused; checked
    before the request is written, since a request once written is never sent again."""
    if fd < 0:
        return False
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def os_reason(exc: OSError) -> str:
    """``Connection refused`` rather than the event loop's wording around it."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        pass
    return context


class Http1Client:
    """A pool of keep-alive connections per origin, for one event loop."""

    def __init__(
        self,
        *,
        keepalive_expiry_s: float = 30.0,
        max_idle_per_origin: int = 256,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``tls_context`` replaces the default one (system CAs, ``SSL_CERT_FILE``, certifi)."""
        self.keepalive_expiry_s = keepalive_expiry_s
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._tls = tls_context

    async def post(
        self,
        endpoint: Endpoint,
        headers: Mapping[str, str],
        body: bytes,
        *,
        timeout: float | None,
        connect_timeout: float | None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> Response:
        """Send ``POST`` with ``body`` and return once the response head has arrived.
        ``timeout``: the longest silence while waiting for the response."""
        lines = [f"POST {endpoint.path} HTTP/1.1\r\nhost: {endpoint.host_header}\r\n"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value:
                raise InvalidRequest(f"header {name!r} has a line break in its value")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"content-length: {len(body)}\r\n\r\n")
        try:
            head = "".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidRequest("a header value has characters outside Latin-1") from None
        connection = await self._acquire(endpoint, connect_timeout)
        try:
            try:
                sent = connection.send(head, body, timeout, limits)
            except _StaleConnection:
                # Nothing was written, so the request goes on a fresh connection. Once a byte
                # is written it never goes again: the upstream may have read it and may bill
                # it, so a connection closed after that is a failure of this call.
                connection.close()
                connection = await self._connect(endpoint, connect_timeout)
                sent = connection.send(head, body, timeout, limits)
            return await sent
        except BaseException:
            connection.close()
            raise

    async def _acquire(self, endpoint: Endpoint, connect_timeout: float | None) -> _Connection:
        idle = self._idle.get(endpoint.key)
        if idle:
            loop = asyncio.get_running_loop()
            now = loop.time()
            while idle:
                connection = idle.pop()
                if (
                    not connection.closed
                    and connection.loop is loop
                    and now - connection.idle_since < self.keepalive_expiry_s
                    and not _readable(connection.fd)
                ):
                    self._busy.add(connection)
                    return connection
                connection.close()
        return await self._connect(endpoint, connect_timeout)

    async def _connect(self, endpoint: Endpoint, connect_timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if endpoint.tls:
            tls = self._tls = self._tls or _tls_context()
        where = f"{endpoint.host}:{endpoint.port}"
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self, endpoint),
                    endpoint.host,
                    endpoint.port,
                    ssl=tls,
                    server_hostname=endpoint.host if tls else None,
                ),
                connect_timeout,
            )
        except TimeoutError:
            within = f" within {connect_timeout:g} s" if connect_timeout is not None else ""
            raise ConnectTimeout(f"cannot connect to {where}: no answer{within}") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS with {where} failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {where}: {os_reason(exc)}") from exc
        self._busy.add(connection)
        return connection

    def _release(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self.max_idle_per_origin:
            connection.close()
            return
        connection.idle_since = connection.loop.time()
        idle.append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    @property
    def open_connections(self) -> int:
        return len(self._busy) + sum(len(idle) for idle in self._idle.values())

    async def aclose(self) -> None:
        """Close every connection, idle or busy; the client stays usable."""
        for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            connection.close()
        self._busy.clear()
        self._idle.clear()
