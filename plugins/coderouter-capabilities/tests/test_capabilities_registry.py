"""Resolving capabilities: the bundled registry, the user's registry, the provider's own table,
and the errors each source reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coderouter_capabilities import CapabilitiesConfig, CapabilitiesPlugin, Registry, RegistryError
from coderouter_capabilities.resolve import Resolver, provider_table_errors

from coderouter.config import ConfigError, ProviderConfig
from coderouter.plugins import PluginError, load_plugins
from coderouter.testing import ConfigBuilder


def provider(model: str, kind: str = "openai", **capabilities: Any) -> ProviderConfig:
    return ProviderConfig(
        name="p",
        base_url="http://127.0.0.1:9/v1",
        kind=kind,  # type: ignore[arg-type]
        model=model,
        capabilities=capabilities,
    )


@pytest.fixture(scope="module")
def bundled() -> Resolver:
    return Resolver([Registry.bundled()])


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "claude-opus-4-1-20250805",
        "anthropic/claude-haiku-4.5",
        "gpt-4.1-mini",
        "gpt-5",
        "gpt-oss:20b",
        "openai/gpt-oss-120b",
        "qwen2.5:14b",
        "Qwen/Qwen2.5-Coder-32B-Instruct",
        "qwen3:8b",
        "qwen3-coder:30b",
        "Qwen/Qwen3-235B-A22B-Instruct-2507",
        "llama3.1:8b",
        "meta-llama/Llama-3.3-70B-Instruct",
        "gemma3:27b",
        "gemma4:26b",
        "google/gemma-4-31b-it",
        "deepseek-chat",
        "deepseek-r1:14b",
        "deepseek-ai/DeepSeek-V3.1",
        "mistral-small3.2:24b",
        "devstral:24b",
        "codestral:22b",
        "glm-4.5-air",
        "zai-org/GLM-4.6",
        "moonshotai/Kimi-K2-Instruct",
        "phi4:14b",
        "phi4-mini:3.8b",
    ],
)
def test_every_listed_family_is_known(bundled: Resolver, model: str) -> None:
    caps = bundled.resolve(provider(model))
    assert caps.tools is not None
    assert caps.vision is not None
    assert caps.max_context_tokens is not None and caps.max_context_tokens >= 8192
    assert all(source.startswith("bundled registry rules[") for source in caps.sources.values())


@pytest.mark.parametrize(
    ("model", "kind", "expected"),
    [
        (
            "claude-opus-4-1-20250805",
            "anthropic",
            {"max_output_tokens": 32000, "max_context_tokens": 200000, "cache_control": True},
        ),
        ("claude-sonnet-4-5", "anthropic", {"max_output_tokens": 64000, "vision": True}),
        (
            "anthropic/claude-sonnet-4.5",
            "openai",
            {"max_output_tokens": 64000, "cache_control": None},
        ),
        (
            "qwen2.5-coder:7b",
            "openai",
            {
                "agent_suitability": "degraded",
                "max_context_tokens": 32768,
                "max_output_tokens": 8192,
                "thinking": False,
            },
        ),
        (
            "qwen3-coder:30b",
            "openai",
            {"max_context_tokens": 262144, "thinking": False, "reasoning_field": None},
        ),
        (
            "qwen3:8b",
            "openai",
            {
                "thinking": True,
                "reasoning_field": "reasoning_content",
                "thinking_switch": "enable_thinking",
            },
        ),
        ("gemma3:27b", "openai", {"vision": True, "tools": False}),
        ("gemma3:1b", "openai", {"vision": False, "max_context_tokens": 32768}),
        ("gemma4:e4b", "openai", {"vision": True, "max_context_tokens": 131072}),
        ("deepseek-r1:14b", "openai", {"thinking": True, "tools": False}),
        ("llama3:8b", "openai", {"tools": False, "max_context_tokens": 8192}),
        ("gpt-5-mini", "openai", {"max_context_tokens": 400000, "thinking": True}),
        ("gpt-5-chat-latest", "openai", {"thinking": False, "max_output_tokens": 16384}),
        ("my-finetune", "openai", {"tools": None, "max_context_tokens": None}),
    ],
)
def test_specific_rules_come_before_family_rules(
    bundled: Resolver, model: str, kind: str, expected: dict[str, Any]
) -> None:
    caps = bundled.resolve(provider(model, kind))
    assert {key: getattr(caps, key) for key in expected} == expected


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "caps.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_each_flag_comes_from_its_first_source(tmp_path: Path) -> None:
    user = Registry.load(
        write(
            tmp_path,
            """
[[rules]]
kind = "openai"
model = "QWEN2.5-CODER*"
agent_suitability = "ok"
max_output_tokens = 4096

