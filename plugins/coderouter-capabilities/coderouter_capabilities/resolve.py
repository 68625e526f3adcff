"""Resolving a provider's capabilities from its own table and the registries.

Sources in order: the provider's ``capabilities`` table in the config, the user's registry
file, the bundled registry. Each flag takes the first value declared for it, so a provider's
own table overrides single flags without repeating the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coderouter.config import Config, ProviderConfig
from coderouter.types import Capabilities
from coderouter_capabilities.fields import capabilities_of, check_values
from coderouter_capabilities.registry import Registry

__all__ = ["PROVIDER_SOURCE", "Resolver", "provider_table_errors"]

PROVIDER_SOURCE = "provider config"


def provider_table_errors(config: Config) -> list[str]:
    """One line per bad key of any provider's ``capabilities`` table, with the config file."""
    errors: list[str] = []
    for index, provider in enumerate(config.providers):
        _, problems = check_values(provider.capabilities, f"providers[{index}].capabilities")
        errors.extend(f"config error in {config.source}: {p}" for p in problems)
    return errors


class Resolver:
    """Resolves and remembers capabilities per provider object (providers are frozen config
    records, built once per worker). At most ``max_entries`` are kept."""

    def __init__(self, registries: Sequence[Registry], max_entries: int = 256) -> None:
        self.registries = tuple(registries)
        self.max_entries = max_entries
        self._cache: dict[int, tuple[ProviderConfig, Capabilities]] = {}

    def __call__(self, provider: ProviderConfig) -> Capabilities:
        found = self._cache.get(id(provider))
        if found is not None and found[0] is provider:
            return found[1]
        caps = self.resolve(provider)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        # The provider object is kept with its answer so its id cannot be reused meanwhile.
        self._cache[id(provider)] = (provider, caps)
        return caps

    def resolve(self, provider: ProviderConfig) -> Capabilities:
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        own, _ = check_values(provider.capabilities, "capabilities")
        for key, value in own.items():
            values[key] = value
            sources[key] = PROVIDER_SOURCE
        for registry in self.registries:
            for rule in registry.rules:
                if not rule.applies_to(provider):
                    continue
                where = f"{registry.origin} {rule.describe(provider)}"
                for key, value in rule.values.items():
                    if key not in values:
                        values[key] = value
                        sources[key] = where
        return capabilities_of(values, sources)

    def known(self) -> list[tuple[ProviderConfig, Capabilities]]:
        return list(self._cache.values())
