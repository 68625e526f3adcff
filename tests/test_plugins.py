from __future__ import annotations

from typing import Any

import pytest

from coderouter import hookimpl
from coderouter.config import ConfigError
from coderouter.plugins import PluginError, describe_plugins, load_plugins, plugin_states
from coderouter.testing import ConfigBuilder


def builder() -> ConfigBuilder:
    return ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"])


def test_enabled_plugin_loads_through_entry_point_with_config() -> None:
    config = builder().plugin("example", team="infra").build()
    pm = load_plugins(config)
    plugin = pm.get_plugin("example")
    assert type(plugin).__module__ == "coderouter_example"
    assert plugin.config.team == "infra"
    info = describe_plugins(pm, config)
    assert info["enabled"][0]["name"] == "example"
    assert info["enabled"][0]["distribution"] == "coderouter-example"
    assert "after_attempt" in info["enabled"][0]["hooks"]
    assert plugin_states(pm) == {"example": {"requests_by_profile": {}}}


def test_installed_but_not_enabled_is_not_loaded() -> None:
    pm = load_plugins(builder().build())
    assert pm.get_plugin("example") is None


def test_profile_override_merges_over_plugin_settings() -> None:
    raw = builder().plugin("example", team="infra", header="x-team").raw()
    raw["profiles"]["default"]["plugins"] = {"example": {"team": "night"}}
    from coderouter.config import parse_config

    pm = load_plugins(parse_config(raw, source="t.toml"))
    plugin = pm.get_plugin("example")
    assert plugin.config_for("default").team == "night"
    assert plugin.config_for("default").header == "x-team"
    assert plugin.config_for("other").team == "infra"


def test_a_profile_switch_is_not_a_settings_override() -> None:
    raw = builder().plugin("example", team="infra").raw()
    raw["profiles"]["default"]["plugins"] = {"example": {"enabled": False, "team": "night"}}
    raw["profiles"]["other"] = {"providers": ["a"], "plugins": {"example": {"enabled": False}}}
    from coderouter.config import parse_config

    plugin = load_plugins(parse_config(raw, source="t.toml")).get_plugin("example")
    assert plugin.config_for("default").team == "night"  # "enabled" is not the plugin's key
    assert "other" not in plugin.profile_configs


def test_unknown_plugin_lists_installed() -> None:
    config = builder().plugin("exampel").build()
    with pytest.raises(
        PluginError,
        match=r"plugins.enabled: unknown plugin 'exampel' "
        r"\(installed: .*example.*\)",
    ):
        load_plugins(config)


def test_bad_plugin_setting_names_key_path() -> None:
    config = builder().plugin("example", team=3).build()
    with pytest.raises(ConfigError, match=r"plugins.example.team: expected a string, got 3"):
        load_plugins(config)
    config = builder().plugin("example", colour="red").build()
    with pytest.raises(ConfigError, match=r"plugins.example.colour: unknown key"):
        load_plugins(config)


def test_settings_for_disabled_plugin_is_an_error() -> None:
    raw = builder().raw()
    raw["plugins"]["example"] = {"team": "x"}
    from coderouter.config import parse_config

    with pytest.raises(PluginError, match="settings for a plugin that is not enabled"):
        load_plugins(parse_config(raw, source="t.toml"))


class Misspelt:
    @hookimpl
    def after_atempt(self, attempt: Any, result: Any) -> None:
        pass


class WrongArgs:
    @hookimpl
    def filter_chain(self, request: Any, chian: Any) -> None:
        pass


def test_misspelt_hook_fails_at_startup() -> None:
    with pytest.raises(PluginError) as info:
        load_plugins(builder().build(), extra=[("typo", Misspelt())])
    message = str(info.value)
    assert message.startswith(
        "plugin 'typo' implements an unknown hook: 'after_atempt' (did you mean 'after_attempt'?)"
    )
    valid = message.partition("(hooks: ")[2]
    assert "after_attempt" in valid and "after_atempt" not in valid
    with pytest.raises(PluginError, match=r"plugin 'args' is invalid"):
        load_plugins(builder().build(), extra=[("args", WrongArgs())])


class Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    @hookimpl
    def prepare_request(self, draft: Any) -> None:
        self.calls.append(self.name)


def test_call_order_is_config_order() -> None:
    calls: list[str] = []
    pm = load_plugins(
        builder().build(),
        extra=[
            ("first", Recorder("first", calls)),
            ("second", Recorder("second", calls)),
            ("third", Recorder("third", calls)),
        ],
    )
    pm.hook.prepare_request(draft=None)
    assert calls == ["first", "second", "third"]


def test_profile_settings_for_a_plugin_that_is_not_enabled_is_an_error() -> None:
    raw = builder().raw()
    raw["profiles"]["default"]["plugins"] = {"example": {"team": "x"}}
    from coderouter.config import parse_config

    with pytest.raises(
        PluginError,
        match=r"profiles.default.plugins.example: plugin is not "
        r"enabled \(enabled: none\)",
    ):
        load_plugins(parse_config(raw, source="t.toml"))
