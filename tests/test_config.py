from __future__ import annotations

import tomllib
from pathlib import Path

import attrs
import pytest

from coderouter.config import (
    DEFAULT_CONFIG_TOML,
    ConfigError,
    find_config,
    load_config,
    parse_config,
    structure,
)

BASE = """
[[providers]]
name = "ollama"
base_url = "http://127.0.0.1:11434/v1"

[[providers]]
name = "openrouter"
base_url = "https://openrouter.ai/api/v1"
paid = true

[profiles.default]
providers = ["ollama", "openrouter"]
"""


def parse(text: str) -> object:
    return parse_config(tomllib.loads(text), source="coderouter.toml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_built_in_default_has_local_backends_on_usual_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEROUTER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config()
    assert config.source == "<built-in default>"
    urls = {p.name: p.base_url for p in config.providers}
    assert urls == {
        "ollama": "http://127.0.0.1:11434/v1",
        "llamacpp": "http://127.0.0.1:8080/v1",
        "lmstudio": "http://127.0.0.1:1234/v1",
    }
    assert config.profiles["default"].providers == ["ollama", "llamacpp", "lmstudio"]
    assert config.server.host == "127.0.0.1"
    assert config.plugins.enabled == ["backend_health", "output_filters", "tool_repair", "metrics"]
    assert config.plugins.settings == {"backend_health": {"action": "skip"}}


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEROUTER_CONFIG", raising=False)
    assert find_config() is None
    user = tmp_path / "home" / ".config" / "coderouter" / "coderouter.toml"
    user.parent.mkdir(parents=True)
    user.write_text(DEFAULT_CONFIG_TOML)
    assert find_config() == user
    local = tmp_path / "coderouter.toml"
    local.write_text(DEFAULT_CONFIG_TOML)
    assert find_config() == Path("coderouter.toml")
    env = tmp_path / "env.toml"
    env.write_text(DEFAULT_CONFIG_TOML)
    monkeypatch.setenv("CODEROUTER_CONFIG", str(env))
    assert find_config() == env
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(DEFAULT_CONFIG_TOML)
    assert find_config(explicit) == explicit
    with pytest.raises(ConfigError, match=r"config file not found: .*missing\.toml"):
        find_config(tmp_path / "missing.toml")


def test_valid_config_parses_with_defaults() -> None:
    config = parse(BASE)
    assert config.provider("openrouter").paid is True
    assert config.provider("ollama").kind == "openai"
    assert config.provider("ollama").timeout_s == 60.0
    assert config.router.default_profile == "default"


def test_unknown_provider_in_profile_lists_known() -> None:
    text = BASE.replace('["ollama", "openrouter"]', '["olama"]')
    assert error_of(text) == (
        "config error in coderouter.toml: profiles.default.providers: "
        "unknown provider 'olama' (known: ollama, openrouter)"
    )


def test_wrong_type_names_key_path_and_expectation() -> None:
    text = BASE + '\n[server]\nport = "eighty"\n'
    assert error_of(text) == (
        "config error in coderouter.toml: server.port: expected an integer, got 'eighty'"
    )


def test_client_deadlines_and_connection_cap_must_be_positive() -> None:
    text = BASE + "\n[server]\nheader_timeout_s = 0\nbody_timeout_s = -1\nmax_connections = 0\n"
    message = error_of(text)
    assert "server.header_timeout_s: must be a number of seconds above 0" in message
    assert "server.body_timeout_s: must be a number of seconds above 0" in message
    assert "server.max_connections: must be at least 1" in message


def test_bad_kind_lists_choices() -> None:
    text = BASE.replace('name = "ollama"\n', 'name = "ollama"\nkind = "gemini"\n')
    expected = (
        "providers[0].kind: unknown value 'gemini' (valid: openai, anthropic, openai_responses)"
    )
    assert expected in error_of(text)


def test_bad_http_client_lists_choices() -> None:
    text = BASE + '\n[router]\nhttp_client = "curl"\n'
    assert error_of(text) == (
        "config error in coderouter.toml: router.http_client: "
        "unknown value 'curl' (valid: builtin, httpx)"
    )


def test_unknown_key_lists_valid_keys() -> None:
    text = BASE.replace('name = "ollama"\n', 'name = "ollama"\nbase_ur = "x"\n')
    message = error_of(text)
    assert (
        "providers[0].base_ur: unknown key "
        "(valid keys: api_key_env, append_system_prompt, base_url," in message
    )


def test_missing_required_key() -> None:
    text = BASE.replace(
        'name = "ollama"\nbase_url = "http://127.0.0.1:11434/v1"\n', 'name = "ollama"\n'
    )
    assert "providers[0].base_url: required key is missing" in error_of(text)


def test_unknown_top_level_table_and_default_profile() -> None:
    assert "bogus: unknown table" in error_of(BASE + "\n[bogus]\nx = 1\n")
    message = error_of(BASE + '\n[router]\ndefault_profile = "fast"\n')
    assert "router.default_profile: unknown profile 'fast' (known: default)" in message


def test_duplicate_provider_and_bad_url() -> None:
    text = BASE + '\n[[providers]]\nname = "ollama"\nbase_url = "localhost:1"\n'
    message = error_of(text)
    assert "providers[2].name: duplicate provider name 'ollama'" in message
    assert "providers[2].base_url: expected an http:// or https:// URL" in message


def test_mode_alias_must_name_profile() -> None:
    message = error_of(BASE + '\n[router.mode_aliases]\nfast = "quick"\n')
    assert "router.mode_aliases.fast: unknown profile 'quick' (known: default)" in message


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match=r"config error in .*broken.toml: not valid TOML"):
        load_config(path)


