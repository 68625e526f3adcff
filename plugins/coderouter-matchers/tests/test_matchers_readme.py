"""The README's TOML examples stay valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from coderouter_matchers import MatchersConfig, MatchersPlugin

from coderouter.config import structure

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_example_loads_and_names_every_matcher() -> None:
    text = README.read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", text, re.S)
    data = tomllib.loads(example)
    assert data["plugins"]["enabled"] == ["matchers"]
    config = structure(
        data["plugins"]["matchers"], MatchersConfig, source="README.md", prefix="plugins.matchers"
    )
    plugin = MatchersPlugin(config)
    assert [r.name for r in plugin.rules] == [
        "images",
        "haiku",
        "infra-team",
        "pasted-code",
        "long",
    ]
    for key in (
        "has_image",
        "has_tools",
        "code_fence_ratio_min",
        "content_contains",
        "content_regex",
        "model_pattern",
        "content_token_count_min",
        "header",
    ):
        assert f"| `{key}` |" in text
