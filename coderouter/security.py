"""Who may talk to the router: ingress keys and their names, the exposure check at startup,
allowed ``Host`` names. Plain functions over the config; the Falcon middleware in
:mod:`coderouter.resources.guard` applies them to requests."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os

import attrs

from coderouter.config import Config, ConfigError, KeyConfig
from coderouter.keyconfig import DEFAULT_KEY_NAME

__all__ = [
    "KeyRing",
    "describe_keys",
    "host_allowed",
    "ingress_keys",
    "is_loopback",
    "key_matches",
    "key_ring",
    "require_safe_exposure",
]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def ingress_keys(config: Config) -> list[bytes]:
    """The keys clients must send, as UTF-8 bytes (compared as bytes, so any header value can be
    checked). ``server.api_keys_env`` naming an unset or empty variable is a config error: the
    operator asked for keys, and answering without them would fail open."""
    env = config.server.api_keys_env
    if not env:
        return []
    keys = [k.strip() for k in os.environ.get(env, "").split(",") if k.strip()]
    if not keys:
        raise ConfigError(
            f"config error in {config.source}: server.api_keys_env: the environment variable "
            f"{env} is unset or empty; set it to comma-separated keys, or remove "
            "server.api_keys_env to run without ingress keys"
        )
    return [k.encode() for k in keys]


def named_keys(config: Config) -> list[tuple[KeyConfig, bytes]]:
    """Each ``[[server.keys]]`` table with its key's SHA-256 digest. A ``key_env`` naming an
    unset or empty variable is a config error, as for ``server.api_keys_env``."""
    found: list[tuple[KeyConfig, bytes]] = []
    for i, key in enumerate(config.server.keys):
        if key.sha256:
            found.append((key, bytes.fromhex(key.sha256)))
            continue
        value = os.environ.get(key.key_env, "").strip()
        if not value:
            raise ConfigError(
                f"config error in {config.source}: server.keys[{i}].key_env: the environment "
                f"variable {key.key_env} (key {key.name!r}) is unset or empty; set it to the "
                "key, or give the key's sha256 instead"
            )
        found.append((key, hashlib.sha256(value.encode()).digest()))
    return found


@attrs.frozen
class KeyRing:
    """Every ingress key as a SHA-256 digest with the name requests sent with it carry.

    A lookup hashes the offered key once and compares that digest with every key's in constant
    time, so neither the answer's timing nor a stored digest tells an attacker a key."""

    digests: tuple[tuple[bytes, str], ...] = ()
    keys: dict[str, KeyConfig] = attrs.Factory(dict)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def name_of(self, offered: bytes) -> str | None:
        """The name of the key ``offered`` (the client's bytes), or None when it is no key."""
        digest = hashlib.sha256(offered).digest()
        found: str | None = None
        for known, name in self.digests:
            if hmac.compare_digest(digest, known) and found is None:
                found = name
        return found


def key_ring(config: Config) -> KeyRing:
    """The keys of ``server.api_keys_env`` (named :data:`DEFAULT_KEY_NAME`) and of
    ``[[server.keys]]``. Raises :class:`ConfigError` for a key variable that is unset, and for
    one key given twice (its requests could carry either name)."""
    digests = [(hashlib.sha256(k).digest(), DEFAULT_KEY_NAME) for k in ingress_keys(config)]
    named = named_keys(config)
    seen = {digest: "server.api_keys_env" for digest, _ in digests}
    for i, (key, digest) in enumerate(named):
        if digest in seen:
            raise ConfigError(
                f"config error in {config.source}: server.keys[{i}]: key {key.name!r} is the "
                f"same key as {seen[digest]}; give every key its own value"
            )
        seen[digest] = f"server.keys[{i}] ({key.name!r})"
        digests.append((digest, key.name))
    return KeyRing(tuple(digests), {key.name: key for key, _ in named})


def describe_keys(config: Config) -> list[dict[str, object]]:
    """For ``GET /-/plugins``: each named key's name, where its key comes from and its limits
    (never the key or its digest)."""
    return [
        {
            "name": key.name,
            "from": f"env {key.key_env}" if key.key_env else "sha256",
            "profiles": list(key.profiles) or "all",
            "monthly_budget_usd": key.monthly_budget_usd,
            "requests_per_minute": key.requests_per_minute,
            "burst": key.bucket_size if key.requests_per_minute else None,
        }
        for key in config.server.keys
    ]


def key_matches(offered: bytes, keys: list[bytes]) -> bool:
    """Constant-time comparison against every key (no early exit on the first match)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(offered, key)
    return found


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, without port or brackets) is this machine only.

    Cached: every request asks it of its ``Host`` header, and parsing an address costs more
    than the rest of the check (the cache is bounded, so odd ``Host`` values cannot grow it)."""
    name = host.strip().rstrip(".").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_safe_exposure(config: Config, host: str) -> None:
    """Refuse to listen beyond loopback without ingress keys, unless the operator said
    ``server.allow_unauthenticated = true`` (an authenticating proxy in front, say)."""
    keys = key_ring(config)
    if keys or config.server.allow_unauthenticated or is_loopback(host):
        return
    raise ConfigError(
        f"config error in {config.source}: server.host: listening on {host!r} exposes the "
        "router (and the provider keys it holds) beyond this machine without ingress keys; "
        "set server.api_keys_env or [[server.keys]], or server.allow_unauthenticated = true "
        "when something in front authenticates clients"
    )


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:8088`` -> ``::1``, ``a:80`` -> ``a``."""
    value = header.strip()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """A request's ``Host`` is a loopback name or one of ``server.allowed_hosts`` (``"*"``
    allows any). A page on another site that rebinds its own name to 127.0.0.1 sends that
    name, so it is refused. Requests without ``Host`` (HTTP/1.0 tools) come from no browser."""
    if header is None or "*" in allowed:
        return True
    name = host_name(header).rstrip(".").lower()
    return is_loopback(name) or name in allowed
