"""Per-backend knobs (``extra_body``, ``append_system_prompt``, profile ``timeout_s``) and the
config checks that catch a setup that cannot work, through ``coderouter serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from coderouter.cli import main
from coderouter.config import ConfigError
from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, anthropic_message

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


def test_extra_body_is_deep_merged_into_the_upstream_body(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    extra = {
        "options": {"num_ctx": 8192, "top_k": 20},
        "keep_alive": "30m",
        "stream_options": {"continuous_usage_stats": True},
    }
    builder = ConfigBuilder().provider("ollama", fake_upstream, model="qwen3:8b", extra_body=extra)
    proc = router_process(builder.profile("default", ["ollama"]))
    client = anthropic.Anthropic(base_url=proc.url, api_key="x", max_retries=0)
    with client.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
        stream.get_final_message()
    body = fake_upstream.requests[0].body
    assert body["options"] == {"num_ctx": 8192, "top_k": 20}
    assert body["keep_alive"] == "30m"
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert body["model"] == "qwen3:8b"


def test_append_system_prompt_of_profile_and_provider(
    router_process: Any, fake_upstreams: Any
) -> None:
    chat, claude = fake_upstreams(), fake_upstreams(Answer.json(anthropic_message("ok")))
    builder = (
        ConfigBuilder()
        .provider("qwen", chat, append_system_prompt="/no_think")
        .provider("claude", claude, kind="anthropic")
        .profile("default", ["qwen"], append_system_prompt="Be brief.")
        .profile("cloud", ["claude"], append_system_prompt="Be brief.")
    )
    proc = router_process(builder)
    sdk(proc.url).chat.completions.create(
        model="m", messages=[{"role": "system", "content": "You code."}, *MESSAGES]
    )
    messages = chat.requests[0].body["messages"]
    assert messages[0] == {"role": "system", "content": "You code.\n\nBe brief.\n\n/no_think"}
    assert [m["role"] for m in messages] == ["system", "user"]
    client = anthropic.Anthropic(base_url=proc.url, api_key="x", max_retries=0)
    client.messages.create(
        model="cloud",
        max_tokens=50,
        system=[{"type": "text", "text": "You code."}],
        messages=MESSAGES,
    )
    assert claude.requests[0].body["system"] == [
        {"type": "text", "text": "You code."},
        {"type": "text", "text": "Be brief."},
    ]


def test_profile_timeout_overrides_the_providers(router_process: Any, fake_upstreams: Any) -> None:
    slow, spare = fake_upstreams(Answer.hang(2.0)), fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("slow", slow, timeout_s=60)
        .provider("spare", spare)
        .profile("default", ["slow", "spare"], timeout_s=0.3)
    )
    proc = router_process(builder)
    response = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert response.headers["x-coderouter-provider"] == "spare"
    assert "slow=failed: timeout" in response.headers["x-coderouter-fallback"]


def test_port_outside_the_range_is_a_config_error() -> None:
    builder = ConfigBuilder().provider("a", "http://127.0.0.1:9/v1").profile("default", ["a"])
    with pytest.raises(ConfigError, match=r"server\.port: must be between 1 and 65535, got 0"):
        builder.server(port=0).build()


def test_allow_paid_0_forces_paid_off(router_process: Any, fake_upstreams: Any) -> None:
    paid, free = fake_upstreams(), fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("paid", paid, paid=True)
        .provider("free", free)
        .profile("default", ["paid", "free"], allow_paid=True)
        .router(allow_paid=True)
    )
    proc = router_process(builder, env={"CODEROUTER_ALLOW_PAID": "0"})
    response = sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert response.headers["x-coderouter-provider"] == "free"
    assert paid.count == 0


def test_unset_key_of_a_remote_provider_stops_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CR_TEST_REMOTE_KEY", raising=False)
    path = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1", api_key_env="CR_TEST_REMOTE_KEY")
        .provider("cloud", "https://api.example.com/v1", api_key_env="CR_TEST_REMOTE_KEY")
        .profile("default", ["local", "cloud"])
        .write(tmp_path)
    )
    assert main(["serve", "--config", str(path), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "providers[1].api_key_env: CR_TEST_REMOTE_KEY is not set" in err
    assert "providers[0]" not in err
    assert main(["serve", "--config", str(path), "--port", "70000"]) == 2
    assert "--port: must be between 1 and 65535" in capsys.readouterr().err
