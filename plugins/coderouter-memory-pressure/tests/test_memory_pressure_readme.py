"""The README is part of the plugin: every setting is documented and its example config
loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
from coderouter_memory_pressure import MemoryPressurePlugin

from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    assert MemoryPressurePlugin.Config is not None
    for field in attrs.fields(MemoryPressurePlugin.Config):
        assert f"| `{field.name}` |" in README, f"{field.name} is not in the README table"


def test_the_example_config_loads() -> None:
    [example] = [
        block
        for block in re.findall(r"```toml\n(.*?)```", README, re.S)
        if "[plugins.memory_pressure]" in block
    ]
    raw = tomllib.loads(example)
    builder = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .plugin("memory_pressure", **raw["plugins"]["memory_pressure"])
    )
    for profile, table in raw.get("profiles", {}).items():
        builder.profile(profile, ["local"], plugins=table["plugins"])
    builder.profile("default", ["local"])
    plugin = load_plugins(builder.build()).get_plugin("memory_pressure")
    assert isinstance(plugin, MemoryPressurePlugin)
    assert attrs.asdict(plugin.config) == {
        field.name: raw["plugins"]["memory_pressure"].get(field.name, field.default)
        for field in attrs.fields(MemoryPressurePlugin.Config)
    }
    for profile in raw.get("profiles", {}):
        assert plugin.config_for(profile) != plugin.config
