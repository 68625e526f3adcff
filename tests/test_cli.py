from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from coderouter.cli import main
from coderouter.config import DEFAULT_CONFIG_TOML, parse_config
from coderouter.testing import ConfigBuilder


def _one_provider(directory: Path, *plugins: str) -> Path:
    builder = ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"])
    for plugin in plugins:
        builder.plugin(plugin)
    return builder.write(directory)


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


@pytest.mark.parametrize(
    ("server", "refusal"),
    [
        (
            {"api_keys_env": "CODEROUTER_TEST_NO_SUCH_KEYS"},
            "server.api_keys_env: the environment variable CODEROUTER_TEST_NO_SUCH_KEYS is unset",
        ),
        ({"host": "0.0.0.0"}, "server.host: listening on '0.0.0.0' exposes the router"),
    ],
)
def test_check_refuses_what_serve_refuses_in_the_same_words(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: dict[str, str],
    refusal: str,
) -> None:
    monkeypatch.delenv("CODEROUTER_TEST_NO_SUCH_KEYS", raising=False)
    builder = ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"])
    path = builder.server(**server).write(tmp_path)
    assert main(["check", "--config", str(path)]) == 2
    check_err = capsys.readouterr().err
    assert main(["serve", "--config", str(path)]) == 2
    assert check_err == capsys.readouterr().err
    assert refusal in check_err


def test_check_accepts_a_non_loopback_host_when_unauthenticated_is_allowed(
    tmp_path: Path,
) -> None:
    builder = ConfigBuilder().provider("a", "http://a/v1").profile("default", ["a"])
    allowed = builder.server(host="0.0.0.0", allow_unauthenticated=True).write(tmp_path)
    assert main(["check", "--config", str(allowed)]) == 0


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


def test_init_writes_the_built_in_default(tmp_path: Path) -> None:
    target = tmp_path / "coderouter.toml"
    assert main(["init", str(target)]) == 0
    written = parse_config(tomllib.loads(target.read_text()), source="x")
    assert written == parse_config(tomllib.loads(DEFAULT_CONFIG_TOML), source="x")


def test_plugins_lists_installed_and_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _one_provider(tmp_path, "example")
    assert main(["plugins", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1. example (coderouter-example 0.1.0)" in out
    assert "hooks: after_attempt, describe_state, prepare_request" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(
        r"coderouter \d+\.\d+\.\d+\S* \(coderouter-host\)\n", capsys.readouterr().out
    )


def test_check_shows_each_provider_url_model_and_key_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CR_TEST_KEY_SET", "k")
    monkeypatch.delenv("CR_TEST_KEY_UNSET", raising=False)
    path = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:11434/v1", model="qwen")
        .provider("cloud", "https://api.example.com/v1", api_key_env="CR_TEST_KEY_SET")
        .provider("other", "https://other.example.com/v1", api_key_env="CR_TEST_KEY_UNSET")
        .profile("default", ["local", "cloud", "other"])
        .write(tmp_path)
    )
    assert main(["check", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    out = captured.out
    assert "  local  http://127.0.0.1:11434/v1  model qwen  no key\n" in out
    assert (
        "  cloud  https://api.example.com/v1  model (the client's)  key $CR_TEST_KEY_SET set\n"
        in out
    )
    assert "key $CR_TEST_KEY_UNSET NOT SET" in out
    assert "providers[2].api_key_env: CR_TEST_KEY_UNSET is not set" in captured.err
    assert "ok\n" not in out


def test_check_help_shows_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "--config PATH" in capsys.readouterr().out


def test_plugins_prints_one_line_description_per_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _one_provider(tmp_path)
    assert main(["plugins", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"backend_health +\[not enabled\] per-provider health from consecutive", out)
    assert "] CodeRouter plugin:" not in out


def test_plugin_commands_listed_in_help_when_not_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _one_provider(tmp_path)
    assert main(["--config", str(path)]) == 0
    help_text = capsys.readouterr().out
    assert re.search(r"stats +\(from the cost plugin, not enabled\)", help_text)
    assert re.search(r"capabilities\s+\(from the capabilities plugin, not enabled\)", help_text)
    assert main(["--config", str(path), "stats", "--since", "7d"]) == 2
    err = capsys.readouterr().err
    assert "coderouter stats comes from the cost plugin, which is not enabled" in err
    assert f"in {path}: add 'cost' to [plugins] enabled" in err


def test_plugin_command_when_enabled_is_the_real_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _one_provider(tmp_path, "capabilities")
    assert main(["--config", str(path)]) == 0
    help_text = capsys.readouterr().out
    assert "show what each provider's model can do" in help_text
    assert "from the capabilities plugin" not in help_text


def test_closed_pipe_prints_no_traceback() -> None:
    coderouter = Path(sys.executable).parent / "coderouter"
    result = subprocess.run(
        f"'{coderouter}' plugins --json | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CODEROUTER_CONFIG": ""},
    )
    assert result.stdout == "{\n"
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.stderr == ""


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    path = _one_provider(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "coderouter.cli", "serve", f"--config={path}", f"--port={port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use (another coderouter?); "
        "stop it or choose another port with --port\n"
    )
