"""The README is part of the plugin: every setting is documented and its example config
loads."""

from __future__ import annotations

from pathlib import Path

from coderouter_backend_health import BackendHealthPlugin

from coderouter.testing import assert_readme_example_loads, assert_settings_documented

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented() -> None:
    assert_settings_documented(README, BackendHealthPlugin)


def test_the_example_config_loads() -> None:
    assert_readme_example_loads(README, BackendHealthPlugin, "backend_health")
