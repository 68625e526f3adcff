"""Settings of the matchers plugin: bad values fail at load time, at their own key path."""

from __future__ import annotations

from typing import Any

import pytest
from coderouter_matchers import MatchersConfig, MatchersPlugin

from coderouter.config import ConfigError, structure
from coderouter.plugins import PluginError, load_plugins
from coderouter.testing import ConfigBuilder


def load(settings: dict[str, Any]) -> MatchersConfig:
    config: MatchersConfig = structure(
        settings, MatchersConfig, source="coderouter.toml", prefix="plugins.matchers"
    )
    return config


def rule(match: dict[str, Any], profile: str = "small", **extra: Any) -> dict[str, Any]:
    return {"profile": profile, "match": match, **extra}


@pytest.mark.parametrize(
    ("match", "key", "message"),
    [
        ({"content_regex": "(unclosed"}, "content_regex", "invalid regex '(unclosed'"),
        ({"model_pattern": "claude-[haiku"}, "model_pattern", "invalid regex"),
        ({"header": {"name": "x-team", "regex": "*"}}, "header.regex", "invalid regex '*'"),
        ({"code_fence_ratio_min": 1.5}, "code_fence_ratio_min", "from 0 to 1, got 1.5"),
        ({"code_fence_ratio_min": "half"}, "code_fence_ratio_min", "from 0 to 1, got 'half'"),
        ({"content_token_count_min": 0}, "content_token_count_min", "positive whole number"),
        ({"content_token_count_min": 1.5}, "content_token_count_min", "positive whole number"),
        ({"has_image": "yes"}, "has_image", "expected true or false"),
    ],
)
def test_bad_values_are_reported_at_their_key(
    match: dict[str, Any], key: str, message: str
) -> None:
    settings = {"rules": [rule({"has_tools": True}), rule(match)]}
    with pytest.raises(ConfigError) as info:
        load(settings)
    text = str(info.value)
    assert text.startswith(
        f"config error in coderouter.toml: plugins.matchers.rules[1].match.{key}: "
    )
    assert message in text


def test_unknown_matcher_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load({"rules": [rule({"has_images": True})]})
    text = str(info.value)
    assert "plugins.matchers.rules[0].match.has_images: unknown key" in text
    for valid in (
        "has_image",
        "has_tools",
        "code_fence_ratio_min",
        "content_contains",
        "content_regex",
        "model_pattern",
        "content_token_count_min",
        "header",
    ):
        assert valid in text


def test_a_rule_needs_a_profile_and_at_least_one_matcher() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.profile: required key is missing"):
        load({"rules": [{"match": {"has_image": True}}]})
    with pytest.raises(ConfigError, match=r"rules\[0\]\.match: no matcher given \(valid: "):
        load({"rules": [rule({})]})


def test_header_takes_equals_or_regex_not_both() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.match\.header: .*not both"):
        load({"rules": [rule({"header": {"name": "x-team", "equals": "a", "regex": "a"}})]})


def test_rule_names_are_unique() -> None:
    with pytest.raises(
        ConfigError,
        match=r"rules\[1\]\.name: 'x' is already the name of "
        r"rules\[0\]",
    ):
        load({"rules": [rule({"has_image": True}, name="x"), rule({"has_tools": True}, name="x")]})


def test_unknown_profiles_are_named_with_rule_key_and_known_profiles() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .profile("small", ["a"])
        .build()
    )
    plugin = MatchersPlugin(
        load(
            {
                "default": "fallback",
                "rules": [
                    rule({"has_image": True}, profile="small", name="images"),
                    rule({"content_token_count_min": 32000}, profile="long-context", name="long"),
                ],
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        plugin.check_profiles(config)
    lines = str(info.value).splitlines()
    assert lines == [
        "config error in <test config>: plugins.matchers.rules[1] ('long').profile: unknown "
        "profile 'long-context' (known: default, small)",
        "config error in <test config>: plugins.matchers.default: unknown profile 'fallback' "
        "(known: default, small)",
    ]


def test_known_profiles_pass_the_check() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .profile("small", ["a"])
        .build()
    )
    plugin = MatchersPlugin(
        load({"default": "default", "rules": [rule({"has_image": True}, profile="small")]})
    )
    plugin.check_profiles(config)
    assert [r.name for r in plugin.rules] == ["rules[0]"]


def test_loads_through_the_entry_point_with_its_settings() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .profile("small", ["a"])
        .plugin("matchers", rules=[rule({"model_pattern": "claude-haiku-.*"})])
        .build()
    )
    pm = load_plugins(config)
    plugin = pm.get_plugin("matchers")
    assert isinstance(plugin, MatchersPlugin)
    assert plugin.rules[0].profile == "small"


def test_load_errors_carry_the_config_file_and_key_path() -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .plugin("matchers", rules=[rule({"content_regex": "[a-"})])
        .build()
    )
    with pytest.raises(
        ConfigError,
        match=r"^config error in <test config>: "
        r"plugins\.matchers\.rules\[0\]\.match\.content_regex: "
        r"invalid regex '\[a-'",
    ):
        load_plugins(config)


def test_per_profile_settings_are_refused() -> None:
    builder = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"], plugins={"matchers": {"default": "default"}})
        .plugin("matchers")
    )
    with pytest.raises(
        PluginError,
        match=r"plugins\.matchers: per-profile settings have no "
        r"effect.*profiles\.default\.plugins\.matchers",
    ):
        load_plugins(builder.build())
