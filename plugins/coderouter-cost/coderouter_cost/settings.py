"""The plugin's own settings and each provider's ``cost`` table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from coderouter.config import Config, ConfigError
from coderouter_cost.pricing import PRICE_KEYS, check_number

__all__ = [
    "COST_KEYS",
    "LEDGER_FILE",
    "CostConfig",
    "ProviderCost",
    "ledger_dsn",
    "ledger_path",
    "parse_provider_cost",
    "spool_dir",
]

COST_KEYS = (*PRICE_KEYS, "monthly_budget_usd")
LEDGER_FILE = "cost-ledger.sqlite3"
SPOOL_DIR = "cost-spool"
LEDGERS = ("sqlite", "postgres")


@attrs.frozen
class CostConfig:
    """``[plugins.cost]``; ``[profiles.<p>.plugins.cost]`` may set only ``monthly_budget_usd``."""

    monthly_budget_usd: float | None = None
    ledger_path: str = ""
    price_table: str = ""
    use_bundled_prices: bool = True
    busy_timeout_ms: int = 2000
    write_interval_s: float = 0.0
    reservation_ttl_s: float = 600.0
    reserve_output_tokens: int = 4096
    ledger: str = "sqlite"
    ledger_dsn_env: str = "CODEROUTER_LEDGER_DSN"
    spool_max_mb: float = 64.0


@attrs.frozen
class ProviderCost:
    """A provider's ``cost`` table: price keys that override the price tables, and a budget."""

    overrides: Mapping[str, float] = attrs.Factory(dict)
    monthly_budget_usd: float | None = None


def parse_provider_cost(raw: Mapping[str, Any], where: str) -> tuple[ProviderCost, list[str]]:
    """Structure one provider's ``cost`` table; errors are ``<where>.<key>: ...`` lines."""
    errors: list[str] = []
    for key in raw:
        if key not in COST_KEYS:
            errors.append(f"{where}.{key}: unknown key (valid keys: {', '.join(COST_KEYS)})")
    overrides = {
        key: value
        for key in PRICE_KEYS
        if (value := check_number(raw, key, where, errors)) is not None
    }
    budget = check_number(raw, "monthly_budget_usd", where, errors)
    return ProviderCost(overrides, budget), errors


def provider_costs(config: Config) -> dict[str, ProviderCost]:
    """Every provider's cost table, or :class:`ConfigError` naming each bad key."""
    found: dict[str, ProviderCost] = {}
    errors: list[str] = []
    for i, provider in enumerate(config.providers):
        cost, problems = parse_provider_cost(provider.cost, f"providers[{i}].cost")
        found[provider.name] = cost
        errors += problems
    if errors:
        raise ConfigError("\n".join(f"config error in {config.source}: {e}" for e in errors))
    return found


def config_dir(config: Config) -> Path:
    """The directory relative paths in ``[plugins.cost]`` are resolved against."""
    source = Path(config.source)
    return source.parent if source.is_file() else Path.cwd()


def ledger_path(settings: CostConfig, config: Config) -> Path:
    """``[plugins.cost] ledger_path``, else ``cost-ledger.sqlite3`` in the router's state dir."""
    if settings.ledger_path:
        path = Path(settings.ledger_path).expanduser()
        return path if path.is_absolute() else config_dir(config) / path
    return config.state_path / LEDGER_FILE


def ledger_dsn(settings: CostConfig, config: Config) -> str:
    """The Postgres DSN from the variable ``[plugins.cost] ledger_dsn_env`` names; unset or
    empty is a :class:`ConfigError`, since rows would have nowhere to go but the spool."""
    dsn = os.environ.get(settings.ledger_dsn_env, "").strip() if settings.ledger_dsn_env else ""
    if not dsn:
        raise ConfigError(
            f"config error in {config.source}: plugins.cost.ledger_dsn_env: the environment "
            f"variable {settings.ledger_dsn_env or '(none)'} is unset or empty; "
            'ledger = "postgres" reads its DSN (postgresql://user:password@host:5432/db) from it'
        )
    return dsn


def spool_dir(config: Config) -> Path:
    """Where each worker keeps the rows Postgres has not committed yet."""
    return config.state_path / SPOOL_DIR


def price_table_path(settings: CostConfig, config: Config) -> Path | None:
    if not settings.price_table:
        return None
    path = Path(settings.price_table).expanduser()
    return path if path.is_absolute() else config_dir(config) / path


def check_settings(settings: CostConfig, profiles: Mapping[str, CostConfig]) -> None:
    """Values the types cannot check; raises ``ValueError`` naming the key."""
    if settings.monthly_budget_usd is not None and settings.monthly_budget_usd < 0:
        raise ValueError(
            f"monthly_budget_usd: must not be negative, got {settings.monthly_budget_usd}"
        )
    if settings.busy_timeout_ms < 0:
        raise ValueError(f"busy_timeout_ms: must not be negative, got {settings.busy_timeout_ms}")
    if settings.write_interval_s < 0:
        raise ValueError(f"write_interval_s: must not be negative, got {settings.write_interval_s}")
    if settings.reservation_ttl_s <= 0:
        raise ValueError(f"reservation_ttl_s: must be positive, got {settings.reservation_ttl_s}")
    if settings.reserve_output_tokens < 1:
        raise ValueError(
            f"reserve_output_tokens: must be at least 1, got {settings.reserve_output_tokens}"
        )
    if settings.ledger not in LEDGERS:
        raise ValueError(f"ledger: must be one of {', '.join(LEDGERS)}, got {settings.ledger!r}")
    if settings.spool_max_mb <= 0:
        raise ValueError(f"spool_max_mb: must be positive, got {settings.spool_max_mb}")
    for name, override in profiles.items():
        budget = override.monthly_budget_usd
        if budget is not None and budget < 0:
            raise ValueError(
                f"profiles.{name}.plugins.cost.monthly_budget_usd: must not be "
                f"negative, got {budget}"
            )
        for key in (
            "ledger_path",
            "price_table",
            "use_bundled_prices",
            "busy_timeout_ms",
            "write_interval_s",
            "reservation_ttl_s",
            "reserve_output_tokens",
            "ledger",
            "ledger_dsn_env",
            "spool_max_mb",
        ):
            if getattr(override, key) != getattr(settings, key):
                raise ValueError(
                    f"profiles.{name}.plugins.cost.{key}: can only be set in "
                    f"[plugins.cost]; a profile may set monthly_budget_usd only"
                )
