"""End to end against upstreams that break HTTP: `coderouter serve` as a process, the official
openai SDK as the client, a raw-bytes upstream (:class:`coderouter.testing.RawUpstream`) first
in the chain and a well-behaved fake upstream second."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai

from coderouter.testing import (
    ConfigBuilder,
    FakeUpstream,
    RawPeer,
    RawUpstream,
    chat_completion,
    raw_response,
)

JSON = "content-type: application/json"
CLOSE = "connection: close"
OK = raw_response(json.dumps(chat_completion("from raw")).encode(), JSON)


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def ask(url: str, text: str) -> Any:
    return sdk(url).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": text}]
    )


def chain(raw: RawUpstream, healthy: FakeUpstream, **settings: Any) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("raw", raw, **settings)
        .provider("healthy", healthy)
        .profile("default", ["raw", "healthy"])
    )


def test_a_request_the_upstream_read_reaches_it_once(
    router_process: Any, raw_upstreams: Any, fake_upstream: FakeUpstream
) -> None:
    async def answer_one_then_read_and_close(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()  # on the kept-alive connection: read, then close unanswered

    raw = raw_upstreams(answer_one_then_read_and_close)
    proc = router_process(chain(raw, fake_upstream))
    providers = [ask(proc.url, f"request {n}").headers["x-coderouter-provider"] for n in range(30)]
    texts = [body["messages"][0]["content"] for body in raw.bodies()]
    assert sorted(texts) == sorted(set(texts))  # no request reached the raw upstream twice
    assert providers.count("raw") == 15
    assert providers.count("healthy") == 15
    assert len(texts) == 30


def failover_log(proc: Any, count: int) -> list[dict[str, Any]]:
    lines = proc.wait_for_log(count)
    assert len(lines) == count
    return lines


def reason_of(line: dict[str, Any]) -> str:
    [step] = [s for s in line["attempts"] if s["provider"] == "raw"]
    return str(step["reason"])


def mistyped(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A Chat answer with one field of the wrong type."""
    answer: dict[str, Any] = chat_completion("from raw")
    answer["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    *parents, last = path
    node: Any = answer
    for key in parents:
        node = node[key]
    node[last] = value
    return answer


MISTYPED_ANSWERS = [
    mistyped(("usage", "prompt_tokens"), [1]),
    mistyped(("usage",), "many"),
    mistyped(("choices", 0, "message"), "x"),
    mistyped(
        ("choices", 0, "message"),
        {"role": "assistant", "content": None, "tool_calls": [{"function": 7}]},
    ),
]

HOSTILE_HEADS = [
    b"HTTP/1.1 2_00 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 -1 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 20 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.x 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nx-a: a\x00b\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\n: v\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nx-a: a\r\n b\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: xchunkedx\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 7\r\n\r\n"
    b"2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 10737418240\r\n\r\n" + b"x" * 65536,
    raw_response(b'{"type":"message","content":[],"role":"assistant"}', JSON, CLOSE),
    raw_response(b'{"choices":["x"]}', JSON, CLOSE),
    raw_response(b'{"choices":' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, CLOSE),
    *(raw_response(json.dumps(body).encode(), JSON, CLOSE) for body in MISTYPED_ANSWERS),
]


def test_each_hostile_answer_is_a_bad_response_and_the_chain_moves_on(
    router_process: Any, raw_upstreams: Any, fake_upstream: FakeUpstream
) -> None:
    async def one_hostile_answer_per_connection(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(HOSTILE_HEADS[peer.index % len(HOSTILE_HEADS)])

    raw = raw_upstreams(one_hostile_answer_per_connection)
    proc = router_process(chain(raw, fake_upstream, max_response_bytes=1 << 20))
    for n in range(len(HOSTILE_HEADS)):
        answer = ask(proc.url, f"request {n}")
        assert answer.status_code == 200
        assert answer.headers["x-coderouter-provider"] == "healthy"
    assert raw.count == len(HOSTILE_HEADS)
    for line in failover_log(proc, len(HOSTILE_HEADS)):
        assert reason_of(line).startswith("bad_response: "), line


def sse_head() -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_text(url: str) -> str:
    stream = sdk(url).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_an_event_over_the_sse_cap_fails_over_before_commit(
    router_process: Any, raw_upstreams: Any, fake_upstream: FakeUpstream
) -> None:
    async def huge_event(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(sse_head(), chunk(b"data: {"))
        for _ in range(64):  # 4 MiB if read to the end; the cap is 64 KiB
            await peer.send(chunk(b"x" * 65536))
        await peer.until_closed()

    raw = raw_upstreams(huge_event)
    proc = router_process(chain(raw, fake_upstream, max_sse_event_bytes=65536))
    assert stream_text(proc.url)
    [line] = failover_log(proc, 1)
    assert "max_sse_event_bytes" in reason_of(line)


def test_keepalive_comments_only_fail_over_at_the_first_token_deadline(
    router_process: Any, raw_upstreams: Any, fake_upstream: FakeUpstream
) -> None:
    async def keepalives(peer: RawPeer) -> None:
        await peer.request()
        await peer.send(sse_head())
        for _ in range(200):
            await peer.send(chunk(b": keepalive\n\n"))
            await asyncio.sleep(0.05)

    raw = raw_upstreams(keepalives)
    proc = router_process(chain(raw, fake_upstream, first_token_timeout_s=0.5))
    assert stream_text(proc.url)
    [line] = failover_log(proc, 1)
    assert "first_token_timeout_s" in reason_of(line)


def test_a_profile_overrides_the_provider_deadline(
    router_process: Any, raw_upstreams: Any, fake_upstream: FakeUpstream
) -> None:
    async def drip(peer: RawPeer) -> None:
        await peer.request()
        for byte in OK:
            await peer.send(bytes([byte]))
            await asyncio.sleep(0.05)

    raw = raw_upstreams(drip)
    builder = chain(raw, fake_upstream, first_byte_timeout_s=30)
    builder.data["profiles"]["default"]["first_byte_timeout_s"] = 0.4
    proc = router_process(builder)
    assert ask(proc.url, "hi").headers["x-coderouter-provider"] == "healthy"
    [line] = failover_log(proc, 1)
    assert "within 0.4 s (first_byte_timeout_s)" in reason_of(line)
