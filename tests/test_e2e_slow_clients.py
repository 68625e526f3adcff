"""Slow and too many clients against `coderouter serve`: a head or a body that stops is cut off
after its deadline, an idle kept-alive connection closes, and connections past
server.max_connections get a clean 503. Raw sockets, because an SDK always finishes its
request."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
HEAD = "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
WAIT_S = 10.0
"""How long a test waits for the router to act; every deadline under test is far shorter."""


def connect(router: Any) -> socket.socket:
    address = urlsplit(router.url)
    conn = socket.create_connection((address.hostname, address.port), timeout=WAIT_S)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the router writes until it closes the connection (a timeout fails the test:
    the router kept the connection open)."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def read_response(conn: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """One whole response off ``conn``: status line, lowercased headers, body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = conn.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    return status, headers, body


def chat_request(body: bytes = json.dumps(CHAT).encode()) -> bytes:
    head = HEAD.format(path="/v1/chat/completions") + f"content-length: {len(body)}\r\n\r\n"
    return head.encode() + body


@pytest.fixture
def start(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    fake_upstream.default = Answer.json(chat_completion("hello"))

    def started(**server: Any) -> Any:
        built = ConfigBuilder().provider("local", fake_upstream, model="qwen")
        return router_process(built.profile("default", ["local"]).server(**server))

    return started


def still_serves(router: Any) -> None:
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused")
    answer = client.chat.completions.create(**CHAT)
    assert answer.choices[0].message.content == "hello"


def test_a_head_that_stops_is_closed_after_header_timeout(start: Any) -> None:
    router = start(header_timeout_s=0.5)
    with connect(router) as conn:
        conn.sendall(HEAD.format(path="/v1/chat/completions").encode())
        assert read_until_closed(conn) == b""
    still_serves(router)


def test_a_connection_that_sends_nothing_is_closed_after_header_timeout(start: Any) -> None:
    router = start(header_timeout_s=0.5)
    with connect(router) as conn:
        assert read_until_closed(conn) == b""
    still_serves(router)


def test_a_body_that_stops_gets_408_in_the_wire_format_and_is_closed(start: Any) -> None:
    router = start(body_timeout_s=0.5)
    with connect(router) as conn:
        head = HEAD.format(path="/v1/messages") + "content-length: 100\r\n\r\n"
        conn.sendall(head.encode() + b'{"model": "m", ')
        status, headers, body = read_response(conn)
        assert status.startswith("HTTP/1.1 408")
        assert headers["connection"] == "close"
        error = json.loads(body)
        assert error["type"] == "error"
        assert "server.body_timeout_s" in error["error"]["message"]
        assert read_until_closed(conn) == b""
    still_serves(router)


def test_an_idle_kept_alive_connection_closes_after_5_s(start: Any) -> None:
    router = start()
    with connect(router) as conn:
        conn.sendall(chat_request())
        status, headers, _ = read_response(conn)
        assert status.startswith("HTTP/1.1 200")
        assert "close" not in headers.get("connection", "")
        assert read_until_closed(conn) == b""


def test_a_kept_alive_connection_serves_its_next_request(start: Any) -> None:
    router = start(header_timeout_s=0.5, body_timeout_s=0.5)
    with connect(router) as conn:
        for _ in range(3):
            conn.sendall(chat_request())
            status, _, body = read_response(conn)
            assert status.startswith("HTTP/1.1 200")
            assert json.loads(body)["choices"][0]["message"]["content"] == "hello"


def test_connections_past_max_connections_get_503_and_close(start: Any) -> None:
    router = start(max_connections=2)
    held = [connect(router), connect(router)]
    for conn in held:
        conn.sendall(chat_request())
        assert read_response(conn)[0].startswith("HTTP/1.1 200")
    with connect(router) as extra:
        head = HEAD.format(path="/v1/messages") + "content-length: 2\r\n\r\n{}"
        extra.sendall(head.encode())
        status, headers, body = read_response(extra)
        assert status.startswith("HTTP/1.1 503")
        assert headers["connection"] == "close"
        error = json.loads(body)
        assert error["error"]["type"] == "overloaded_error"
        assert "server.max_connections" in error["error"]["message"]
        assert read_until_closed(extra) == b""
    for conn in held:
        conn.close()
    client = anthropic.Anthropic(base_url=router.url, api_key="unused")
    answer = client.messages.create(
        model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.content[0].type == "text"
