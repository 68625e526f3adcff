"""A lean HTTP/1.1 client for upstream calls: keep-alive pool, chunked and length-delimited
bodies, per-read timeouts, TLS.

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
import re
import select
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = [
    "ClientError",
    "ConnectError",
    "ConnectTimeout",
    "Endpoint",
    "Http1Client",
    "InvalidRequest",
    "ProtocolError",
    "ReadTimeout",
    "Response",
    "Timeout",
    "header_problem",
    "os_reason",
]

MAX_HEAD_BYTES = 64 * 1024
PAUSE_ABOVE = 1024 * 1024
"""Unread body bytes at which the connection stops reading until the consumer catches up."""

_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")

_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE = range(8)


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


class ProtocolError(ClientError):
    """The upstream broke HTTP/1.1 or closed the connection before the response ended."""


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
        self._error: ClientError | None = None
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


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parses responses as bytes arrive and hands body pieces to
    the current :class:`Response`."""

    def __init__(self, pool: Http1Client, endpoint: Endpoint) -> None:
        self.pool = pool
        self.key = endpoint.key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.fd = -1
        self.idle_since = 0.0
        self._buf = bytearray()
        self._state = _IDLE
        self._remaining = 0
        self._keep_alive = True
        self._decoder: Any = None
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._timeout: float | None = None
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
        self._last_read = self.loop.time()
        if self._state == _IDLE:
            # Bytes nobody asked for: the connection can no longer be trusted.
            self.close()
            return
        if self._buf:
            data = bytes(self._buf) + data
            self._buf.clear()
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._fail(exc)

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

    # --- one exchange --------------------------------------------------------------------------

    def send(self, data: bytes, body: bytes, timeout: float | None) -> asyncio.Future[Response]:
        """Write the request. Raises :class:`_StaleConnection`, having written nothing, when the
        connection is already closing."""
        transport = self.transport
        assert transport is not None
        if self.closed or transport.is_closing():
            raise _StaleConnection("pooled connection closed")
        self._state = _HEAD
        self._keep_alive = True
        self._decoder = None
        self._response = None
        self._head = self.loop.create_future()
        self._timeout = timeout
        if timeout is not None:
            self._last_read = self.loop.time()
            self._timer = self.loop.call_at(self._last_read + timeout, self._check_timeout)
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

    def _check_timeout(self) -> None:
        self._timer = None
        timeout = self._timeout
        if self._state == _IDLE or timeout is None:
            return
        now = self.loop.time()
        if self._paused:
            # The consumer is behind, not the upstream.
            self._timer = self.loop.call_at(now + timeout, self._check_timeout)
            return
        deadline = self._last_read + timeout
        if now < deadline:
            self._timer = self.loop.call_at(deadline, self._check_timeout)
            return
        self._fail(ReadTimeout(f"no data from the upstream for {timeout:g} s"))

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

    def _finish(self, *, trailing: bool = False) -> None:
        """The response ended; ``trailing``: bytes followed it that nobody asked for."""
        self._state = _IDLE
        self._cancel_timer()
        response = self._response
        self._response = None
        if self._paused:
            self.resume()
        if trailing or not self._keep_alive:
            self.close()
        else:
            self.pool._release(self)
        if response is not None:
            response._end()

    # --- parsing -------------------------------------------------------------------------------

    def _parse(self, data: bytes) -> None:  # noqa: C901 - one state machine
        """Consume ``data`` by position (no copies but the pieces handed on); what cannot be
        parsed yet waits in ``_buf`` for the next read."""
        pos = 0
        size = len(data)
        while pos < size:
            state = self._state
            if state in (_LENGTH, _CHUNK_DATA):
                take = min(self._remaining, size - pos)
                self._deliver(data if take == size else data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _LENGTH:
                        self._finish(trailing=pos < size)
                        return
                    self._state = _CHUNK_END
            elif state == _CHUNK_SIZE:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > 1024:
                        raise ProtocolError("chunk size line too long")
                    break
                line = data[pos:end]
                if b";" in line:
                    line = line.split(b";", 1)[0]
                line = line.strip()
                if _HEX.fullmatch(line) is None:
                    raise ProtocolError(f"bad chunk size {line[:20]!r}")
                pos = end + 2
                self._remaining = int(line, 16)
                self._state = _CHUNK_DATA if self._remaining else _TRAILERS
            elif state == _CHUNK_END:
                if size - pos < 2:
                    break
                if not data.startswith(b"\r\n", pos):
                    raise ProtocolError("chunk not followed by CRLF")
                pos += 2
                self._state = _CHUNK_SIZE
            elif state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0 and size - pos <= MAX_HEAD_BYTES:
                    break
                if end < 0 or end - pos > MAX_HEAD_BYTES:
                    raise ProtocolError("response head over 64 KiB")
                head = data[pos:end]
                pos = end + 4
                self._on_head(head)
                if self._state == _LENGTH and self._remaining == 0:
                    self._finish(trailing=pos < size)
                    return
            elif state == _TRAILERS:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    break
                last = end == pos
                pos = end + 2
                if last:
                    self._finish(trailing=pos < size)
                    return
            elif state == _UNTIL_CLOSE:
                self._deliver(data[pos:] if pos else data)
                return
            else:
                return
        if pos < size:
            self._buf += memoryview(data)[pos:]

    def _on_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
        try:
            status = int(status_line[1])
        except ValueError:
            raise ProtocolError(f"bad status line {lines[0][:80]!r}") from None
        if 100 <= status < 200:
            return  # an interim response; the real one follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        connection = headers.get("connection", "").lower()
        if status_line[0] == "HTTP/1.0":
            self._keep_alive = "keep-alive" in connection
        else:
            self._keep_alive = "close" not in connection
        self._decoder = _decoder(headers.get("content-encoding", "").strip().lower())
        response = Response(status, status_line[2] if len(status_line) > 2 else "", headers)
        response._connection = self
        self._response = response
        if status in (204, 304):
            self._state = _LENGTH
            self._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif "content-length" in headers:
            length = headers["content-length"]
            if _DIGITS.fullmatch(length) is None:
                raise ProtocolError(f"bad content-length {length[:20]!r}")
            self._remaining = int(length)
            self._state = _LENGTH
        else:
            self._state = _UNTIL_CLOSE
            self._keep_alive = False
        head_waiter = self._head
        self._head = None
        if head_waiter is not None and not head_waiter.done():
            head_waiter.set_result(response)

    def _deliver(self, piece: bytes) -> None:
        if self._decoder is not None:
            try:
                piece = self._decoder.decompress(piece)
            except zlib.error as exc:
                raise ProtocolError(f"cannot decompress the body: {exc}") from None
        response = self._response
        if response is None or not piece:
            return
        response._feed(piece)
        if response._unread > PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()


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
    ) -> Response:
        """Send ``POST`` with ``body`` and return once the response head has arrived."""
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
                sent = connection.send(head, body, timeout)
            except _StaleConnection:
                # Nothing was written, so the request goes on a fresh connection. Once a byte
                # is written it never goes again: the upstream may have read it and may bill
                # it, so a connection closed after that is a failure of this call.
                connection.close()
                connection = await self._connect(endpoint, connect_timeout)
                sent = connection.send(head, body, timeout)
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