def test_paid_allowed_by_router_profile_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEROUTER_ALLOW_PAID", raising=False)
    config = parse(BASE)
    assert config.paid_allowed("default") is False
    monkeypatch.setenv("CODEROUTER_ALLOW_PAID", "1")
    assert config.paid_allowed("default") is True
    monkeypatch.delenv("CODEROUTER_ALLOW_PAID")
    allowed = parse(BASE.replace("[profiles.default]\n", "[profiles.default]\nallow_paid = true\n"))
    assert allowed.paid_allowed("default") is True


@attrs.frozen
class Rule:
    name: str


@attrs.frozen
class Settings:
    names: list[str] = attrs.Factory(list)
    rules: list[Rule] = attrs.Factory(list)
    tables: dict[str, Rule] = attrs.Factory(dict)


def test_a_string_is_not_a_list_and_paths_name_list_items_and_table_keys() -> None:
    def error(data: dict[str, object]) -> str:
        with pytest.raises(ConfigError) as info:
            structure(data, Settings, source="c.toml", prefix="plugins.p")
        return str(info.value)

    assert error({"names": "local"}).endswith("plugins.p.names: expected a list, got 'local'")
    assert error({"names": ["a", 3]}).endswith("plugins.p.names[1]: expected a string, got 3")
    assert "plugins.p.rules[1].name: required key is missing" in error(
        {"rules": [{"name": "x"}, {}]}
    )
    assert "plugins.p.tables.local.name: expected a string, got 5" in error(
        {"tables": {"local": {"name": 5}}}
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ('"x-team" = "a\\nb"', "providers[0].headers.x-team: the value contains a line break"),
        ('"x team" = "a"', "providers[0].headers.x team: not a valid header name"),
        ('"x-team" = "é€"', "providers[0].headers.x-team: the value has characters outside"),
        ('"Content-Length" = "5"', "providers[0].headers.Content-Length: the client sets this"),
        ('"transfer-encoding" = "chunked"', "headers.transfer-encoding: the client sets this"),
        ('"Host" = "evil.example"', "providers[0].headers.Host: the client sets this header"),
        ('"connection" = "close"', "providers[0].headers.connection: the client sets this"),
    ],
)
def test_provider_headers_must_fit_http(headers: str, expected: str) -> None:
    text = BASE.replace('name = "ollama"\n', f'name = "ollama"\nheaders = {{ {headers} }}\n')
    assert expected in error_of(text)


def test_base_url_needs_a_host_and_a_numeric_port() -> None:
    no_host = BASE.replace("http://127.0.0.1:11434/v1", "http:///v1")
    assert "providers[0].base_url: not an http(s) URL: 'http:///v1'" in error_of(no_host)
    bad_port = BASE.replace("127.0.0.1:11434", "127.0.0.1:ollama")
    assert "providers[0].base_url: Port could not be cast" in error_of(bad_port)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pw@127.0.0.1:11434/v1", "the URL carries user info"),
        ("http://key@127.0.0.1:11434/v1", "the URL carries user info"),
        ("http://127.0.0.1:11434/v1 /x", "the URL contains a space or a control character"),
        ("http://127.0.0.1:11434/v1\t", "the URL contains a space or a control character"),
    ],
)
def test_base_url_without_user_info_or_spaces(url: str, expected: str) -> None:
    text = BASE.replace('"http://127.0.0.1:11434/v1"', f'"{url}"')
    assert f"providers[0].base_url: {expected}" in error_of(text)


def test_api_key_loses_surrounding_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CR_TEST_KEY", "sk-test-123\n")
    text = BASE.replace("paid = true\n", 'paid = true\napi_key_env = "CR_TEST_KEY"\n')
    config = parse(text)
    assert config.providers[1].api_key == "sk-test-123"  # type: ignore[attr-defined]


def test_a_profiles_plugin_switch_is_true_or_false() -> None:
    text = BASE + '\n[profiles.default.plugins.tool_repair]\nenabled = "no"\n'
    assert error_of(text) == (
        "config error in coderouter.toml: profiles.default.plugins.tool_repair.enabled: "
        "expected true or false, got 'no'"
    )
