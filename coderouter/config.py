"""The core TOML configuration: attrs classes, structuring with readable errors, lookup order.

Plugin settings (``[plugins.<name>]`` and ``[profiles.<p>.plugins.<name>]``) are kept as raw
tables here and structured by :mod:`coderouter.plugins` into each plugin's own ``Config``.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from coderouter.http1 import Endpoint, header_problem
from coderouter.keyconfig import KeyConfig, key_errors
from coderouter.starter import STARTER_CONFIG

__all__ = [
    "DEFAULT_CONFIG_TOML",
    "Config",
    "ConfigError",
    "Deadlines",
    "KeyConfig",
    "PluginsConfig",
    "ProfileConfig",
    "ProviderConfig",
    "RouterConfig",
    "ServerConfig",
    "builtin_default",
    "converter",
    "deadlines_for",
    "find_config",
    "load_config",
    "parse_config",
]

PROVIDER_KINDS = ("openai", "anthropic", "openai_responses")
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_TRAILER_BYTES = 64 * 1024
DEFAULT_MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024
DEFAULT_TOTAL_TIMEOUT_S = 3600.0
_VALIDATOR_ERROR = re.compile(r"^'(\w+)' must be (.*): (.*)$")
_LITERAL_ERROR = re.compile(r"^(.*) not in literal typing\.Literal\[(.*)\]$")


class ConfigError(Exception):
    """A configuration problem, worded for the operator: file, key path, expected, found."""


@attrs.frozen
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8088
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    graceful_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000
    api_keys_env: str = ""
    allow_unauthenticated: bool = False
    allowed_hosts: list[str] = attrs.Factory(list)
    dashboard_cookie_secure: Literal["auto", "always", "never"] = "auto"
    keys: list[KeyConfig] = attrs.Factory(list)


@attrs.frozen
class RouterConfig:
    default_profile: str = "default"
    allow_paid: bool = False
    mode_aliases: dict[str, str] = attrs.Factory(dict)
    state_dir: str = ""
    log_requests: bool = True
    http_client: Literal["builtin", "httpx"] = "builtin"
    resume: Literal["off", "text", "all"] = "text"


@attrs.frozen
class ProviderConfig:
    name: str
    base_url: str
    kind: Literal["openai", "anthropic", "openai_responses"] = "openai"
    model: str = ""
    api_key_env: str = ""
    paid: bool = False
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    first_byte_timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_decompressed_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_trailer_bytes: int = DEFAULT_MAX_TRAILER_BYTES
    max_sse_event_bytes: int = DEFAULT_MAX_SSE_EVENT_BYTES
    headers: dict[str, str] = attrs.Factory(dict)
    capabilities: dict[str, Any] = attrs.Factory(dict)
    cost: dict[str, Any] = attrs.Factory(dict)
    extra_body: dict[str, Any] = attrs.Factory(dict)
    append_system_prompt: str = ""

    @property
    def api_key(self) -> str:
        """The key from ``api_key_env``, without the surrounding whitespace (a newline from a
        ``.env`` file would otherwise break the request's headers)."""
        return os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""

    def model_for(self, requested: str) -> str:
        """The model name sent upstream: the provider's own, else the client's."""
        return self.model or requested


@attrs.frozen
class ProfileConfig:
    providers: list[str]
    allow_paid: bool | None = None
    resume: Literal["off", "text", "all"] | None = None
    append_system_prompt: str = ""
    timeout_s: float | None = None
    plugins: dict[str, dict[str, Any]] = attrs.Factory(dict)
    first_byte_timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    total_timeout_s: float | None = None


DEADLINE_KEYS = ("timeout_s", "first_byte_timeout_s", "first_token_timeout_s", "total_timeout_s")
"""Provider deadlines a profile may override for every provider in its chain."""


@attrs.frozen
class Deadlines:
    """One provider's deadlines within one profile, in seconds."""

    timeout_s: float
    """The longest silence between two reads."""
    first_byte_timeout_s: float
    """From the request's write to the end of the response head."""
    first_token_timeout_s: float
    """From the request's write to a stream's first content (the commit)."""
    total_timeout_s: float
    """From the request's write to the end of the response."""


def deadlines_for(provider: ProviderConfig, profile: ProfileConfig | None) -> Deadlines:
    """The profile's overrides over the provider's settings; an unset first-byte or
    first-token deadline is the read timeout."""

    def pick(key: str) -> float | None:
        override = getattr(profile, key) if profile is not None else None
        value: float | None = override if override is not None else getattr(provider, key)
        return value

    timeout = pick("timeout_s") or provider.timeout_s
    return Deadlines(
        timeout_s=timeout,
        first_byte_timeout_s=pick("first_byte_timeout_s") or timeout,
        first_token_timeout_s=pick("first_token_timeout_s") or timeout,
        total_timeout_s=pick("total_timeout_s") or provider.total_timeout_s,
    )


STATE_URL_SCHEMES = ("redis", "rediss", "unix")


@attrs.frozen
class StateConfig:
    """``[state]``: where plugins keep state that several hosts may share."""

    backend: Literal["embedded", "redis"] = "embedded"
    url: str = ""
    prefix: str = "coderouter:"
    on_outage: Literal["closed", "open"] = "closed"


@attrs.frozen
class PluginsConfig:
    enabled: list[str] = attrs.Factory(list)
    settings: dict[str, dict[str, Any]] = attrs.Factory(dict)


@attrs.frozen
class Config:
    providers: list[ProviderConfig]
    profiles: dict[str, ProfileConfig]
    server: ServerConfig = ServerConfig()
    router: RouterConfig = RouterConfig()
    plugins: PluginsConfig = PluginsConfig()
    state: StateConfig = StateConfig()
    source: str = "<built-in default>"

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def provider_names(self) -> list[str]:
        return [p.name for p in self.providers]

    def resume_mode(self, profile: str) -> Literal["off", "text", "all"]:
        """How a stream that breaks after commit is continued: the profile's ``resume``,
        else ``router.resume``."""
        prof = self.profiles.get(profile)
        if prof is not None and prof.resume is not None:
            return prof.resume
        return self.router.resume

    def paid_allowed(self, profile: str) -> bool:
        """``CODEROUTER_ALLOW_PAID`` (``1`` forces paid use on, ``0`` off), else the profile's
        ``allow_paid``, else the router's."""
        forced = os.environ.get("CODEROUTER_ALLOW_PAID", "").strip().lower()
        if forced in ("1", "true", "yes"):
            return True
        if forced in ("0", "false", "no"):
            return False
        prof = self.profiles.get(profile)
        if prof is not None and prof.allow_paid is not None:
            return prof.allow_paid
        return self.router.allow_paid

    @property
    def state_path(self) -> Path:
        """Where durable state lives: ``router.state_dir``, else the per-user data dir."""
        if self.router.state_dir:
            return Path(self.router.state_dir).expanduser()
        import platformdirs

        return Path(platformdirs.user_data_dir("coderouter"))

    def profile_chain(self, profile: str) -> list[ProviderConfig]:
        return [self.provider(name) for name in self.profiles[profile].providers]


converter = cattrs.Converter(forbid_extra_keys=True)


def _structure_strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _structure_strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _structure_strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _structure_strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _is_list_type(cls: Any) -> bool:
    return cls is list or typing.get_origin(cls) is list


def _list_hook_factory(cls: Any) -> Callable[[Any, Any], list[Any]]:
    """Lists that refuse a string (cattrs would split it into characters)."""
    args = typing.get_args(cls)
    item_type = args[0] if args else Any
    item_hook = converter.get_structure_hook(item_type)

    def structure_list(value: Any, _: Any) -> list[Any]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {value!r}")
        out: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                out.append(item_hook(item, item_type))
            except Exception as exc:
                exc.add_note(
                    IterableValidationNote(f"Structuring list @ index {index}", index, item_type)
                )
                errors.append(exc)
        if errors:
            raise IterableValidationError("While structuring a list", errors, cls)
        return out

    return structure_list


converter.register_structure_hook_factory(_is_list_type, _list_hook_factory)
converter.register_structure_hook(bool, _structure_strict_bool)
converter.register_structure_hook(int, _structure_strict_int)
converter.register_structure_hook(float, _structure_strict_float)
converter.register_structure_hook(str, _structure_strict_str)


def describe_structure_error(exc: BaseException, prefix: str = "") -> list[str]:
    """Flatten a cattrs error tree into ``key.path: message`` lines."""
    lines: list[str] = []

    def walk(err: BaseException, path: str) -> None:
        if isinstance(err, ForbiddenExtraKeysError):
            allowed = sorted(a.name for a in attrs.fields(err.cl)) if attrs.has(err.cl) else []
            for key in sorted(err.extra_fields):
                where = f"{path}.{key}" if path else key
                lines.append(f"{where}: unknown key (valid keys: {', '.join(allowed)})")
            return
        if isinstance(err, ClassValidationError | IterableValidationError):
            for sub in err.exceptions:
                note = _note_of(sub)
                walk(sub, _join(path, note))
            return
        if isinstance(err, KeyError):
            lines.append(f"{path}: required key is missing")
            return
        validator = _VALIDATOR_ERROR.match(str(err))
        if validator:
            name, condition, value = validator.groups()
            lines.append(f"{_join(path, name)}: must be {condition}, got {value}")
            return
        lines.append(f"{path or '(top level)'}: {_plain(err)}")

    walk(exc, prefix)
    return lines


def _note_of(err: BaseException) -> str:
    for note in getattr(err, "__notes__", []):
        name = getattr(note, "name", None)
        if name is not None:
            return str(name) if isinstance(name, str) else f"[{name}]"
        idx = getattr(note, "index", None)
        if idx is not None:
            return str(idx) if isinstance(idx, str) else f"[{idx}]"
        text = str(note)
        if text.startswith("Structuring class ") or text.startswith("Structuring "):
            continue
        if "@ index" in text:
            return f"[{text.rsplit(' ', 1)[-1]}]"
        if text.startswith("Structuring key ") or "attribute" in text:
            return text.rsplit(" ", 1)[-1].strip("'`")
    return ""


def _join(path: str, part: str) -> str:
    if not part:
        return path
    if part.startswith("["):
        return f"{path}{part}"
    return f"{path}.{part}" if path else part


def _plain(err: BaseException) -> str:
    text = str(err)
    literal = _LITERAL_ERROR.match(text)
    if literal:
        choices = ", ".join(c.strip().strip("'") for c in literal.group(2).split(","))
        return f"unknown value {literal.group(1)!r} (valid: {choices})"
    return text or type(err).__name__


def structure(data: Any, cls: type[Any], *, source: str, prefix: str = "") -> Any:
    """Structure ``data`` into ``cls`` or raise :class:`ConfigError` naming every bad key."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        lines = describe_structure_error(exc, prefix)
        raise ConfigError(
            "\n".join(f"config error in {source}: {line}" for line in lines)
        ) from None


def _table(raw: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config error in {source}: {key}: expected a table, got {value!r}")
    return value


def parse_config(raw: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Build a :class:`Config` from a TOML document already parsed into ``raw``."""
    known = {"server", "router", "plugins", "providers", "profiles", "state"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"config error in {source}: {key}: unknown table "
                f"(valid: {', '.join(sorted(known))})"
            )
    plugins_raw = dict(_table(raw, "plugins", source))
    enabled = plugins_raw.pop("enabled", [])
    if not isinstance(enabled, list) or not all(isinstance(n, str) for n in enabled):
        raise ConfigError(
            f"config error in {source}: plugins.enabled: expected a list of plugin names, "
            f"got {enabled!r}"
        )
    for name, table in plugins_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"config error in {source}: plugins.{name}: expected a table of settings, "
                f"got {table!r}"
            )
    providers_raw = raw.get("providers", [])
    if not isinstance(providers_raw, list):
        raise ConfigError(
            f"config error in {source}: providers: expected an array of tables ([[providers]])"
        )
    providers = [
        structure(p, ProviderConfig, source=source, prefix=f"providers[{i}]")
        for i, p in enumerate(providers_raw)
    ]
    profiles_raw = _table(raw, "profiles", source)
    profiles = {
        name: structure(p, ProfileConfig, source=source, prefix=f"profiles.{name}")
        for name, p in profiles_raw.items()
    }
    config = Config(
        providers=providers,
        profiles=profiles,
        server=structure(
            _table(raw, "server", source), ServerConfig, source=source, prefix="server"
        ),
        router=structure(
            _table(raw, "router", source), RouterConfig, source=source, prefix="router"
        ),
        plugins=PluginsConfig(enabled=list(enabled), settings=plugins_raw),
        state=structure(_table(raw, "state", source), StateConfig, source=source, prefix="state"),
        source=source,
    )
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-references the type system cannot check: names, kinds, URLs."""
    errors = _provider_errors(config) + _profile_errors(config) + _state_errors(config.state)
    errors += key_errors(
        config.server.keys, config.profiles, api_keys_env=config.server.api_keys_env
    )
    if config.server.max_body_bytes < 1024:
        errors.append("server.max_body_bytes: must be at least 1024")
    if config.server.workers < 1:
        errors.append("server.workers: must be at least 1")
    for key in ("header_timeout_s", "body_timeout_s"):
        if not getattr(config.server, key) > 0:
            errors.append(f"server.{key}: must be a number of seconds above 0")
    if config.server.max_connections < 1:
        errors.append("server.max_connections: must be at least 1")
    if not 1 <= config.server.port <= 65535:
        errors.append(f"server.port: must be between 1 and 65535, got {config.server.port}")
    if errors:
        raise ConfigError("\n".join(f"config error in {config.source}: {e}" for e in errors))


def _state_errors(state: StateConfig) -> list[str]:
    if state.backend != "redis":
        return []
    schemes = ", ".join(f"{s}://" for s in STATE_URL_SCHEMES)
    if not state.url:
        return [
            'state.url: required when state.backend is "redis" '
            f"(for example redis://127.0.0.1:6379/0; schemes: {schemes})"
        ]
    scheme = state.url.partition("://")[0] if "://" in state.url else ""
    errors = []
    if scheme not in STATE_URL_SCHEMES:
        errors.append(f"state.url: unknown scheme in {state.url!r} (valid: {schemes})")
    if not state.prefix:
        errors.append('state.prefix: must not be empty (the default is "coderouter:")')
    return errors


def _provider_errors(config: Config) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    for i, p in enumerate(config.providers):
        where = f"providers[{i}]"
        if not p.name:
            errors.append(f"{where}.name: must not be empty")
        if p.name in seen:
            errors.append(f"{where}.name: duplicate provider name {p.name!r}")
        seen.add(p.name)
        if p.kind not in PROVIDER_KINDS:
            errors.append(
                f"{where}.kind: unknown kind {p.kind!r} (valid: {', '.join(PROVIDER_KINDS)})"
            )
        if not p.base_url.startswith(("http://", "https://")):
            errors.append(
                f"{where}.base_url: expected an http:// or https:// URL, got {p.base_url!r}"
            )
        else:
            try:
                Endpoint(p.base_url)
            except ValueError as exc:
                errors.append(f"{where}.base_url: {exc}")
        for header, value in p.headers.items():
            problem = header_problem(header, value)
            if problem:
                errors.append(f"{where}.headers.{header}: {problem}")
        errors += _positive(where, p, ("connect_timeout_s", *DEADLINE_KEYS))
        errors += _at_least(
            where,
            p,
            {
                "max_response_bytes": 1024,
                "max_decompressed_bytes": 1024,
                "max_trailer_bytes": 0,
                "max_sse_event_bytes": 1024,
            },
        )
    return errors


_LOOPBACK = ("localhost", "::1", "[::1]")


def _is_loopback(base_url: str) -> bool:
    host = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return host in _LOOPBACK or host.startswith("127.")


def missing_key_errors(config: Config) -> list[str]:
    """Providers that need a key and would go out without one: ``api_key_env`` names an unset
    variable, the provider is not on this machine, and some profile may use it (paid ones
    only where paid use is allowed). Checked by ``coderouter check`` and before ``serve``,
    not at load: the environment of the process that serves is what counts."""
    errors: list[str] = []
    for i, p in enumerate(config.providers):
        if not p.api_key_env or p.api_key or _is_loopback(p.base_url):
            continue
        users = [
            name
            for name, prof in config.profiles.items()
            if p.name in prof.providers and (not p.paid or config.paid_allowed(name))
        ]
        if users:
            errors.append(
                f"providers[{i}].api_key_env: {p.api_key_env} is not set; provider "
                f"{p.name!r} ({p.base_url}) needs it for profile {users[0]!r} "
                "(set the variable, or remove the provider from the profile)"
            )
    return errors


def _positive(where: str, table: Any, keys: tuple[str, ...]) -> list[str]:
    errors = []
    for key in keys:
        value = getattr(table, key)
        if value is not None and value <= 0:
            errors.append(f"{where}.{key}: must be positive, got {value}")
    return errors


def _at_least(where: str, table: Any, minimums: dict[str, int]) -> list[str]:
    return [
        f"{where}.{key}: must be at least {least}, got {getattr(table, key)}"
        for key, least in minimums.items()
        if getattr(table, key) < least
    ]


def _profile_errors(config: Config) -> list[str]:
    errors: list[str] = []
    seen = set(config.provider_names)
    known = ", ".join(config.provider_names) or "none defined"
    if not config.profiles:
        errors.append("profiles: at least one profile is required ([profiles.default])")
    for name, prof in config.profiles.items():
        errors += _positive(f"profiles.{name}", prof, DEADLINE_KEYS)
        if not prof.providers:
            errors.append(f"profiles.{name}.providers: must name at least one provider")
        for pname in prof.providers:
            if pname not in seen:
                errors.append(
                    f"profiles.{name}.providers: unknown provider {pname!r} (known: {known})"
                )
        for plugin, table in prof.plugins.items():
            switch = table.get("enabled", True) if isinstance(table, dict) else True
            if not isinstance(switch, bool):
                errors.append(
                    f"profiles.{name}.plugins.{plugin}.enabled: expected true or false, "
                    f"got {switch!r}"
                )
    profiles = ", ".join(config.profiles) or "none defined"
    if config.profiles and config.router.default_profile not in config.profiles:
        errors.append(
            f"router.default_profile: unknown profile {config.router.default_profile!r} "
            f"(known: {profiles})"
        )
    for alias, target in config.router.mode_aliases.items():
        if target not in config.profiles:
            errors.append(
                f"router.mode_aliases.{alias}: unknown profile {target!r} (known: {profiles})"
            )
    return errors


DEFAULT_CONFIG_TOML = STARTER_CONFIG
"""The built-in default: the config ``coderouter init`` writes, local backends on their usual
ports tried in this order."""


def builtin_default() -> Config:
    """The built-in default, with the plugins it names that are not installed left out (the
    host installs without its plugins; a config file naming a missing plugin is an error)."""
    from importlib import metadata

    config = parse_config(tomllib.loads(DEFAULT_CONFIG_TOML), source="<built-in default>")
    installed = {ep.name for ep in metadata.entry_points(group="coderouter")}
    enabled = [name for name in config.plugins.enabled if name in installed]
    settings = {k: v for k, v in config.plugins.settings.items() if k in enabled}
    return attrs.evolve(config, plugins=PluginsConfig(enabled=enabled, settings=settings))


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use, by the lookup order; ``None`` means the built-in default."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    env = os.environ.get("CODEROUTER_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from $CODEROUTER_CONFIG)")
        return path
    for candidate in (
        Path("coderouter.toml"),
        Path.home() / ".config" / "coderouter" / "coderouter.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load by the lookup order: ``path``, ``$CODEROUTER_CONFIG``, ``./coderouter.toml``,
    ``~/.config/coderouter/coderouter.toml``, else the built-in default."""
    found = find_config(path)
    if found is None:
        return builtin_default()
    try:
        raw = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {found}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {found}: {exc}") from None
    return parse_config(raw, source=str(found))
