"""Setup that plugin unit tests share: a fake clock, a plugin started in a plugin manager the way
a worker starts it, the config error a bad setting raises, and a README's TOML example laid over
a test config."""

from __future__ import annotations

import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy

from coderouter.config import Config, ConfigError, parse_config
from coderouter.log import RequestLog
from coderouter.plugins import load_plugins
from coderouter.testing.router import ConfigBuilder

__all__ = ["FakeClock", "config_error", "readme_config", "start_plugin"]


class FakeClock:
    """A clock for a plugin's ``clock=``: it stands at ``now`` until the test moves it."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start_plugin(
    pm: pluggy.PluginManager,
    plugin: object,
    name: str,
    *,
    clock: FakeClock,
    config: Config | None = None,
) -> list[dict[str, Any]]:
    """Register ``plugin`` as ``name`` in ``pm`` and run the ``startup`` hook with an app that
    has ``clock``, ``config`` (when given) and a request log that writes nowhere. Returns the
    list every record the plugins write to that log is appended to."""
    pm.register(plugin, name=name)
    events: list[dict[str, Any]] = []
    log = RequestLog(enabled=False)
    log.listeners.append(events.append)
    app = types.SimpleNamespace(log=log, clock=clock)
    if config is not None:
        app.config = config
    pm.hook.startup(app=app)
    return events


def config_error(plugin: str, settings: Mapping[str, Any], *, provider: str = "a") -> ConfigError:
    """The :class:`ConfigError` that loading the plugins of a config with one provider named
    ``provider`` and ``[plugins.<plugin>]`` set to ``settings`` raises; the test fails when none
    is raised."""
    import pytest  # only where a test runs: importing coderouter.testing needs no pytest

    builder = (
        ConfigBuilder()
        .provider(provider, "http://127.0.0.1:9/v1")
        .profile("default", [provider])
        .plugin(plugin, **settings)
    )
    with pytest.raises(ConfigError) as info:
        load_plugins(builder.build())
    return info.value


def readme_config(readme: Path, builder: ConfigBuilder) -> Config:
    """The config of ``builder`` with the ``[plugins]`` table and every
    ``[profiles.<p>.plugins]`` table of the one TOML example in ``readme`` laid over it."""
    [block] = re.findall(r"```toml\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    example = tomllib.loads(block)
    raw = builder.raw()
    raw["plugins"] = example["plugins"]
    for profile, table in example.get("profiles", {}).items():
        raw["profiles"][profile]["plugins"] = table["plugins"]
    return parse_config(raw, source=readme.name)
