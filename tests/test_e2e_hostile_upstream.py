"""End to end against upstreams that break HTTP: `coderouter serve` as a process, the official
openai SDK as the client, a raw-bytes upstream (:class:`coderouter.testing.RawUpstream`) first
in the chain and a well-behaved fake upstream second."""

from __future__ import annotations

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

OK = raw_response(
    json.dumps(chat_completion("from raw")).encode(), "content-type: application/json"
)


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
