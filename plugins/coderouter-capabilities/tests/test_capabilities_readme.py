"""The README's TOML examples stay valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from coderouter_capabilities import CapabilitiesConfig, Registry
from coderouter_capabilities.fields import FIELDS, check_values

from coderouter.config import structure

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_examples_load() -> None:
    text = README.read_text(encoding="utf-8")
    config_example, registry_example = re.findall(r"```toml\n(.*?)```", text, re.S)
    data = tomllib.loads(config_example)
    settings = structure(
        data["plugins"]["capabilities"],
        CapabilitiesConfig,
        source="README.md",
        prefix="plugins.capabilities",
    )
    assert settings.registry_file == "/etc/coderouter/capabilities.toml"
    override = data["profiles"]["raw"]["plugins"]["capabilities"]
    structure(override, CapabilitiesConfig, source="README.md", prefix="profiles.raw")
    for provider in data["providers"]:
        assert check_values(provider["capabilities"], "providers")[1] == []
    registry = Registry.parse(registry_example, "README.md")
    assert len(registry.rules) == 2
    for field in FIELDS:
        assert f"| `{field}` |" in text
