"""The plugin: which providers get which filters, overrides, configuration errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coderouter_output_filters import (
    OutputFiltersConfig,
    OutputFiltersPlugin,
    OutputFilterTransform,
    ProviderFilters,
)

from coderouter.config import ConfigError, ProviderConfig
from coderouter.context import AppContext
from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder, config_error, readme_config
from coderouter.types import Attempt, Draft, RequestView
from coderouter.wire.model import BlockStart, BlockStop, MessageStop, ThinkingDelta

OPENAI = ProviderConfig(name="local", base_url="http://127.0.0.1:1/v1", kind="openai")
OTHER = ProviderConfig(name="lmstudio", base_url="http://127.0.0.1:2/v1", kind="openai")
ANTHROPIC = ProviderConfig(name="claude", base_url="http://127.0.0.1:3", kind="anthropic")


def attempt(
    provider: ProviderConfig = OPENAI,
    *,
    profile: str = "default",
    ingress: Any = "openai_chat",
    thinking: Any = None,
) -> Attempt:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if ingress == "anthropic":
        body["max_tokens"] = 100
        if thinking is not None:
            body["thinking"] = thinking
    return Attempt(Draft(RequestView(ingress, body, {}, profile=profile)), provider, 0, profile)


def drops_reasoning(t: OutputFilterTransform | None) -> bool:
    assert t is not None
    return t.drop_reasoning


def test_defaults_apply_to_openai_kind_only() -> None:
    plugin = OutputFiltersPlugin()
    t = plugin.stream_transforms(attempt())
    assert t is not None and t.patterns is not None and t.drop_reasoning
    assert plugin.stream_transforms(attempt(ANTHROPIC)) is None


def test_provider_table_overrides_and_opts_in_any_kind() -> None:
    plugin = OutputFiltersPlugin(
        OutputFiltersConfig(
            providers={
                "lmstudio": ProviderFilters(strip_thinking=False, strip_stop_markers=False),
                "claude": ProviderFilters(strip_thinking=True),
                "local": ProviderFilters(enabled=False),
            }
        )
    )
    assert plugin.stream_transforms(attempt(OPENAI)) is None
    reasoning_only = plugin.stream_transforms(attempt(OTHER))
    assert reasoning_only is not None and reasoning_only.patterns is None
    assert plugin.stream_transforms(attempt(ANTHROPIC)) is not None


def test_nothing_to_do_means_no_transform() -> None:
    plugin = OutputFiltersPlugin(
        OutputFiltersConfig(strip_thinking=False, strip_stop_markers=False, reasoning="pass")
    )
    assert plugin.stream_transforms(attempt()) is None


def test_reasoning_thinking_keeps_blocks_only_when_the_client_asked() -> None:
    plugin = OutputFiltersPlugin(OutputFiltersConfig(reasoning="thinking"))
    asked = attempt(ingress="anthropic", thinking={"type": "enabled", "budget_tokens": 1024})
    assert not drops_reasoning(plugin.stream_transforms(asked))
    off = attempt(ingress="anthropic", thinking={"type": "disabled"})
    assert drops_reasoning(plugin.stream_transforms(off))
    assert drops_reasoning(plugin.stream_transforms(attempt(ingress="anthropic")))
    assert drops_reasoning(plugin.stream_transforms(attempt()))


def test_reasoning_pass_keeps_them_always() -> None:
    plugin = OutputFiltersPlugin(OutputFiltersConfig(reasoning="pass"))
    assert not drops_reasoning(plugin.stream_transforms(attempt()))


def test_profile_override() -> None:
    plugin = OutputFiltersPlugin(
        OutputFiltersConfig(), {"raw": OutputFiltersConfig(reasoning="pass")}
    )
    assert drops_reasoning(plugin.stream_transforms(attempt(profile="default")))
    assert not drops_reasoning(plugin.stream_transforms(attempt(profile="raw")))


def test_log_fields_and_state_report_what_was_removed() -> None:
    plugin = OutputFiltersPlugin()
    a = attempt()
    t = plugin.stream_transforms(a)
    assert t is not None
    for event in [
        BlockStart(0, {"type": "thinking", "origin": "reasoning_field"}),
        ThinkingDelta(0, "x"),
        BlockStop(0),
        MessageStop(),
    ]:
        t.feed(event)
    t.flush()
    assert a.log_fields["output_filters"] == {"reasoning_blocks": 1}
    assert plugin.describe_state() == {"removed": {"reasoning_blocks": 1, "responses_filtered": 1}}


def _context(builder: ConfigBuilder) -> AppContext:
    return AppContext(
        config=builder.build(),
        pm=None,
        router=None,  # type: ignore[arg-type]
        log=None,
        clock=lambda: 0.0,
        client=None,
    )  # type: ignore[arg-type]


def test_unknown_provider_table_fails_when_plugins_load_naming_the_known_ones() -> None:
    builder = (
        ConfigBuilder()
        .provider("ollama", "http://127.0.0.1:1/v1")
        .provider("lmstudio", "http://127.0.0.1:2/v1")
        .profile("default", ["ollama"])
    )
    plugin = OutputFiltersPlugin(
        OutputFiltersConfig(providers={"olama": ProviderFilters()}),
        {"p": OutputFiltersConfig(providers={"x": ProviderFilters()})},
    )
    with pytest.raises(ConfigError) as info:
        plugin.check_config(config=builder.build())
    message = str(info.value)
    assert (
        "plugins.output_filters.providers.olama: unknown provider 'olama' (known: ollama, lmstudio)"
    ) in message
    assert "profiles.p.plugins.output_filters.providers.x: unknown provider 'x'" in message


def test_toml_tables_are_structured() -> None:
    builder = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:1/v1")
        .profile("default", ["local"])
        .plugin(
            "output_filters",
            reasoning="thinking",
            stop_markers=["<|im_end|>"],
            providers={"local": {"strip_thinking": False}},
        )
    )
    plugin = load_plugins(builder.build()).get_plugin("output_filters")
    assert plugin.config == OutputFiltersConfig(
        reasoning="thinking",
        stop_markers=["<|im_end|>"],
        providers={"local": ProviderFilters(strip_thinking=False)},
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"reasoning": "hide"}, "reasoning"),
        ({"strip_think": True}, "unknown key"),
        ({"stop_markers": ["x"]}, "stop marker 'x'"),
        ({"providers": {"local": {"reasoning": "maybe"}}}, "providers.local.reasoning"),
        ({"providers": {"local": {"strip": True}}}, "unknown key"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], expected: str) -> None:
    error = str(config_error("output_filters", settings, provider="local"))
    assert expected in error
    assert "plugins.output_filters" in error


def test_readme_example_loads() -> None:
    builder = (
        ConfigBuilder()
        .provider("lmstudio", "http://127.0.0.1:1/v1")
        .provider("vllm", "http://127.0.0.1:2/v1")
        .profile("default", ["lmstudio"])
        .profile("raw", ["vllm"])
    )
    config = readme_config(Path(__file__).parent.parent / "README.md", builder)
    plugin = load_plugins(config).get_plugin("output_filters")
    plugin.check_config(config=config)
    lmstudio, vllm = config.providers
    assert plugin.config.stop_markers[-1] == "<|channel|>…<|message|>"
    asked = attempt(
        lmstudio, ingress="anthropic", thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert not drops_reasoning(plugin.stream_transforms(asked))
    assert drops_reasoning(plugin.stream_transforms(attempt(lmstudio)))
    assert plugin.stream_transforms(attempt(vllm)) is None
    assert plugin.config_for("raw").reasoning == "pass"


def _context_of(config: Any) -> AppContext:
    return AppContext(
        config=config,
        pm=None,
        router=None,  # type: ignore[arg-type]
        log=None,
        clock=lambda: 0.0,
        client=None,
    )  # type: ignore[arg-type]
