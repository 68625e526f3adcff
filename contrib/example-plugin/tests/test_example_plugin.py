"""The example plugin, tested the way a third-party plugin tests itself: installed as a
distribution, enabled in TOML, driven through `coderouter serve` with the fixtures that
`coderouter.testing` provides."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def test_header_log_field_and_state(router_process: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(Answer.json(chat_completion("ok")))
    builder = (
        ConfigBuilder()
        .provider("up", fake_upstream)
        .profile("default", ["up"])
        .plugin("example", team="infra")
    )
    proc = router_process(builder)
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-coderouter-team"] == "infra"
    assert proc.wait_for_log(1)[0]["team"] == "infra"
    plugins = httpx.get(proc.url + "/-/plugins").json()
    assert plugins["enabled"][0]["name"] == "example"
    assert plugins["enabled"][0]["distribution"] == "coderouter-example"
    assert plugins["state"]["example"] == {"requests_by_profile": {"default": 1}}


def test_blocked_model_is_rejected_without_upstream(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("up", fake_upstream)
        .profile("default", ["up"])
        .plugin("example", blocked_models=["gpt-4-32k"])
    )
    proc = router_process(builder)
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="blocked by team platform"):
        client.chat.completions.create(model="gpt-4-32k", messages=MESSAGES)
    assert fake_upstream.count == 0


def test_bad_setting_stops_the_server_with_the_key_path(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("up", fake_upstream)
        .profile("default", ["up"])
        .plugin("example", team=["not", "a", "string"])
    )
    with pytest.raises(RuntimeError, match=r"plugins\.example\.team: expected a string"):
        router_process(builder)
