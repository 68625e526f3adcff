"""coderouter.http1 against raw loopback servers that write scripted bytes (so the tests choose
every split, delay and close), under both asyncio's loop and uvloop, the production loop; and
the response parser on its own, fed arbitrary splits of the same bytes."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import ssl
import subprocess
import threading
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from coderouter.http1 import (
    DEFAULT_LIMITS,
    PAUSE_ABOVE,
    ConnectError,
    ConnectTimeout,
    Endpoint,
    HeadTimeout,
    Http1Client,
    InvalidRequest,
    Limits,
    ProtocolError,
    ReadTimeout,
    Response,
    TooLarge,
    TotalTimeout,
    _Connection,
)
from coderouter.testing.raw import RawPeer, raw_response

Runner = Callable[[Coroutine[Any, Any, None]], None]
Script = Callable[[RawPeer], Awaitable[None]]

OK_BODY = b'{"ok":true}'


def reply(body: bytes = OK_BODY, *headers: str, status: str = "200 OK") -> bytes:
    """A length-delimited HTTP/1.1 response (``OK_BODY`` unless told otherwise)."""
    return raw_response(body, *headers, status=status)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Each loop-level test runs on both loops: uvloop's transports differ from asyncio's."""
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[return-value]


# --- a scripted loopback server ----------------------------------------------------------------


class Upstream:
    """``asyncio.start_server`` on a free loopback port; every accepted connection runs
    ``script``. Counts connections and records the requests the scripts read."""

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.saw_eof = asyncio.Event()
        self.errors: list[BaseException] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.errors and exc_info[0] is None:
            raise self.errors[0]

    def endpoint(self, path: str = "/v1/chat?x=1") -> Endpoint:
        return Endpoint(f"http://127.0.0.1:{self.port}{path}")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        peer = RawPeer(
            self.requests.append, self.connections, reader, writer, on_eof=self.saw_eof.set
        )
        self.connections += 1
        try:
            await self.script(peer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away, which several tests do on purpose
        except asyncio.CancelledError:
            pass  # __aexit__ stops the scripts still waiting
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.close()


def answering(response: bytes = b"") -> Script:
    """Answer every request on a connection with ``response`` until the client closes."""
    response = response or reply()

    async def script(peer: RawPeer) -> None:
        while True:
            await peer.request()
            await peer.send(response)

    return script


async def post(
    client: Http1Client,
    upstream: Upstream,
    body: bytes = b"{}",
    *,
    timeout: float = 2.0,
) -> Response:
    return await client.post(
        upstream.endpoint(),
        {"content-type": "application/json"},
        body,
        timeout=timeout,
        connect_timeout=2.0,
    )


async def collect(response: Response) -> list[bytes]:
    return [piece async for piece in response.aiter_bytes()]


# --- Endpoint ----------------------------------------------------------------------------------


def test_endpoint_https_defaults_to_443_and_leaves_the_port_out_of_host() -> None:
    endpoint = Endpoint("https://api.example.com/v1/messages")
    assert (endpoint.tls, endpoint.host, endpoint.port) == (True, "api.example.com", 443)
    assert endpoint.host_header == "api.example.com"
    assert endpoint.path == "/v1/messages"
    assert endpoint.key == (True, "api.example.com", 443)


def test_endpoint_http_with_explicit_port_and_no_path() -> None:
    endpoint = Endpoint("http://localhost:11434")
    assert (endpoint.tls, endpoint.host, endpoint.port) == (False, "localhost", 11434)
    assert endpoint.host_header == "localhost:11434"
    assert endpoint.path == "/"


def test_endpoint_ipv6_literal() -> None:
    endpoint = Endpoint("http://[::1]:8080/v1/x?y=1")
    assert endpoint.host == "::1"
    assert endpoint.port == 8080
    assert endpoint.host_header == "[::1]:8080"
    assert endpoint.path == "/v1/x?y=1"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "localhost:8080/v1", "http:///v1", ""])
def test_endpoint_rejects_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Endpoint(url)


