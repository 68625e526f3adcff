"""The README is a tested artefact: every setting documented, every TOML example valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
import pytest
from coderouter_cost import CostConfig
from coderouter_cost.settings import COST_KEYS, parse_provider_cost

from coderouter.config import converter

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```toml\n(.*?)```", README, re.S)


@pytest.mark.parametrize("key", [f.name for f in attrs.fields(CostConfig)])
def test_every_plugin_setting_is_documented(key: str) -> None:
    assert re.search(rf"^{key} = ", README, re.M), f"[plugins.cost] {key} is undocumented"


@pytest.mark.parametrize("key", COST_KEYS)
def test_every_provider_cost_key_is_documented(key: str) -> None:
    assert re.search(rf"^{key} = ", README, re.M), f"[providers.cost] {key} is undocumented"


def test_toml_examples_are_valid() -> None:
    assert len(BLOCKS) >= 4
    checked = 0
    for block in BLOCKS:
        raw = tomllib.loads(block)
        for provider in raw.get("providers", []):
            cost, errors = parse_provider_cost(provider.get("cost", {}), "providers[0].cost")
            assert errors == []
            assert cost.monthly_budget_usd == 50.0
            checked += 1
        settings = raw.get("plugins", {}).get("cost")
        if settings is not None:
            converter.structure(settings, CostConfig)
            checked += 1
        for profile in raw.get("profiles", {}).values():
            converter.structure(profile["plugins"]["cost"], CostConfig)
            checked += 1
    assert checked >= 4
