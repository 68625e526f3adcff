"""The chain gates (context size, images, tools, thinking) and the max_tokens clamp, on records
built by hand in both wire formats."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from coderouter_capabilities import CapabilitiesConfig, CapabilitiesPlugin
from coderouter_capabilities.gates import clamp

from coderouter.config import ProviderConfig
from coderouter.testing import READ_TOOL, anthropic_image, anthropic_tool_image_turns, chat_tool
from coderouter.types import Attempt, Chain, Draft, RequestView
from coderouter.wire.model import Request
from coderouter.wire.tokens import estimate_request_tokens

DATA = Path(__file__).parent / "data"
PNG = "iVBORw0KGgo="


def provider(name: str, **capabilities: Any) -> ProviderConfig:
    return ProviderConfig(
        name=name, base_url="http://127.0.0.1:9/v1", model="", capabilities=capabilities
    )


def plugin(**settings: Any) -> CapabilitiesPlugin:
    return CapabilitiesPlugin(CapabilitiesConfig(bundled_registry=False, **settings))


def chat(
    *,
    image: bool = False,
    tools: bool = False,
    text: str = "hi",
    max_tokens: int | None = None,
    **extra: Any,
) -> RequestView:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image:
        content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}})
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    if tools:
        body["tools"] = [chat_tool(READ_TOOL)]
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return RequestView("openai_chat", body, {})


def anthropic(
    *,
    image: bool = False,
    tools: bool = False,
    text: str = "hi",
    max_tokens: int = 1024,
    **extra: Any,
) -> RequestView:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image:
        content.append(anthropic_image(PNG))
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    if tools:
        body["tools"] = [READ_TOOL]
    return RequestView("anthropic", body, {})


FORMATS = pytest.mark.parametrize("build", [chat, anthropic], ids=["openai_chat", "anthropic"])


def run(caps: CapabilitiesPlugin, view: RequestView, *providers: ProviderConfig) -> Chain:
    chain = Chain(profile="default", providers=list(providers))
    caps.filter_chain(request=view, chain=chain)
    return chain


# --- context size ---------------------------------------------------------------------------


@FORMATS
def test_a_request_over_a_providers_context_skips_it(build: Any) -> None:
    view = build(text="word " * 800)
    size = estimate_request_tokens(view.conversation())
    assert 900 < size < 1100
    chain = run(
        plugin(),
        view,
        provider("small", max_context_tokens=512),
        provider("unknown"),
        provider("big", max_context_tokens=8192),
    )
    assert chain.names() == ["unknown", "big"]
    [skip] = chain.skipped
    assert (skip.provider, skip.by) == ("small", "capabilities")
    assert skip.reason.startswith("request is ~")
    assert skip.reason.endswith("tokens, over max_context_tokens 512")


def test_the_size_counts_tools_and_the_whole_claude_code_turn() -> None:
    recorded = json.loads((DATA / "claude_code_main_turn0.json").read_text(encoding="utf-8"))
    view = RequestView("anthropic", recorded["body"], {})
    chain = run(
        plugin(),
        view,
        provider("local", max_context_tokens=16384),
        provider("cloud", max_context_tokens=200000),
    )
    assert chain.names() == ["cloud"]
    found = re.fullmatch(
        r"request is ~(\d+) tokens, over max_context_tokens 16384", chain.skipped[0].reason
    )
    assert found is not None
    assert abs(int(found.group(1)) - estimate_request_tokens(view.conversation())) <= 3


def test_no_estimate_without_any_declared_context_limit() -> None:
    calls: list[Request] = []

    def count(request: Request) -> int:
        calls.append(request)
        return 10**9

    caps = CapabilitiesPlugin(CapabilitiesConfig(bundled_registry=False), count_tokens=count)
    chain = run(caps, chat(), provider("a"), provider("b", tools=True))
    assert chain.names() == ["a", "b"] and not calls
    chain = run(caps, chat(), provider("a"), provider("b", max_context_tokens=100))
    assert chain.names() == ["a"] and len(calls) == 1


# --- preferring capable providers -----------------------------------------------------------


def test_the_request_is_not_read_when_no_provider_declares_a_lack() -> None:
    view = chat(image=True, tools=True)
    chain = run(plugin(), view, provider("a", vision=True), provider("b", tools=True))
    assert chain.names() == ["a", "b"]
    assert view._conversation is None


@FORMATS
def test_images_go_first_to_vision_providers(build: Any) -> None:
    providers = (provider("text", vision=False), provider("unknown"), provider("eyes", vision=True))
    chain = run(plugin(), build(image=True), *providers)
    assert chain.names() == ["unknown", "eyes", "text"]
    assert [(m.provider, m.reason, m.by) for m in chain.moves] == [
        ("text", "the request has images; no vision support", "capabilities")
    ]
    plain = run(plugin(), build(), *providers)
    assert plain.names() == ["text", "unknown", "eyes"] and not plain.moves


@FORMATS
def test_tools_go_first_to_tool_providers(build: Any) -> None:
    chain = run(
        plugin(), build(tools=True), provider("chat", tools=False), provider("agent", tools=True)
    )
    assert chain.names() == ["agent", "chat"]
    assert chain.moves[0].reason == "the request has tools; no tool support"


@pytest.mark.parametrize(
    "view",
    [
        anthropic(thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=4096),
        anthropic(thinking={"type": "adaptive"}),
        chat(reasoning_effort="high"),
    ],
    ids=["anthropic-enabled", "anthropic-adaptive", "openai-reasoning-effort"],
)
def test_thinking_requests_go_first_to_thinking_providers_with_prefer_thinking(
    view: RequestView,
) -> None:
    chain = run(
        plugin(prefer_thinking=True),
        view,
        provider("plain", thinking=False),
        provider("thinker", thinking=True),
    )
    assert chain.names() == ["thinker", "plain"]
    unchanged = run(
        plugin(), view, provider("plain", thinking=False), provider("thinker", thinking=True)
    )
    assert unchanged.names() == ["plain", "thinker"]


@pytest.mark.parametrize(
    "view",
    [anthropic(thinking={"type": "disabled"}), chat(reasoning_effort="none"), chat()],
    ids=["disabled", "effort-none", "absent"],
)
def test_requests_without_thinking_keep_their_order(view: RequestView) -> None:
    chain = run(
        plugin(), view, provider("plain", thinking=False), provider("thinker", thinking=True)
    )
    assert chain.names() == ["plain", "thinker"]


def test_vision_decides_first_then_tools_then_thinking() -> None:
    providers = [
        provider("blind-agent", vision=False, tools=True, thinking=True),
        provider("eyes-no-tools", vision=True, tools=False, thinking=True),
        provider("eyes-tools-plain", vision=True, tools=True, thinking=False),
        provider("all", vision=True, tools=True, thinking=True),
    ]
    view = anthropic(image=True, tools=True, thinking={"type": "adaptive"})
    chain = run(plugin(prefer_thinking=True), view, *providers)
    assert chain.names() == ["all", "eyes-tools-plain", "eyes-no-tools", "blind-agent"]


def test_images_returned_inside_tool_results_count() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "messages": anthropic_tool_image_turns(PNG),
    }
    chain = run(
        plugin(),
        RequestView("anthropic", body, {}),
        provider("text", vision=False),
        provider("eyes", vision=True),
    )
    assert chain.names() == ["eyes", "text"]


def test_gates_can_be_switched_off_per_profile() -> None:
    settings = CapabilitiesConfig(bundled_registry=False)
    off = CapabilitiesConfig(
        bundled_registry=False,
        skip_over_context=False,
        prefer_capable=False,
        clamp_max_tokens=False,
    )
    caps = CapabilitiesPlugin(settings, {"raw": off})
    providers = [
        provider("text", vision=False, max_context_tokens=1),
        provider("eyes", vision=True),
    ]
    chain = Chain(profile="raw", providers=list(providers))
    caps.filter_chain(request=chat(image=True), chain=chain)
    assert chain.names() == ["text", "eyes"] and not chain.skipped and not chain.moves
    chain = Chain(profile="default", providers=list(providers))
    caps.filter_chain(request=chat(image=True), chain=chain)
    assert chain.names() == ["eyes"]


# --- max_tokens clamp -----------------------------------------------------------------------


def attempt(view: RequestView, target: ProviderConfig, profile: str = "default") -> Attempt:
    return Attempt(Draft(view), target, 0, profile)


@FORMATS
def test_max_tokens_is_clamped_to_the_providers_output_limit(build: Any) -> None:
    caps = plugin()
    small = provider("small", max_output_tokens=8192)
    asked = attempt(build(max_tokens=64000), small)
    assert caps.before_attempt(asked) is None
    assert asked.max_tokens == 8192
    assert asked.log_fields == {"max_tokens_clamped": {"requested": 64000, "sent": 8192}}
    modest = attempt(build(max_tokens=4000), small)
    caps.before_attempt(modest)
    assert modest.max_tokens is None and modest.log_fields == {}
    unlimited = attempt(build(max_tokens=64000), provider("big"))
    caps.before_attempt(unlimited)
    assert unlimited.max_tokens is None
    assert caps.describe_state()["counts"] == {
        "skipped_over_context": 0,
        "moved_back": 0,
        "clamped": 1,
    }


def test_max_completion_tokens_counts_as_the_request() -> None:
    caps = plugin()
    asked = attempt(chat(max_completion_tokens=32000), provider("small", max_output_tokens=4096))
    caps.before_attempt(asked)
    assert asked.max_tokens == 4096


def test_clamp_rules() -> None:
    assert clamp(64000, None, 8192) == 8192
    assert clamp(64000, 2000, 8192) is None
    assert clamp(64000, 10000, 8192) == 8192
    assert clamp(None, None, 8192) is None
    assert clamp(8192, None, 8192) is None
    assert clamp(64000, None, None) is None


def test_clamp_can_be_switched_off_per_profile() -> None:
    caps = CapabilitiesPlugin(
        CapabilitiesConfig(bundled_registry=False),
        {"raw": CapabilitiesConfig(bundled_registry=False, clamp_max_tokens=False)},
    )
    asked = attempt(chat(max_tokens=64000), provider("small", max_output_tokens=8192), "raw")
    caps.before_attempt(asked)
    assert asked.max_tokens is None


def test_describe_state_shows_resolved_providers_and_counts() -> None:
    caps = plugin()
    run(
        caps,
        chat(image=True, text="word " * 800),
        provider("tiny", max_context_tokens=10),
        provider("text", vision=False),
        provider("eyes", vision=True),
    )
    state = caps.describe_state()
    assert state["providers"] == {
        "tiny": {"max_context_tokens": 10},
        "text": {"vision": False},
        "eyes": {"vision": True},
    }
    assert state["counts"] == {"skipped_over_context": 1, "moved_back": 1, "clamped": 0}