# --- the parser alone, under every split -------------------------------------------------------


class FakeTransport:
    """Just enough of a transport for a ``_Connection`` that is fed bytes by hand."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, lines: Any) -> None:
        self.written.extend(lines)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


Parsed = tuple[int, str, dict[str, str], bytes]


def parse(pieces: list[bytes], *, close_at_end: bool) -> Parsed:
    """Feed ``pieces`` to a fresh connection, one ``data_received`` each."""

    async def main() -> Parsed:
        client = Http1Client()
        connection = _Connection(client, Endpoint("http://upstream.test/v1"))
        connection.connection_made(FakeTransport())  # type: ignore[arg-type]
        head = connection.send(b"POST /v1 HTTP/1.1\r\n\r\n", b"", None, DEFAULT_LIMITS)
        for piece in pieces:
            connection.data_received(piece)
        if close_at_end:
            connection.connection_lost(None)
        response = head.result()
        body = await response.aread()
        return response.status_code, response.reason_phrase, response.headers, body

    return asyncio.run(main())


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@st.composite
def wire_responses(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """(response bytes, the body they carry, whether the body ends at the close)."""
    body = draw(st.binary(max_size=3000))
    encoding = draw(st.sampled_from(["identity", "gzip", "deflate"]))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    payload = {
        "identity": lambda b: b,
        "gzip": lambda b: gzip.compress(b, mtime=0),
        "deflate": zlib.compress,
    }[encoding](body)
    headers = [b"Content-Type: application/json", b"X-Dup: a", b"x-dup: b"]
    if encoding != "identity":
        headers.append(b"Content-Encoding: " + encoding.encode())
    if framing == "length":
        headers.append(b"Content-Length: %d" % len(payload))
        framed = payload
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 700), max_size=8))
        framed, rest = b"", payload
        for size in [*sizes, len(rest)]:
            chunk, rest = rest[:size], rest[size:]
            if not chunk:
                continue
            size_text = b"%x" % len(chunk)
            if draw(st.booleans()):
                size_text = size_text.upper()
            extension = draw(st.sampled_from([b"", b";a=b", b';name="x;y"', b";flag"]))
            framed += size_text + extension + b"\r\n" + chunk + b"\r\n"
        trailers = draw(st.sampled_from([b"", b"X-Trailer: t\r\n", b"A: 1\r\nB: 2\r\n"]))
        framed += b"0" + draw(st.sampled_from([b"", b";last"])) + b"\r\n" + trailers + b"\r\n"
    else:
        framed = payload
    interim = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    head = b"HTTP/1.1 200 OK\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"
    return interim + head + framed, body, framing == "close"


@settings(max_examples=150, deadline=None)
@given(wire_responses(), st.lists(st.integers(min_value=0), max_size=24))
def test_any_split_of_the_response_gives_the_same_result(
    case: tuple[bytes, bytes, bool], cuts: list[int]
) -> None:
    data, body, close_at_end = case
    whole = parse([data], close_at_end=close_at_end)
    assert whole[:2] == (200, "OK")
    assert whole[2]["content-type"] == "application/json"
    assert whole[2]["x-dup"] == "a, b"
    assert whole[3] == body
    assert parse(split_at(data, cuts), close_at_end=close_at_end) == whole


def test_the_head_size_limit_does_not_depend_on_how_the_bytes_arrive() -> None:
    # The limit holds for a head that arrives whole as well as for one still arriving.
    data = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 100_000 + b"\r\ncontent-length: 0\r\n\r\n"
    with pytest.raises(ProtocolError, match="64 KiB"):
        parse([data[:70_000], data[70_000:]], close_at_end=False)
    with pytest.raises(ProtocolError, match="64 KiB"):
        parse([data], close_at_end=False)


# --- framing over real sockets -----------------------------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True], ids=["one-write", "byte-by-byte"])
def test_content_length_body(run: Runner, bytewise: bool) -> None:
    response_bytes = reply(b'{"text":"hello"}', "X-Request-Id: r1")
    pieces = [response_bytes[i : i + 1] for i in range(len(response_bytes))]

    async def script(peer: RawPeer) -> None:
        await peer.request()
        if bytewise:
            await peer.send(*pieces, gap=0.001)
        else:
            await peer.send(response_bytes)
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            assert (response.status_code, response.reason_phrase) == (200, "OK")
            assert response.headers == {"x-request-id": "r1", "content-length": "16"}
            assert await response.aread() == b'{"text":"hello"}'
            assert client.open_connections == 1
            await client.aclose()

    run(main())


def test_chunked_with_extensions_and_trailers_split_awkwardly(run: Runner) -> None:
    tail = b"abcdefghijklmnopqrstuvwxyz"
    pieces = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5;name=value\r\nhel",
        b"lo\r",  # inside the CRLF that ends a chunk
        b"\n1",  # inside the size line
        b'A;q="x"\r',  # inside the CRLF that ends the size line
        b"\n" + tail[:10],
        tail[10:] + b"\r\n0;last\r\nX-Tra",  # inside a trailer
        b"iler: t\r\n\r",
        b"\n",
    ]

    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(*pieces, gap=0.005)
        await peer.request()
        await peer.send(reply())

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            assert response.headers["transfer-encoding"] == "chunked"
            assert b"".join(await collect(response)) == b"hello" + tail
            # The trailers were consumed exactly: the next answer on the connection parses.
            second = await post(client, upstream)
            assert await second.aread() == OK_BODY
            assert upstream.connections == 1
            await client.aclose()

    run(main())


def test_close_delimited_body_ends_at_the_close_and_is_not_pooled(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        if peer.index == 0:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart1,", b"part2")
        else:
            await peer.send(reply())

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            assert await response.aread() == b"part1,part2"
            assert client.open_connections == 0
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 2
            await client.aclose()

    run(main())


@pytest.mark.parametrize(("connection", "pooled"), [("", False), ("Connection: keep-alive", True)])
def test_http10_is_pooled_only_with_keep_alive(run: Runner, connection: str, pooled: bool) -> None:
    head = "HTTP/1.0 200 OK\r\n" + (connection + "\r\n" if connection else "")
    response_bytes = (head + f"content-length: {len(OK_BODY)}\r\n\r\n").encode() + OK_BODY

    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(response_bytes)) as upstream:
            response = await post(client, upstream)
            assert await response.aread() == OK_BODY
            assert client.open_connections == (1 if pooled else 0)
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == (1 if pooled else 2)
            await client.aclose()

    run(main())


@pytest.mark.parametrize("together", [False, True], ids=["separate-writes", "one-write"])
def test_interim_responses_are_skipped(run: Runner, together: bool) -> None:
    pieces = [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        reply(b"final", "X-Final: yes"),
    ]

    async def script(peer: RawPeer) -> None:
        await peer.request()
        if together:
            await peer.send(b"".join(pieces))
        else:
            await peer.send(*pieces, gap=0.01)
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            assert response.status_code == 200
            assert "link" not in response.headers
            assert response.headers["x-final"] == "yes"
            assert await response.aread() == b"final"
            await client.aclose()

    run(main())


def test_204_and_content_length_zero_have_empty_bodies_and_keep_the_connection(
    run: Runner,
) -> None:
    answers = [b"HTTP/1.1 204 No Content\r\nX-N: 1\r\n\r\n", reply(b"", status="202 Accepted")]

    async def script(peer: RawPeer) -> None:
        for answer in [*answers, reply()]:
            await peer.request()
            await peer.send(answer)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            first = await post(client, upstream)
            assert (first.status_code, first.headers) == (204, {"x-n": "1"})
            assert await first.aread() == b""
            second = await post(client, upstream)
            assert (second.status_code, second.reason_phrase) == (202, "Accepted")
            assert await second.aread() == b""
            assert await collect(second) == []
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 1
            await client.aclose()

    run(main())


# --- keep-alive and the pool -------------------------------------------------------------------


def test_keep_alive_reuses_one_connection_and_sends_exact_requests(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering()) as upstream:
            headers = {"authorization": "Bearer k", "anthropic-version": "2023-06-01"}
            for body in (b'{"n":1}', b'{"n":22}'):
                response = await client.post(
                    upstream.endpoint("/v1/messages?beta=true"),
                    headers,
                    body,
                    timeout=2.0,
                    connect_timeout=2.0,
                )
                assert await response.aread() == OK_BODY
            assert upstream.connections == 1
            assert client.open_connections == 1
            expected = [
                (
                    "POST /v1/messages?beta=true HTTP/1.1\r\n"
                    f"host: 127.0.0.1:{upstream.port}\r\n"
                    "authorization: Bearer k\r\n"
                    "anthropic-version: 2023-06-01\r\n"
                    f"content-length: {len(body)}\r\n\r\n"
                ).encode()
                + body
                for body in (b'{"n":1}', b'{"n":22}')
            ]
            assert upstream.requests == expected
            await client.aclose()
            assert client.open_connections == 0

    run(main())


def test_connection_close_from_the_server_means_a_new_connection(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(reply(OK_BODY, "Connection: close"))

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert client.open_connections == 0
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 2
            await client.aclose()

    run(main())


def test_a_request_the_upstream_read_is_never_sent_again(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(reply())
        await peer.request()  # reads the request on the reused connection, then closes

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            assert await (await post(client, upstream)).aread() == OK_BODY
            with pytest.raises(ProtocolError, match="before the response head"):
                await post(client, upstream, b'{"again":1}')
            await asyncio.sleep(0.05)
            assert upstream.connections == 1
            assert len(upstream.requests) == 2
            assert client.open_connections == 0

    run(main())


def test_a_pooled_connection_closing_before_the_write_is_replaced(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering()) as upstream:
            assert await (await post(client, upstream)).aread() == OK_BODY
            # Closing as the next request is sent: the transport is closing, nothing of the
            # request has been written, so it goes on a fresh connection.
            pooled = next(iter(client._idle[upstream.endpoint().key]))
            assert pooled.transport is not None
            pooled.transport.close()
            assert await (await post(client, upstream, b'{"n":2}')).aread() == OK_BODY
            assert upstream.connections == 2
            assert len(upstream.requests) == 2
            await client.aclose()

    run(main())


def test_a_server_closing_the_idle_connection_is_transparent(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(reply(b"%d" % peer.index))
        if peer.index == 0:
            return  # keep-alive answer, then the server drops the idle connection
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            assert await (await post(client, upstream)).aread() == b"0"
            assert await (await post(client, upstream)).aread() == b"1"
            assert upstream.connections == 2
            await client.aclose()

    run(main())


def test_no_retry_once_a_byte_of_the_response_arrived(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(reply())
        await peer.request()
        await peer.send(b"HTTP/1.1 20")

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            assert await (await post(client, upstream)).aread() == OK_BODY
            with pytest.raises(ProtocolError, match="before the response head"):
                await post(client, upstream)
            assert upstream.connections == 1
            assert client.open_connections == 0

    run(main())


def test_idle_connections_are_capped_per_origin(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client(max_idle_per_origin=1)
        async with Upstream(answering()) as upstream:
            first, second = await asyncio.gather(post(client, upstream), post(client, upstream))
            assert [await first.aread(), await second.aread()] == [OK_BODY, OK_BODY]
            assert upstream.connections == 2
            assert client.open_connections == 1
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 2
            await client.aclose()

    run(main())


def test_expired_idle_connections_are_not_reused(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client(keepalive_expiry_s=0.0)
        async with Upstream(answering()) as upstream:
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 2
            await client.aclose()

    run(main())


# --- failures ----------------------------------------------------------------------------------


def test_close_in_the_middle_of_the_body(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n1234")

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            with pytest.raises(ProtocolError, match="middle of the body"):
                await response.aread()
            response = await post(client, upstream)
            pieces: list[bytes] = []
            with pytest.raises(ProtocolError, match="middle of the body"):
                async for piece in response.aiter_bytes():
                    pieces.append(piece)
            assert b"".join(pieces) == b"1234"
            assert client.open_connections == 0

    run(main())


def test_close_before_the_head_on_a_fresh_connection_is_not_retried(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            with pytest.raises(ProtocolError, match="before the response head"):
                await post(client, upstream)
            assert upstream.connections == 1
            assert client.open_connections == 0

    run(main())


def test_read_timeout_when_the_server_never_answers(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ReadTimeout, match=r"0\.2 s"):
                await post(client, upstream, timeout=0.2)
            assert 0.18 <= loop.time() - started < 0.6
            assert client.open_connections == 0
            await asyncio.wait_for(upstream.saw_eof.wait(), 1.0)

    run(main())


def test_read_timeout_after_the_head(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream, timeout=0.2)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ReadTimeout):
                await response.aread()
            assert 0.1 <= loop.time() - started < 0.6
            assert client.open_connections == 0

    run(main())


def test_a_slow_but_steady_stream_does_not_time_out(run: Runner) -> None:
    pieces = [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    pieces += [b"1\r\n%d\r\n" % n for n in range(5)] + [b"0\r\n\r\n"]

    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(*pieces, gap=0.1)
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            loop = asyncio.get_running_loop()
            started = loop.time()
            response = await post(client, upstream, timeout=0.3)
            assert await response.aread() == b"01234"
            # Longer in total than the timeout: the timeout is for inactivity.
            assert loop.time() - started >= 0.45
            await client.aclose()

    run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connect_refused_names_the_address_and_the_reason(run: Runner) -> None:
    port = free_port()

    async def main() -> None:
        client = Http1Client()
        with pytest.raises(ConnectError) as caught:
            await client.post(
                Endpoint(f"http://127.0.0.1:{port}/v1"), {}, b"", timeout=1, connect_timeout=1
            )
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert "refused" in str(caught.value).lower()
        assert client.open_connections == 0

    run(main())


def test_a_header_http_cannot_carry_fails_before_connecting(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(reply())) as upstream:
            for value in ("key\r\nx-injected: 1", "clé €"):
                with pytest.raises(InvalidRequest):
                    await client.post(
                        upstream.endpoint(), {"x-key": value}, b"{}", timeout=1, connect_timeout=1
                    )
            assert upstream.connections == 0
            assert (await (await post(client, upstream)).aread()) == OK_BODY

    run(main())


def test_connect_timeout_when_the_accept_queue_is_full(run: Runner) -> None:
    # A listener that never accepts and whose queue is full drops new SYNs, so connect hangs.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)

        async def main() -> None:
            client = Http1Client()
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ConnectTimeout, match=r"within 0\.2 s"):
                await client.post(
                    Endpoint(f"http://127.0.0.1:{port}/v1"), {}, b"", timeout=1, connect_timeout=0.2
                )
            assert loop.time() - started < 0.6

        try:
            run(main())
        finally:
            for filler in fillers:
                filler.close()


# --- streaming, backpressure, abandoning a response --------------------------------------------


def test_aiter_bytes_yields_pieces_as_they_arrive(run: Runner) -> None:
    async def main() -> None:
        got_first = asyncio.Event()

        async def script(peer: RawPeer) -> None:
            await peer.request()
            await peer.send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\npiece-1\r\n"
            )
            await got_first.wait()
            await peer.send(b"7\r\npiece-2\r\n0\r\n\r\n")
            await peer.until_closed()

        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            pieces = response.aiter_bytes()
            # The server holds piece 2 back until piece 1 is seen here: a client that waited
            # for the end of the body would never get either.
            assert await asyncio.wait_for(anext(pieces), 1.0) == b"piece-1"
            got_first.set()
            assert await asyncio.wait_for(anext(pieces), 1.0) == b"piece-2"
            with pytest.raises(StopAsyncIteration):
                await anext(pieces)
            await client.aclose()

    run(main())


BIG = bytes(range(256)) * (3 * 4096)  # 3 MiB


def test_a_large_body_read_slowly_arrives_intact_and_the_connection_is_reused(
    run: Runner,
) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(reply(BIG))) as upstream:
            response = await post(client, upstream, timeout=0.2)
            # Slower than the read timeout: a paused connection is the consumer's doing.
            await asyncio.sleep(0.3)
            pieces = response.aiter_bytes()
            first = await anext(pieces)
            # Reading stopped a little above PAUSE_ABOVE instead of buffering all 3 MiB.
            assert PAUSE_ABOVE < len(first) < 2 * PAUSE_ABOVE
            rest = []
            async for piece in pieces:
                rest.append(piece)
                await asyncio.sleep(0.001)
            assert first + b"".join(rest) == BIG
            assert b"".join(await collect(await post(client, upstream))) == BIG
            assert upstream.connections == 1
            await client.aclose()

    run(main())


def test_aread_of_a_body_larger_than_the_pause_threshold(run: Runner) -> None:
    # Over PAUSE_ABOVE unread bytes the connection pauses reading; aread() must take the
    # pieces as they come or a large non-stream answer would never finish.
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(reply(BIG))) as upstream:
            response = await post(client, upstream, timeout=0.2)
            assert await asyncio.wait_for(response.aread(), 0.5) == BIG
            await client.aclose()

    run(main())


def test_aclose_on_a_partly_read_response_closes_the_connection(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        if peer.index == 0:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            await peer.until_closed()
        else:
            await peer.send(reply())

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            assert await anext(response.aiter_bytes()) == b"0123456789"
            await response.aclose()
            assert client.open_connections == 0
            await asyncio.wait_for(upstream.saw_eof.wait(), 1.0)
            with pytest.raises(ProtocolError):
                await response.aread()
            assert await (await post(client, upstream)).aread() == OK_BODY
            assert upstream.connections == 2

    run(main())


def test_cancelling_a_task_in_aread_closes_the_connection(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post(client, upstream)
            reading = asyncio.create_task(response.aread())
            await asyncio.sleep(0.02)
            assert not reading.done()
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
            assert client.open_connections == 0
            await asyncio.wait_for(upstream.saw_eof.wait(), 1.0)

    run(main())


# --- content encodings and malformed responses -------------------------------------------------

TEXT = b'{"choices":[{"text":"' + b"compressible " * 200 + b'"}]}'


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [("gzip", gzip.compress(TEXT)), ("deflate", zlib.compress(TEXT))],
)
def test_compressed_bodies_are_decoded(run: Runner, encoding: str, encoded: bytes) -> None:
    pieces = [encoded[i : i + 50] for i in range(0, len(encoded), 50)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = f"HTTP/1.1 200 OK\r\ncontent-encoding: {encoding}\r\n"

    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(reply(encoded, f"Content-Encoding: {encoding.upper()}"))
        await peer.request()
        await peer.send((head + "transfer-encoding: chunked\r\n\r\n").encode(), chunked)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            assert await (await post(client, upstream)).aread() == TEXT
            assert b"".join(await collect(await post(client, upstream))) == TEXT
            assert upstream.connections == 1
            await client.aclose()

    run(main())


def test_an_unsupported_content_encoding_is_a_protocol_error(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(reply(b"\x1b\x00", "Content-Encoding: br"))) as upstream:
            with pytest.raises(ProtocolError, match="'br'"):
                await post(client, upstream)
            assert client.open_connections == 0

    run(main())


def test_a_corrupt_compressed_body_is_a_protocol_error(run: Runner) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(reply(b"not gzip at all", "Content-Encoding: gzip"))) as up:
            with pytest.raises(ProtocolError, match="decompress"):
                await (await post(client, up)).aread()

    run(main())


MALFORMED = {
    "not HTTP": b"HTTX/1.1 200 OK\r\n\r\n",
    "no status": b"HTTP/1.1\r\n\r\n",
    "status 2x0": b"HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n",
    "status 2_00": b"HTTP/1.1 2_00 OK\r\ncontent-length: 0\r\n\r\n",
    "status -1": b"HTTP/1.1 -1 OK\r\ncontent-length: 0\r\n\r\n",
    "status 20": b"HTTP/1.1 20 OK\r\ncontent-length: 0\r\n\r\n",
    "version 1.x": b"HTTP/1.x 200 OK\r\ncontent-length: 0\r\n\r\n",
    "NUL in a value": b"HTTP/1.1 200 OK\r\nx-a: a\x00b\r\ncontent-length: 0\r\n\r\n",
    "empty name": b"HTTP/1.1 200 OK\r\n: v\r\ncontent-length: 0\r\n\r\n",
    "no colon": b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nx-a: a\r\n b\r\ncontent-length: 0\r\n\r\n",
    "bare LF": b"HTTP/1.1 200 OK\ncontent-length: 0\n\n",
    "length ten": b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
    "length -1": b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\nabc",
    "two lengths": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
    "xchunkedx": b"HTTP/1.1 200 OK\r\ntransfer-encoding: xchunkedx\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "chunked, gzip": (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    ),
    "TE and CL": (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n"
        b"2\r\nhi\r\n0\r\n\r\n"
    ),
    "101": b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    "101 bare": b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "chunk size zz": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    "chunk without CRLF": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXY",
    "unknown coding": b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nab",
}
"""Responses llhttp or the client refuse; each fails the call and the connection."""


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_responses_are_protocol_errors(run: Runner, raw: bytes) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(raw)) as upstream:
            with pytest.raises(ProtocolError):
                response = await post(client, upstream)
                await response.aread()
            assert client.open_connections == 0

    run(main())


def test_a_head_over_64_kib_is_a_protocol_error(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n", *[b"x-big: " + b"a" * 1000 + b"\r\n"] * 70)
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            with pytest.raises(ProtocolError, match="64 KiB"):
                await post(client, upstream, timeout=2.0)

    run(main())


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "/usr/bin/openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_with_a_trusted_certificate(
    run: Runner, certificate: tuple[Path, Path], host: str
) -> None:
    async def main() -> None:
        client = Http1Client(tls_context=ssl.create_default_context(cafile=str(certificate[0])))
        async with Upstream(answering(), tls=server_tls(certificate)) as upstream:
            endpoint = Endpoint(f"https://{host}:{upstream.port}/v1/chat")
            for _ in range(2):
                response = await client.post(endpoint, {}, b"{}", timeout=2.0, connect_timeout=2.0)
                assert await response.aread() == OK_BODY
            assert upstream.connections == 1
            assert upstream.requests[0].startswith(
                f"POST /v1/chat HTTP/1.1\r\nhost: {host}:{upstream.port}\r\n".encode()
            )
            await client.aclose()

    run(main())


def test_tls_with_an_untrusted_certificate_is_a_connect_error(
    run: Runner, certificate: tuple[Path, Path]
) -> None:
    async def main() -> None:
        client = Http1Client()
        async with Upstream(answering(), tls=server_tls(certificate)) as upstream:
            endpoint = Endpoint(f"https://localhost:{upstream.port}/v1/chat")
            with pytest.raises(ConnectError, match=f"TLS with localhost:{upstream.port}"):
                await client.post(endpoint, {}, b"{}", timeout=2.0, connect_timeout=2.0)
            assert client.open_connections == 0

    run(main())


# --- one client, two event loops ---------------------------------------------------------------


@contextmanager
def upstream_in_a_thread(script: Script) -> Iterator[Upstream]:
    """An Upstream on its own loop in a thread, so it outlives the test's event loops."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    upstream = asyncio.run_coroutine_threadsafe(Upstream(script).__aenter__(), loop).result(2)
    try:
        yield upstream
    finally:
        asyncio.run_coroutine_threadsafe(upstream.__aexit__(None, None, None), loop).result(2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(2)
        loop.close()


def test_a_connection_pooled_on_one_loop_is_not_used_on_another(run: Runner) -> None:
    # asyncio's transport.close() raises on a closed loop; the client must drop such a
    # connection and open a new one.
    client = Http1Client()
    bodies: list[bytes] = []

    with upstream_in_a_thread(answering()) as upstream:

        async def main() -> None:
            bodies.append(await (await post(client, upstream)).aread())

        run(main())
        assert client.open_connections == 1
        run(main())
        assert bodies == [OK_BODY, OK_BODY]
        assert upstream.connections == 2


# --- limits and deadlines ----------------------------------------------------------------------


async def post_limited(client: Http1Client, upstream: Upstream, limits: Limits) -> Response:
    return await client.post(
        upstream.endpoint(), {}, b"{}", timeout=2.0, connect_timeout=2.0, limits=limits
    )


def test_a_content_length_over_the_cap_fails_at_the_head(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10737418240\r\n\r\n" + b"x" * 1000)
        await peer.until_closed()

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            with pytest.raises(TooLarge, match="content-length 10737418240 is over"):
                await post_limited(client, upstream, Limits(max_response_bytes=1 << 20))

    run(main())


def test_a_body_over_the_cap_fails_once_the_cap_is_passed(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(200):  # 12.8 MB if it kept reading; the cap is 1 MiB
            await peer.send(b"10000\r\n" + b"x" * 65536 + b"\r\n")

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post_limited(client, upstream, Limits(max_response_bytes=1 << 20))
            with pytest.raises(TooLarge, match="max_response_bytes"):
                await response.aread()

    run(main())


def test_a_gzip_bomb_inflates_no_further_than_the_cap(run: Runner) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in about 64 KB

    async def main() -> None:
        client = Http1Client()
        raw = reply(bomb, "content-encoding: gzip")
        async with Upstream(answering(raw)) as upstream:
            response = await post_limited(client, upstream, Limits(max_decompressed_bytes=1 << 20))
            pieces: list[int] = []
            with pytest.raises(TooLarge, match="max_decompressed_bytes"):
                async for piece in response.aiter_bytes():
                    pieces.append(len(piece))
            assert sum(pieces) <= 1 << 20

    run(main())


def test_huge_trailers_fail_at_the_trailer_cap(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n")
        await peer.send(b"x-trailer: ")
        for _ in range(100):  # 6.4 MB of one trailer value if it kept reading
            await peer.send(b"t" * 65536)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post_limited(client, upstream, Limits(max_trailer_bytes=16384))
            with pytest.raises(TooLarge, match="trailers over 16384 bytes"):
                await response.aread()

    run(main())


def test_a_head_dripped_byte_by_byte_fails_at_the_first_byte_deadline(run: Runner) -> None:
    raw = reply()

    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(*[raw[i : i + 1] for i in range(len(raw))], gap=0.05)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            with pytest.raises(HeadTimeout, match=r"within 0.3 s \(first_byte_timeout_s\)"):
                await post_limited(client, upstream, Limits(first_byte_timeout_s=0.3))

    run(main())


def test_endless_interim_responses_fail_at_the_first_byte_deadline(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        for _ in range(100):
            await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            await asyncio.sleep(0.02)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            with pytest.raises(HeadTimeout, match="first_byte_timeout_s"):
                await post_limited(client, upstream, Limits(first_byte_timeout_s=0.3))

    run(main())


def test_a_steady_body_fails_at_the_total_deadline(run: Runner) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(100):
            await peer.send(b"1\r\nx\r\n")
            await asyncio.sleep(0.02)

    async def main() -> None:
        client = Http1Client()
        async with Upstream(script) as upstream:
            response = await post_limited(client, upstream, Limits(total_timeout_s=0.3))
            with pytest.raises(TotalTimeout, match=r"within 0.3 s \(total_timeout_s\)"):
                await response.aread()

    run(main())
