"""``[[server.keys]]``: named ingress keys, each with the profiles, budget and request rate it
is allowed. The tables and their checks; :mod:`coderouter.security` reads the keys themselves
and :mod:`coderouter.resources.guard` applies them to requests."""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

__all__ = ["DEFAULT_KEY_NAME", "KeyConfig", "key_errors"]

DEFAULT_KEY_NAME = "default"
"""The name requests sent with a key of ``server.api_keys_env`` carry."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@attrs.frozen
class KeyConfig:
    """One named key. The key comes from the environment variable ``key_env``, or only its
    digest is in the config (``sha256``, hex): whoever reads the file cannot use it."""

    name: str
    key_env: str = ""
    sha256: str = ""
    profiles: list[str] = attrs.Factory(list)
    monthly_budget_usd: float | None = None
    requests_per_minute: float | None = None
    burst: int | None = None

    @property
    def rate_per_s(self) -> float | None:
        return self.requests_per_minute / 60 if self.requests_per_minute else None

    @property
    def bucket_size(self) -> int:
        """Requests a key may send at once before the rate applies: ``burst``, else one
        second's worth of its rate (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, round((self.requests_per_minute or 0) / 60))


def key_errors(keys: list[KeyConfig], profiles: Iterable[str], *, api_keys_env: str) -> list[str]:
    """Problems with ``server.keys``, each naming its key path and what would be valid."""
    errors: list[str] = []
    known = list(profiles)
    seen: set[str] = set()
    for i, key in enumerate(keys):
        where = f"server.keys[{i}]"
        if not _NAME.match(key.name):
            errors.append(
                f"{where}.name: {key.name!r} is not a valid key name (1 to 64 letters, digits, "
                "'_', '.', '-', starting with a letter or digit; it labels metrics and logs)"
            )
        elif key.name in seen:
            errors.append(f"{where}.name: duplicate key name {key.name!r}")
        elif key.name == DEFAULT_KEY_NAME and api_keys_env:
            errors.append(
                f"{where}.name: {DEFAULT_KEY_NAME!r} names the keys of server.api_keys_env; "
                "choose another name"
            )
        seen.add(key.name)
        if bool(key.key_env) == bool(key.sha256):
            errors.append(
                f"{where}: set exactly one of key_env (an environment variable holding the key) "
                "or sha256 (the key's SHA-256 digest in hex)"
            )
        if key.sha256 and not _SHA256.match(key.sha256):
            errors.append(
                f'{where}.sha256: expected 64 hex digits (printf %s "$KEY" | sha256sum), '
                f"got {len(key.sha256)} characters"
            )
        for profile in key.profiles:
            if profile not in known:
                errors.append(
                    f"{where}.profiles: unknown profile {profile!r} (known: {', '.join(known)})"
                )
        for field in ("monthly_budget_usd", "requests_per_minute"):
            value = getattr(key, field)
            if value is not None and value <= 0:
                errors.append(f"{where}.{field}: must be positive, got {value}")
        if key.burst is not None:
            if key.requests_per_minute is None:
                errors.append(f"{where}.burst: needs requests_per_minute (the rate it refills at)")
            elif key.burst < 1:
                errors.append(f"{where}.burst: must be at least 1, got {key.burst}")
    return errors
