"""``coderouter capabilities``: resolved flags and where each came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coderouter.cli import main
from coderouter.testing import ConfigBuilder


def config_file(tmp_path: Path, **settings: Any) -> str:
    registry = tmp_path / "registry.toml"
    registry.write_text(
        '[[rules]]\nmodel = "qwen2.5-coder*"\nagent_suitability = "ok"\n', encoding="utf-8"
    )
    builder = (
        ConfigBuilder()
        .provider(
            "ollama",
            "http://127.0.0.1:9/v1",
            model="qwen2.5-coder:7b",
            capabilities={"max_context_tokens": 16384},
        )
        .provider(
            "claude", "https://api.anthropic.com", kind="anthropic", model="claude-sonnet-4-5"
        )
        .provider("custom", "http://127.0.0.1:9/v1", **settings)
        .profile("default", ["ollama", "claude", "custom"])
        .plugin("capabilities", registry_file=str(registry))
    )
    return str(builder.write(tmp_path))


def test_prints_every_flag_with_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path)
    assert main(["--config", path, "capabilities"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["ollama", "(openai,", "model", "qwen2.5-coder:7b)"]
    assert ["max_context_tokens", "16384", "provider", "config"] in lines
    assert [
        "agent_suitability",
        "ok",
        "registry",
        f"{tmp_path}/registry.toml",
        "rules[0]",
        "(qwen2.5-coder*)",
    ] in lines
    assert ["tools", "true", "bundled", "registry", "rules[12]", "(*qwen2.5-coder*)"] in lines
    assert ["cache_control", "unknown"] in lines
    assert ["custom", "(openai,", "model", "(the", "client's", "model))"] in lines


def test_one_provider_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file(tmp_path)
    assert main(["capabilities", "--config", path, "--provider", "claude", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["claude"]
    assert report["claude"]["flags"]["cache_control"] is True
    assert report["claude"]["flags"]["max_output_tokens"] == 64000
    assert report["claude"]["sources"]["cache_control"].startswith("bundled registry rules[0]")


def test_unknown_provider_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path)
    assert main(["--config", path, "capabilities", "--provider", "olama"]) == 2
    assert "unknown provider 'olama' (known: ollama, claude, custom)" in capsys.readouterr().err


def test_a_bad_provider_table_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, capabilities={"vison": True})
    assert main(["--config", path, "capabilities"]) == 2
    err = capsys.readouterr().err
    assert "providers[2].capabilities.vison: unknown key (valid keys: tools, vision" in err
