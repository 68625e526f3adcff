"""The plugin: which attempts get a transform, configuration and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coderouter_tool_repair import ToolRepairConfig, ToolRepairPlugin, ToolRepairTransform
from coderouter_tool_repair.calls import ToolSet

from coderouter.config import ConfigError, ProviderConfig
from coderouter.context import AppContext
from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder, config_error, readme_config
from coderouter.types import Attempt, Draft, RequestView

OPENAI = ProviderConfig(name="local", base_url="http://127.0.0.1:1/v1", kind="openai")
ANTHROPIC = ProviderConfig(name="claude", base_url="http://127.0.0.1:1", kind="anthropic")
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def attempt(
    provider: ProviderConfig = OPENAI,
    *,
    tools: Any = (TOOL,),
    profile: str = "default",
    ingress: Any = "openai_chat",
    **body: Any,
) -> Attempt:
    payload: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        **body,
    }
    if tools:
        payload["tools"] = list(tools)
    if ingress == "anthropic":
        payload["max_tokens"] = 10
        if tools:
            payload["tools"] = [{"name": "f", "input_schema": {"type": "object"}}]
    view = RequestView(ingress, payload, {}, profile=profile)
    return Attempt(Draft(view), provider, 0, profile)


def test_transform_for_openai_kind_when_tools_are_declared() -> None:
    plugin = ToolRepairPlugin()
    assert isinstance(plugin.stream_transforms(attempt()), ToolRepairTransform)
    assert plugin.stream_transforms(attempt(ANTHROPIC)) is None
    assert plugin.stream_transforms(attempt(tools=())) is None


def test_tool_choice_none_means_no_repair() -> None:
    assert ToolRepairPlugin().stream_transforms(attempt(tool_choice="none")) is None


def test_enabled_providers_lists_exactly_which_providers() -> None:
    plugin = ToolRepairPlugin(ToolRepairConfig(enabled_providers=["claude"]))
    assert plugin.stream_transforms(attempt()) is None
    assert plugin.stream_transforms(attempt(ANTHROPIC)) is not None


def test_profile_override_applies() -> None:
    plugin = ToolRepairPlugin(ToolRepairConfig(), {"cloud": ToolRepairConfig(enabled_providers=[])})
    assert plugin.stream_transforms(attempt(profile="cloud")) is None
    assert plugin.stream_transforms(attempt(profile="default")) is not None


def test_call_ids_follow_the_client_wire_format() -> None:
    plugin = ToolRepairPlugin()
    openai_ids = plugin.stream_transforms(attempt())
    anthropic_ids = plugin.stream_transforms(attempt(ingress="anthropic"))
    assert openai_ids is not None and anthropic_ids is not None
    assert openai_ids.new_id().startswith("call_")
    assert anthropic_ids.new_id().startswith("toolu_")


def test_declared_tools_read_from_the_conversation() -> None:
    plugin = ToolRepairPlugin()
    t = plugin.stream_transforms(attempt())
    assert t is not None and isinstance(t.tools, ToolSet) and t.tools.names == ["f"]


def _context(builder: ConfigBuilder) -> AppContext:
    config = builder.build()
    return AppContext(
        config=config,
        pm=None,
        router=None,
        log=None,  # type: ignore[arg-type]
        clock=lambda: 0.0,
        client=None,
    )  # type: ignore[arg-type]


def test_unknown_provider_in_enabled_providers_fails_when_plugins_load() -> None:
    builder = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:1/v1")
        .provider("cloud", "http://127.0.0.1:2/v1")
        .profile("default", ["local"])
    )
    plugin = ToolRepairPlugin(ToolRepairConfig(enabled_providers=["olama"]))
    with pytest.raises(ConfigError) as info:
        plugin.check_config(config=builder.build())
    message = str(info.value)
    assert "plugins.tool_repair.enabled_providers: unknown provider 'olama'" in message
    assert "(known: local, cloud)" in message
    ToolRepairPlugin(ToolRepairConfig(enabled_providers=["cloud"])).check_config(
        config=builder.build()
    )


def test_settings_are_structured_from_toml_tables() -> None:
    builder = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:1/v1")
        .profile("default", ["local"])
        .plugin("tool_repair", enabled_providers=["local"], max_hold_chars=4096)
    )
    pm = load_plugins(builder.build())
    plugin = pm.get_plugin("tool_repair")
    assert plugin.config == ToolRepairConfig(enabled_providers=["local"], max_hold_chars=4096)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"max_hold_chars": 10}, "max_hold_chars must be at least 256"),
        ({"max_hold": 10}, "unknown key"),
        ({"max_hold_chars": "big"}, "max_hold_chars"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], expected: str) -> None:
    error = str(config_error("tool_repair", settings, provider="local"))
    assert expected in error
    assert "tool_repair" in error


def test_describe_state_counts() -> None:
    plugin = ToolRepairPlugin()
    t = plugin.stream_transforms(
        attempt(
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "read_file",
                        "parameters": {
                            "type": "object",
                            "required": ["path"],
                            "properties": {"path": {"type": "string"}},
                        },
                    },
                }
            ]
        )
    )
    assert t is not None
    from coderouter_tool_repair.repair import answer_events

    for event in answer_events(['{"name": "read_file", "arguments": {"path": "a"}}']):
        t.feed(event)
    t.flush()
    state = plugin.describe_state()
    assert state["totals"]["calls_recovered"] == 1
    assert state["calls_by_tool"] == {"read_file": 1}


def test_readme_example_loads() -> None:
    builder = (
        ConfigBuilder()
        .provider("ollama", "http://127.0.0.1:1/v1")
        .provider("llamacpp", "http://127.0.0.1:2/v1")
        .profile("default", ["ollama"])
        .profile("cloud", ["llamacpp"])
    )
    config = readme_config(Path(__file__).parent.parent / "README.md", builder)
    plugin = load_plugins(config).get_plugin("tool_repair")
    assert plugin.config.enabled_providers == ["ollama", "llamacpp"]
    assert plugin.config_for("cloud").enabled_providers == []
    plugin.check_config(config=config)
