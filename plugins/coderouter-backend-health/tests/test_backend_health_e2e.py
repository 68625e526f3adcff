"""End to end: ``coderouter serve`` with the plugin enabled, the openai SDK as the client and
fake upstreams that fail; what reached each upstream, the fallback header, the 502 summary,
the request log and ``GET /-/plugins``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion, chat_headers

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)


def ask(client: openai.OpenAI, stream: bool = False) -> tuple[str, str]:
    """(provider, fallback header) of one request."""
    headers = chat_headers(client, stream=stream)
    return headers["x-coderouter-provider"], headers.get("x-coderouter-fallback", "")


@pytest.fixture
def pair(fake_upstreams: Any) -> tuple[FakeUpstream, FakeUpstream]:
    return fake_upstreams(Answer.error(500, "boom")), fake_upstreams()


def config(a: FakeUpstream, b: FakeUpstream, **settings: Any) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("a", a)
        .provider("b", b)
        .profile("default", ["a", "b"])
        .profile("solo", ["a"])
        .plugin("backend_health", **settings)
    )


def test_skip_breaks_the_circuit_and_a_trial_closes_it(
    router_process: Any, pair: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = pair
    # half_open_s is short only so that this test can see the trial; the fake-clock tests
    # cover the default.
    proc = router_process(config(a, b, action="skip", threshold=1, half_open_s=1.0))
    client = sdk(proc.url)
    assert ask(client)[0] == "b"
    assert ask(client, stream=True)[0] == "b"
    provider, fallback = ask(client)
    assert provider == "b" and a.count == 2
    assert fallback.startswith(
        "a=skipped: unhealthy, circuit open: 2 consecutive failures (last: HTTP 500: boom)"
    )
    log = proc.wait_for_log(3)
    assert log[2]["provider"] == "b"
    assert log[2]["attempts"][0]["provider"] == "a"
    assert log[2]["attempts"][0]["outcome"] == "skipped"
    assert log[2]["attempts"][0]["reason"].startswith("unhealthy, circuit open")
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["backend_health"]
    assert state["providers"]["a"]["state"] == "unhealthy"
    assert state["providers"]["a"]["circuit"] == "open"
    assert state["providers"]["b"]["state"] == "healthy"

    a.default = Answer.json(chat_completion("a is back"))
    time.sleep(1.1)
    assert ask(client) == ("a", "")
    assert ask(client) == ("a", "")
    assert a.count == 4
    guards = [
        (g.get("from"), g.get("to")) for g in proc.wait_for_log(4, event="guard") if "to" in g
    ]
    assert guards == [("healthy", "degraded"), ("degraded", "unhealthy"), ("unhealthy", "healthy")]
    state = httpx.get(proc.url + "/-/plugins").json()["state"]["backend_health"]
    assert state["providers"]["a"]["state"] == "healthy"


def test_skip_names_the_open_circuit_in_the_502(
    router_process: Any, pair: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = pair
    proc = router_process(config(a, b, action="skip", threshold=1))
    client = sdk(proc.url)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="solo", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="solo", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "a skipped (unhealthy, circuit open: 2 consecutive failures" in info.value.message
    assert info.value.response.headers["x-coderouter-fallback"].startswith(
        "a=skipped: unhealthy, circuit open"
    )
    assert a.count == 2 and b.count == 0
    last = proc.wait_for_log(3)[2]
    assert last["status"] == 502
    assert [s["outcome"] for s in last["attempts"]] == ["skipped"]


def test_demote_moves_the_unhealthy_provider_behind_the_others(
    router_process: Any, pair: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = pair
    proc = router_process(config(a, b, action="demote", threshold=1))
    client = sdk(proc.url)
    ask(client)
    ask(client)
    provider, fallback = ask(client, stream=True)
    assert provider == "b"
    assert fallback == "a=moved: unhealthy: 2 consecutive failures (last: HTTP 500: boom)"
    assert a.count == 2 and b.count == 3


def test_warn_only_logs(router_process: Any, pair: tuple[FakeUpstream, FakeUpstream]) -> None:
    a, b = pair
    proc = router_process(config(a, b, threshold=1))
    client = sdk(proc.url)
    for _ in range(3):
        assert ask(client) == ("b", "a=failed: HTTP 500: boom")
    assert a.count == 3
    guards = proc.wait_for_log(2, event="guard")
    assert [(g["provider"], g["from"], g["to"], g["action"]) for g in guards] == [
        ("a", "healthy", "degraded", "warn"),
        ("a", "degraded", "unhealthy", "warn"),
    ]


def test_demotion_shows_in_the_request_log_and_the_502(
    router_process: Any, pair: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = pair
    b.script(
        Answer.json(chat_completion()), Answer.json(chat_completion()), Answer.error(503, "busy")
    )
    proc = router_process(config(a, b, action="demote", threshold=1))
    client = sdk(proc.url)
    ask(client)
    ask(client)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.response.headers["x-coderouter-fallback"].startswith("b=failed")
    assert "unhealthy: 2 consecutive failures" in info.value.message
    assert "unhealthy: 2 consecutive failures" in str(proc.wait_for_log(3)[2])
