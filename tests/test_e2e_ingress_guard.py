"""Who may talk to `coderouter serve`: ingress keys fail closed, the exposure check at startup,
browser requests (content type, Host), and Falcon's own errors in the client's wire format."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

MESSAGES = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def builder(upstream: FakeUpstream, **server: Any) -> ConfigBuilder:
    built = ConfigBuilder().provider("local", upstream, model="qwen").profile("default", ["local"])
    return built.server(**server) if server else built


@pytest.fixture
def router(router_process: Any, fake_upstream: FakeUpstream) -> Any:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    return router_process(builder(fake_upstream, allowed_hosts=["router.lan"]))


# --- ingress keys -----------------------------------------------------------------------------


def test_api_keys_env_naming_an_unset_variable_refuses_to_start(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(RuntimeError) as failed:
        router_process(builder(fake_upstream, api_keys_env="CODEROUTER_TEST_NO_SUCH_KEYS"))
    assert "server.api_keys_env" in str(failed.value)
    assert "CODEROUTER_TEST_NO_SUCH_KEYS" in str(failed.value)


def test_api_keys_env_naming_an_empty_variable_refuses_to_start(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(RuntimeError) as failed:
        router_process(
            builder(fake_upstream, api_keys_env="CODEROUTER_TEST_KEYS"),
            env={"CODEROUTER_TEST_KEYS": " , "},
        )
    assert "is unset or empty" in str(failed.value)


def test_non_loopback_host_without_keys_refuses_to_start(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(RuntimeError) as failed:
        router_process(builder(fake_upstream, host="0.0.0.0"))
    message = str(failed.value)
    assert "server.host" in message
    assert "server.api_keys_env" in message
    assert "server.allow_unauthenticated" in message


def test_non_loopback_host_starts_when_unauthenticated_is_allowed(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    router = router_process(builder(fake_upstream, host="0.0.0.0", allow_unauthenticated=True))
    answer = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200


def test_non_ascii_api_key_is_a_401_and_the_right_key_passes(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    router = router_process(
        builder(fake_upstream, api_keys_env="CODEROUTER_TEST_KEYS"),
        env={"CODEROUTER_TEST_KEYS": "k-one,k-two"},
    )
    url = router.url + "/v1/messages"
    for key in ("k-onè".encode(), b"\xff\xfe", b"k-one" + "é".encode("latin-1")):
        denied = httpx.post(url, json=MESSAGES, headers={"x-api-key": key})
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"
    bearer = httpx.post(url, json=MESSAGES, headers={"authorization": b"Bearer \xc3\xa9"})
    assert bearer.status_code == 401
    sdk = anthropic.Anthropic(base_url=router.url, api_key="k-two", max_retries=0)
    assert sdk.messages.create(**MESSAGES).content[0].text == "hello"  # type: ignore[union-attr]
    assert len(fake_upstream.requests) == 1


# --- browsers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_ingress_routes_need_a_json_content_type(
    router: Any, fake_upstream: FakeUpstream, content_type: str | None
) -> None:
    import json

    headers = {"content-type": content_type} if content_type else {}
    for path, body in (("/v1/messages", MESSAGES), ("/v1/chat/completions", CHAT)):
        answer = httpx.post(router.url + path, content=json.dumps(body), headers=headers)
        assert answer.status_code == 415
        error = answer.json()["error"]
        assert "application/json" in error["message"]
        if path == "/v1/messages":
            assert answer.json()["type"] == "error"
    assert fake_upstream.requests == []


def test_json_content_type_with_charset_is_served(router: Any) -> None:
    answer = httpx.post(
        router.url + "/v1/chat/completions",
        json=CHAT,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 200


def test_a_rebound_host_name_is_refused_and_loopback_names_are_served(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    url = router.url + "/v1/chat/completions"
    refused = httpx.post(url, json=CHAT, headers={"host": "evil.example"})
    assert refused.status_code == 403
    assert "evil.example" in refused.json()["error"]["message"]
    assert httpx.get(router.url + "/-/plugins", headers={"host": "evil.example"}).status_code == 403
    assert fake_upstream.requests == []
    for host in (f"localhost:{router.port}", f"127.0.0.1:{router.port}", "[::1]", "router.lan"):
        assert httpx.post(url, json=CHAT, headers={"host": host}).status_code == 200, host
    # health checks name whatever address the prober used
    assert httpx.get(router.url + "/healthz", headers={"host": "10.0.0.7"}).status_code == 200


def test_dashboard_works_from_a_loopback_browser_and_not_from_a_rebound_name(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Any
) -> None:
    built = builder(fake_upstream).router(state_dir=str(tmp_path)).plugin("metrics")
    router = router_process(built)
    for host in (f"127.0.0.1:{router.port}", f"localhost:{router.port}"):
        page = httpx.get(router.url + "/dashboard", headers={"host": host})
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert httpx.get(router.url + "/metrics.json", headers={"host": host}).status_code == 200
    rebound = httpx.get(router.url + "/metrics.json", headers={"host": "evil.example:8088"})
    assert rebound.status_code == 403


# --- Falcon's errors in the wire format -------------------------------------------------------


def test_wrong_method_on_an_ingress_route_is_a_405_in_its_wire_format(router: Any) -> None:
    answer = httpx.get(router.url + "/v1/messages")
    assert answer.status_code == 405
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "POST" in answer.headers["allow"]
    chat = httpx.delete(router.url + "/v1/chat/completions")
    assert chat.status_code == 405
    assert "GET is not allowed" not in chat.json()["error"]["message"]
    assert "DELETE is not allowed on /v1/chat/completions" in chat.json()["error"]["message"]


def test_base_url_without_v1_gets_a_404_with_a_hint(router: Any) -> None:
    sdk = openai.OpenAI(base_url=router.url, api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert "did you mean /v1/chat/completions" in str(missing.value)
    assert "missing /v1" in str(missing.value)
    doubled = anthropic.Anthropic(base_url=router.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as twice:
        doubled.messages.create(**MESSAGES)
    assert "did you mean /v1/messages" in str(twice.value)
    assert twice.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_oversize_body_is_a_413_in_the_wire_format_streamed_or_not(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    router = router_process(builder(fake_upstream, max_body_bytes=2048))
    big = {**MESSAGES, "system": "x" * 4096}
    declared = httpx.post(router.url + "/v1/messages", json=big)
    assert declared.status_code == 413
    assert declared.json()["error"]["type"] == "request_too_large"

    def chunks() -> Any:
        import json

        data = json.dumps(big).encode()
        for start in range(0, len(data), 512):
            yield data[start : start + 512]

    chunked = httpx.post(
        router.url + "/v1/chat/completions",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413
    assert "server.max_body_bytes" in chunked.json()["error"]["message"]
    assert fake_upstream.requests == []
