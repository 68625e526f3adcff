"""The README is part of the plugin: every setting is documented and its example config
loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
from coderouter_adaptive import AdaptivePlugin

from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    assert AdaptivePlugin.Config is not None
    for field in attrs.fields(AdaptivePlugin.Config):
        assert f"| `{field.name}` |" in README, f"{field.name} is not in the README table"


def test_the_example_config_loads() -> None:
    [example] = [
        block
        for block in re.findall(r"```toml\n(.*?)```", README, re.S)
        if "[plugins.adaptive]" in block
    ]
    raw = tomllib.loads(example)
    builder = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .plugin("adaptive", **raw["plugins"]["adaptive"])
    )
    for profile, table in raw.get("profiles", {}).items():
        builder.profile(profile, ["local"], plugins=table["plugins"])
    builder.profile("default", ["local"])
    plugin = load_plugins(builder.build()).get_plugin("adaptive")
    assert isinstance(plugin, AdaptivePlugin)
    assert attrs.asdict(plugin.config) == {
        field.name: raw["plugins"]["adaptive"].get(field.name, field.default)
        for field in attrs.fields(AdaptivePlugin.Config)
    }
    for profile in raw.get("profiles", {}):
        assert plugin.config_for(profile) != plugin.config
