from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from coderouter.cli import main
from coderouter.config import parse_config
from coderouter.testing import ConfigBuilder


def test_check_prints_chains_and_plugins_in_call_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = (
        ConfigBuilder()
        .provider("ollama", "http://127.0.0.1:11434/v1")
        .provider("cloud", "https://api.example.com/v1", paid=True)
        .profile("default", ["ollama", "cloud"])
        .plugin("example")
        .write(tmp_path)
    )
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"config: {path}" in out
    assert "default (default): ollama (openai) -> cloud (openai, paid, skipped)" in out
    assert "plugins, in call order:\n  1. example" in out


def test_check_reports_config_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[providers]]\nname = "a"\nbase_url = "http://a"\n[profiles.default]\nproviders = ["b"]\n'
    )
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"config error in {path}: profiles.default.providers: unknown provider 'b'" in err


def test_init_writes_a_loadable_starter_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "coderouter.toml"
    assert main(["init", str(target)]) == 0
    text = target.read_text()
    assert text.startswith("# CodeRouter configuration")
    parse_config(tomllib.loads(text), source=str(target))
    target.write_text("# mine\n")
    assert main(["init", str(target)]) == 1
    assert target.read_text() == "# mine\n"
    assert "already exists" in capsys.readouterr().err


def test_plugins_lists_installed_and_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .profile("default", ["a"])
        .plugin("example")
        .write(tmp_path)
    )
    assert main(["plugins", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1. example (coderouter-example 0.1.0)" in out
    assert "hooks: after_attempt, describe_state, prepare_request" in out
