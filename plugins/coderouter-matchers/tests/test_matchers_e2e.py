"""End to end: ``coderouter serve`` with the matchers plugin, fake upstreams, the openai SDK.

Each profile has its own upstream, so which upstream received a request shows which rule chose
its profile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_image_question,
    chat_completion,
    chat_image_question,
    chat_stream,
)

DATA = Path(__file__).parent / "data"
PNG = "data:image/png;base64,iVBORw0KGgo="
RULES = [
    {"name": "images", "profile": "vision", "match": {"has_image": True}},
    {"name": "haiku", "profile": "small", "match": {"model_pattern": "claude-haiku-.*"}},
    {
        "name": "infra-team",
        "profile": "infra",
        "match": {"header": {"name": "x-team", "equals": "infra"}},
    },
    {"name": "long", "profile": "long", "match": {"content_token_count_min": 16000}},
]


def sdk(url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key="k", max_retries=0, default_headers=headers or None
    )


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def upstreams(fake_upstreams: Any) -> dict[str, FakeUpstream]:
    names = ("general", "vision", "small", "infra", "long")
    return {name: fake_upstreams(Answer.json(chat_completion(f"from {name}"))) for name in names}


@pytest.fixture
def proc(router_process: Any, upstreams: dict[str, FakeUpstream]) -> Any:
    builder = ConfigBuilder()
    for name, upstream in upstreams.items():
        builder.provider(name, upstream, model=f"{name}-model")
    builder.profile("default", ["general"])
    for name in ("vision", "small", "infra", "long"):
        builder.profile(name, [name])
    builder.plugin("matchers", default="default", rules=RULES)
    return router_process(builder)


def counts(upstreams: dict[str, FakeUpstream]) -> dict[str, int]:
    return {name: u.count for name, u in upstreams.items() if u.count}


def test_each_rule_sends_its_requests_to_its_profile(
    proc: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    client = sdk(proc.url)
    image = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=chat_image_question(PNG, "what is on screen?"),
    )
    assert image.parse().choices[0].message.content == "from vision"
    assert image.headers["x-coderouter-profile"] == "vision"
    assert image.headers["x-coderouter-rule"] == "images"
    assert counts(upstreams) == {"vision": 1}

    haiku = client.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=ask("title this chat")
    )
    assert haiku.headers["x-coderouter-rule"] == "haiku"
    assert upstreams["small"].requests[0].body["model"] == "small-model"

    infra = sdk(proc.url, **{"X-Team": "infra"}).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=ask("restart the cluster")
    )
    assert infra.headers["x-coderouter-rule"] == "infra-team"
    assert upstreams["infra"].count == 1

    long_text = "def handler(event):\n    return process(event)\n" * 2000
    long = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ask(long_text))
    assert long.headers["x-coderouter-rule"] == "long"
    assert upstreams["long"].requests[0].body["messages"][0]["content"] == long_text

    plain = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ask("hello"))
    assert plain.headers["x-coderouter-profile"] == "default"
    assert "x-coderouter-rule" not in plain.headers
    assert counts(upstreams) == {"general": 1, "vision": 1, "small": 1, "infra": 1, "long": 1}

    lines = proc.wait_for_log(5)
    assert [(line["profile"], line.get("matched_rule")) for line in lines] == [
        ("vision", "images"),
        ("small", "haiku"),
        ("infra", "infra-team"),
        ("long", "long"),
        ("default", None),
    ]


def test_a_profile_named_by_the_client_wins_over_the_rules(
    proc: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    client = sdk(proc.url, **{"X-CodeRouter-Profile": "default"})
    raw = client.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=ask("hi")
    )
    assert raw.headers["x-coderouter-profile"] == "default"
    assert "x-coderouter-rule" not in raw.headers
    assert counts(upstreams) == {"general": 1}


def test_streamed_answers_carry_the_rule_header(
    proc: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    upstreams["small"].script(Answer.sse(chat_stream(["str", "eamed"])))
    with httpx.stream(
        "POST",
        proc.url + "/v1/chat/completions",
        json={"model": "claude-haiku-4-5", "messages": ask("hi"), "stream": True},
    ) as response:
        body = response.read().decode()
        assert response.headers["x-coderouter-rule"] == "haiku"
    assert "eamed" in body
    assert upstreams["small"].requests[0].body["stream"] is True
    assert proc.wait_for_log(1)[0]["matched_rule"] == "haiku"


def test_a_rule_naming_an_unknown_profile_stops_the_server(
    router_process: Any, fake_upstream: FakeUpstream
) -> None:
    builder = (
        ConfigBuilder()
        .provider("general", fake_upstream)
        .profile("default", ["general"])
        .plugin(
            "matchers",
            rules=[{"name": "images", "profile": "vision", "match": {"has_image": True}}],
        )
    )
    with pytest.raises(RuntimeError) as info:
        router_process(builder)
    message = str(info.value)
    assert "coderouter serve exited" in message
    assert (
        "plugins.matchers.rules[0] ('images').profile: unknown profile 'vision' (known: default)"
    ) in message
    assert fake_upstream.count == 0


# --- the Anthropic Messages ingress ---------------------------------------------------------


def claude_code_turn() -> tuple[dict[str, Any], dict[str, str]]:
    recorded = json.loads((DATA / "claude_code_main_turn0.json").read_text(encoding="utf-8"))
    keep = ("anthropic-version", "anthropic-beta", "user-agent", "x-app")
    headers = {k: v for k, v in recorded["headers"].items() if k.lower() in keep}
    return recorded["body"], headers


def test_claude_code_turns_follow_the_same_rules(
    proc: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    body, headers = claude_code_turn()
    upstreams["small"].script(Answer.sse(chat_stream(["short"])))
    upstreams["long"].script(Answer.sse(chat_stream(["long"])))
    haiku = httpx.post(
        proc.url + "/v1/messages?beta=true",
        headers=headers,
        timeout=30,
        json={**body, "model": "claude-haiku-4-5"},
    )
    assert haiku.status_code == 200
    assert haiku.headers["x-coderouter-rule"] == "haiku"
    assert "short" in haiku.text
    opus = httpx.post(proc.url + "/v1/messages?beta=true", headers=headers, json=body, timeout=30)
    assert opus.headers["x-coderouter-rule"] == "long"
    assert "content_block_delta" in opus.text
    assert counts(upstreams) == {"small": 1, "long": 1}
    assert upstreams["long"].requests[0].body["stream"] is True

    image = anthropic.Anthropic(base_url=proc.url, api_key="k", max_retries=0)
    raw = image.messages.with_raw_response.create(
        model="claude-opus-4-8",
        max_tokens=100,
        messages=anthropic_image_question(PNG.split(",", 1)[1]),
    )
    assert raw.headers["x-coderouter-rule"] == "images"
    assert raw.parse().content[0].text == "from vision"  # type: ignore[union-attr]
    sent = upstreams["vision"].requests[0].body["messages"][0]["content"]
    assert sent[1]["image_url"]["url"] == PNG