[[rules]]
model = "*"
max_output_tokens = 1
reasoning_field = "reasoning"
""",
        )
    )
    resolver = Resolver([user, Registry.bundled()])
    caps = resolver.resolve(provider("qwen2.5-coder:7b", max_context_tokens=16384))
    assert caps.max_context_tokens == 16384
    assert caps.agent_suitability == "ok"
    assert caps.max_output_tokens == 4096
    assert caps.reasoning_field == "reasoning"
    assert caps.tools is True
    assert caps.sources["max_context_tokens"] == "provider config"
    assert (
        caps.sources["agent_suitability"] == f"registry {tmp_path}/caps.toml rules[0] "
        "(QWEN2.5-CODER*)"
    )
    assert caps.sources["reasoning_field"] == f"registry {tmp_path}/caps.toml rules[1] (*)"
    assert caps.sources["tools"] == "bundled registry rules[12] (*qwen2.5-coder*)"


def test_kind_limits_a_rule_and_a_provider_without_model_matches_nothing() -> None:
    registry = Registry.parse('[[rules]]\nkind = "anthropic"\nmodel = "*"\ntools = true\n', "test")
    resolver = Resolver([registry])
    assert resolver.resolve(provider("claude-x", "anthropic")).tools is True
    assert resolver.resolve(provider("claude-x", "openai")).tools is None
    assert resolver.resolve(provider("", "anthropic")).tools is None


def test_resolver_remembers_each_provider_object() -> None:
    resolver = Resolver([Registry.bundled()], max_entries=2)
    first = provider("qwen3:8b")
    assert resolver(first) is resolver(first)
    resolver(provider("qwen3:8b"))
    resolver(provider("qwen3:8b"))
    assert len(resolver.known()) <= 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rules]]\nmodel = "x"\nvison = true\n',
            "test: rules[0].vison: unknown key (valid keys: kind, model, note, tools, vision, "
            "thinking, cache_control, forced_tool_choice, max_context_tokens, max_output_tokens, "
            "reasoning_field, thinking_switch, agent_suitability)",
        ),
        ('[[rules]]\nmodel = "x"\ntools = "yes"\n', "test: rules[0].tools: expected true or false"),
        (
            '[[rules]]\nmodel = "x"\nmax_context_tokens = 0\n',
            "test: rules[0].max_context_tokens: expected a positive whole number",
        ),
        (
            '[[rules]]\nmodel = "x"\nagent_suitability = "great"\n',
            "test: rules[0].agent_suitability: unknown value 'great' (valid: ok, degraded)",
        ),
        (
            '[[rules]]\nkind = "ollama"\nmodel = "x"\n',
            "test: rules[0].kind: unknown kind 'ollama' "
            "(valid: openai, anthropic, openai_responses)",
        ),
        ("[[rules]]\ntools = true\n", "test: rules[0].model: required key is missing"),
        ("[[rules]]\nmodel = []\n", "test: rules[0].model: expected a glob or a list of globs"),
        ("[models]\n", "test: models: unknown table (valid: rules)"),
        ("[[rules]\n", "test: not valid TOML"),
    ],
)
def test_registry_errors_name_the_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(RegistryError) as info:
        Registry.parse(text, "test")
    assert message in str(info.value)


def test_a_bad_registry_file_stops_loading_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[[rules]]\nmodel = "x"\nvison = true\n')
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .plugin("capabilities", registry_file=path)
        .build()
    )
    with pytest.raises(PluginError) as info:
        load_plugins(config)
    assert (
        f"config error in <test config>: plugins.capabilities: registry_file: "
        f"registry {path}: rules[0].vison: unknown key"
    ) in str(info.value)
    missing = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .plugin("capabilities", registry_file=str(tmp_path / "nope.toml"))
        .build()
    )
    with pytest.raises(PluginError, match=r"nope\.toml: cannot read it"):
        load_plugins(missing)


def test_provider_table_errors_name_the_provider_index_key_and_valid_keys() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .provider(
            "b", "http://127.0.0.1:9/v1", capabilities={"vison": True, "max_output_tokens": "lots"}
        )
        .profile("default", ["a", "b"])
        .build()
    )
    errors = provider_table_errors(config)
    assert errors == [
        "config error in <test config>: providers[1].capabilities.vison: unknown key (valid "
        "keys: tools, vision, thinking, cache_control, forced_tool_choice, max_context_tokens, "
        "max_output_tokens, reasoning_field, thinking_switch, agent_suitability)",
        "config error in <test config>: providers[1].capabilities.max_output_tokens: expected "
        "a positive whole number of tokens, got 'lots'",
    ]
    with pytest.raises(ConfigError, match=r"providers\[1\]\.capabilities\.vison"):
        CapabilitiesPlugin().check_providers(config)


def test_capabilities_for_answers_only_when_something_is_known() -> None:
    plugin = CapabilitiesPlugin(CapabilitiesConfig(bundled_registry=False))
    assert plugin.capabilities_for(provider("qwen3:8b")) is None
    caps = plugin.capabilities_for(provider("qwen3:8b", vision=True))
    assert caps is not None and caps.vision is True and caps.tools is None


def test_the_hook_answer_reaches_other_plugins_through_the_plugin_manager() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1", model="gemma3:27b")
        .profile("default", ["a"])
        .plugin("capabilities")
        .build()
    )
    pm = load_plugins(config)
    caps = pm.hook.capabilities_for(provider=config.providers[0])
    assert caps.vision is True and caps.tools is False


def test_the_registry_is_shared_by_every_profile() -> None:
    builder = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"], plugins={"capabilities": {"bundled_registry": False}})
        .plugin("capabilities")
    )
    with pytest.raises(
        PluginError,
        match=r"profiles\.default\.plugins\.capabilities\."
        r"bundled_registry: the registry is shared",
    ):
        load_plugins(builder.build())


@pytest.mark.parametrize(
    ("model", "kind", "forced"),
    [
        ("qwen2.5-coder:7b", "openai", False),
        ("hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M", "openai", False),
        ("qwen/qwen3-coder:free", "openai", True),
        ("gpt-4.1", "openai", None),
        ("claude-sonnet-4:x", "anthropic", None),
    ],
)
def test_the_bundled_registry_knows_which_servers_ignore_a_forced_tool_choice(
    model: str, kind: Any, forced: bool | None
) -> None:
    provider = ProviderConfig(name="p", base_url="http://127.0.0.1:1/v1", kind=kind, model=model)
    assert Resolver([Registry.bundled()])(provider).forced_tool_choice is forced
