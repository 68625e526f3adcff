"""Docs are a tested artefact: hooks documented, example configs loading, __all__ honest."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from pathlib import Path

import attrs
import pytest

from coderouter import hookspecs
from coderouter.config import (
    KeyConfig,
    ProfileConfig,
    ProviderConfig,
    RouterConfig,
    ServerConfig,
    StateConfig,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and hasattr(value, "coderouter_spec")
)


def test_hookspecs_found() -> None:
    assert "filter_chain" in HOOKS and "describe_state" in HOOKS and len(HOOKS) == 18


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = (ROOT / "docs" / "plugins" / "hooks.md").read_text()
    assert f"\n## {hook}\n" in text, f"docs/plugins/hooks.md has no section for {hook}"
    assert getattr(hookspecs, hook).__doc__, f"hookspecs.{hook} has no docstring"


@pytest.mark.parametrize(
    "cls", [ServerConfig, RouterConfig, ProviderConfig, ProfileConfig, StateConfig, KeyConfig]
)
def test_every_config_key_is_documented(cls: type) -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for field in attrs.fields(cls):
        assert f"| `{field.name}` |" in text, f"{cls.__name__}.{field.name} is undocumented"


@pytest.mark.parametrize("path", sorted((ROOT / "contrib").glob("*.toml")), ids=str)
def test_contrib_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.profiles


def _toml_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]:
        for match in re.finditer(r"```toml\n(.*?)```", doc.read_text(), re.S):
            if "[[providers]]" in match.group(1) and "[profiles." in match.group(1):
                blocks.append((f"{doc.name}:{match.start()}", match.group(1)))
    return blocks


@pytest.mark.parametrize(("where", "text"), _toml_blocks(), ids=lambda v: str(v)[:30])
def test_full_configs_in_docs_load(where: str, text: str) -> None:
    raw = tomllib.loads(text)
    raw.get("plugins", {}).pop("enabled", None)
    assert parse_config(raw, source=where).profiles


@pytest.mark.parametrize(
    "module",
    [
        "coderouter",
        "coderouter.types",
        "coderouter.config",
        "coderouter.plugins",
        "coderouter.testing",
        "coderouter.router",
        "coderouter.wire.model",
    ],
)
def test_dunder_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{module}.__all__ names missing {name}"
