"""Both upstream clients (``router.http_client``) behave the same end to end: `coderouter serve`
as a process, the openai SDK as the client, fake upstreams as real HTTP servers."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_stream

MESSAGES = [{"role": "user", "content": "hi"}]
CLIENTS = ["builtin", "httpx"]
LOOPBACK = "127.0.0.1,localhost"


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=CLIENTS)
def http_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start(
    router_process: Any,
    http_client: str,
    *providers: tuple[str, Any],
    resume: str = "text",
    **extra: Any,
) -> Any:
    builder = ConfigBuilder()
    for name, where in providers:
        builder.provider(name, where, **extra)
    builder.profile("default", [name for name, _ in providers])
    builder.router(http_client=http_client, resume=resume)
    # A proxy in the test machine's environment must not carry loopback traffic.
    return router_process(builder, env={"NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK})


def test_non_stream_and_stream_round_trip(
    router_process: Any, fake_upstream: FakeUpstream, http_client: str
) -> None:
    fake_upstream.script(
        Answer.json(chat_completion("one")),
        Answer.json(chat_completion("two")),
        Answer.sse(chat_stream(["str", "eam"]), delay_s=0.01),
    )
    proc = start(router_process, http_client, ("up", fake_upstream))
    client = sdk(proc.url)
    ids = set()
    for expected in ("one", "two"):
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == expected
        assert raw.headers["x-coderouter-provider"] == "up"
        ids.add(raw.headers["x-request-id"])
    assert len(ids) == 2 and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "stream"
    sent = fake_upstream.requests
    assert [r.body["stream"] for r in sent[2:]] == [True]
    assert all(r.headers["Content-Type"] == "application/json" for r in sent)
    assert "client-key" not in json.dumps([r.headers for r in sent])


def test_connection_refused_names_the_address_and_moves_on(
    router_process: Any, fake_upstream: FakeUpstream, http_client: str
) -> None:
    fake_upstream.script(Answer.json(chat_completion("ok")))
    port = closed_port()
    proc = start(
        router_process,
        http_client,
        ("down", f"http://127.0.0.1:{port}/v1"),
        ("up", fake_upstream),
    )
    raw = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-coderouter-provider"] == "up"
    fallback = raw.headers["x-coderouter-fallback"]
    assert f"down=failed: connect: cannot connect to 127.0.0.1:{port}" in fallback
    assert "refused" in fallback.lower()


def test_dropped_connection_and_read_timeout_move_on(
    router_process: Any, fake_upstreams: Any, http_client: str
) -> None:
    dropping, slow, good = fake_upstreams(), fake_upstreams(), fake_upstreams()
    dropping.script(Answer.drop())
    slow.script(Answer.hang(5.0))
    good.script(Answer.json(chat_completion("third time")))
    proc = start(
        router_process,
        http_client,
        ("dropping", dropping),
        ("slow", slow),
        ("good", good),
        timeout_s=0.5,
    )
    raw = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "third time"
    steps = raw.headers["x-coderouter-fallback"].split("; ")
    assert steps[0].startswith("dropping=failed: ")
    assert steps[1].startswith("slow=failed: timeout")
    [record] = proc.wait_for_log(1)
    assert [a["provider"] for a in record["attempts"]] == ["dropping", "slow"]


def test_stream_cut_after_commit_is_an_error_event(
    router_process: Any, fake_upstreams: Any, http_client: str
) -> None:
    first, second = fake_upstreams(), fake_upstreams()
    first.script(Answer.sse(chat_stream(["first ", "second ", "third"]), cut_after=3, delay_s=0.01))
    proc = start(router_process, http_client, ("first", first), ("second", second), resume="off")
    with httpx.stream(
        "POST",
        proc.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:
        assert response.status_code == 200
        body = b"".join(response.iter_bytes()).decode()
    data = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert "failed mid-stream" in json.loads(data[-1])["error"]["message"]
    assert second.count == 0
    [record] = proc.wait_for_log(1)
    assert record["status"] == 502


def test_upstream_error_body_reaches_the_client(
    router_process: Any, fake_upstream: FakeUpstream, http_client: str
) -> None:
    fake_upstream.script(Answer.error(400, "messages[0].content is required"))
    proc = start(router_process, http_client, ("up", fake_upstream))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert "messages[0].content is required" in caught.value.message
    assert fake_upstream.count == 1


def test_httpx_client_goes_through_the_environment_proxy(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    # The provider's own address is closed: the answer can only come through the proxy
    # (the fake upstream, which serves the absolute-form request it receives).
    fake_upstream.script(Answer.json(chat_completion("via proxy")))
    port = closed_port()
    builder = (
        ConfigBuilder()
        .provider("behind-proxy", f"http://127.0.0.1:{port}/v1")
        .profile("default", ["behind-proxy"])
        .router(http_client="httpx")
    )
    proxy_env = {"HTTP_PROXY": fake_upstream.url, "NO_PROXY": "", "no_proxy": ""}
    proc = router_process(builder, env=proxy_env)
    completion = sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "via proxy"
    assert fake_upstream.requests[0].headers["Host"] == f"127.0.0.1:{port}"


def test_builtin_client_ignores_the_environment_proxy(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(Answer.json(chat_completion("direct")))
    builder = ConfigBuilder().provider("up", fake_upstream).profile("default", ["up"])
    proc = router_process(builder, env={"HTTP_PROXY": f"http://127.0.0.1:{closed_port()}"})
    completion = sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "direct"
