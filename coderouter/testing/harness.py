"""Setup that plugin unit tests share: a fake clock, a plugin started in a plugin manager the way
a worker starts it, the records its hooks are called with, the config error a bad setting
raises, a README's TOML example laid over a test config, and the README checks of a plugin with
one settings table."""

from __future__ import annotations

import re
import tomllib
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pluggy

from coderouter.config import Config, ConfigError, ProviderConfig, parse_config
from coderouter.log import RequestLog
from coderouter.plugins import Plugin, load_plugins
from coderouter.state import EmbeddedStore
from coderouter.testing.router import ConfigBuilder
from coderouter.types import Attempt, Chain, Draft, RequestView

__all__ = [
    "FakeClock",
    "assert_readme_example_loads",
    "assert_settings_documented",
    "attempt_at",
    "bare_request",
    "config_error",
    "filtered_chain",
    "readme_config",
    "start_plugin",
]


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
    has ``clock``, ``config`` (when given), the embedded state store and a request log that
    writes nowhere. Returns the
    list every record the plugins write to that log is appended to."""
    pm.register(plugin, name=name)
    events: list[dict[str, Any]] = []
    log = RequestLog(enabled=False)
    log.listeners.append(events.append)
    app = types.SimpleNamespace(log=log, clock=clock, store=EmbeddedStore())
    if config is not None:
        app.config = config
    pm.hook.startup(app=app)
    return events


def bare_request(*, profile: str = "", stream: bool | None = None) -> RequestView:
    """A Chat request with no messages, as a guard's hooks see one (``stream`` is in the body
    unless ``None``)."""
    body: dict[str, Any] = {"model": "m", "messages": []}
    if stream is not None:
        body["stream"] = stream
    return RequestView("openai_chat", body, {}, profile=profile)


def attempt_at(
    provider: ProviderConfig,
    request: RequestView,
    *,
    profile: str = "default",
    clock: FakeClock | None = None,
) -> Attempt:
    """The first attempt of ``request`` at ``provider``; with ``clock``, started by it now."""
    if clock is None:
        return Attempt(Draft(request), provider, 0, profile)
    return Attempt(Draft(request), provider, 0, profile, clock=clock, started_at=clock())


def filtered_chain(
    pm: pluggy.PluginManager, providers: Iterable[ProviderConfig], request: RequestView
) -> Chain:
    """``providers`` as the chain of ``request``'s profile, after the plugins'
    ``filter_chain``."""
    chain = Chain(request.profile, list(providers))
    pm.hook.filter_chain(request=request, chain=chain)
    return chain


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


def assert_settings_documented(readme: Path, plugin_class: type[Plugin]) -> None:
    """Every field of ``plugin_class.Config`` has a row ``| `<field>` |`` in ``readme``."""
    assert plugin_class.Config is not None, f"{plugin_class.__name__} has no Config"
    text = readme.read_text(encoding="utf-8")
    for field in attrs.fields(plugin_class.Config):
        assert f"| `{field.name}` |" in text, f"{field.name} is not in the README table"


def assert_readme_example_loads(readme: Path, plugin_class: type[Plugin], name: str) -> None:
    """The TOML example in ``readme`` with a ``[plugins.<name>]`` table loads over one provider:
    ``name`` is a ``plugin_class`` whose config holds the example's settings (the defaults for
    the rest), and every profile the example configures gets a config of its own."""
    assert plugin_class.Config is not None, f"{plugin_class.__name__} has no Config"
    [example] = [
        block
        for block in re.findall(r"```toml\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
        if f"[plugins.{name}]" in block
    ]
    raw = tomllib.loads(example)
    settings = raw["plugins"][name]
    builder = ConfigBuilder().provider("local", "http://127.0.0.1:9/v1").plugin(name, **settings)
    for profile, table in raw.get("profiles", {}).items():
        builder.profile(profile, ["local"], plugins=table["plugins"])
    builder.profile("default", ["local"])
    plugin = load_plugins(builder.build()).get_plugin(name)
    assert isinstance(plugin, plugin_class)
    assert attrs.asdict(plugin.config) == {
        field.name: settings.get(field.name, field.default)
        for field in attrs.fields(plugin_class.Config)
    }
    for profile in raw.get("profiles", {}):
        assert plugin.config_for(profile) != plugin.config
