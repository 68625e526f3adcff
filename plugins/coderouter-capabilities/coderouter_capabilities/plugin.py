"""The ``capabilities`` plugin: what each provider's model can do, and the gates that use it."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from coderouter import Plugin, hookimpl
from coderouter.config import Config as CoreConfig
from coderouter.config import ConfigError, ProviderConfig
from coderouter.types import Attempt, Capabilities, Chain, Reject, RequestView, Skip
from coderouter.wire.model import Request
from coderouter_capabilities.config import REGISTRY_KEYS, CapabilitiesConfig
from coderouter_capabilities.gates import clamp, prefer_capable, skip_over_context
from coderouter_capabilities.needs import needs_of
from coderouter_capabilities.registry import Registry, RegistryError
from coderouter_capabilities.resolve import Resolver, provider_table_errors

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["CapabilitiesPlugin"]

NAME = "capabilities"
COUNTS = ("skipped_over_context", "moved_back", "clamped")


class CapabilitiesPlugin(Plugin):
    """Answers ``capabilities_for`` from the provider's own table, the user's registry file
    and the bundled registry, and uses the answers to gate each request's chain and clamp its
    output budget."""

    Config = CapabilitiesConfig

    def __init__(
        self,
        config: CapabilitiesConfig | None = None,
        profile_configs: dict[str, CapabilitiesConfig] | None = None,
        *,
        registries: list[Registry] | None = None,
        count_tokens: Callable[[Request], int] | None = None,
    ) -> None:
        super().__init__(config or CapabilitiesConfig(), profile_configs)
        settings: CapabilitiesConfig = self.config
        for profile, override in self.profile_configs.items():
            for key in REGISTRY_KEYS:
                if getattr(override, key) != getattr(settings, key):
                    raise ValueError(
                        f"profiles.{profile}.plugins.capabilities.{key}: the "
                        f"registry is shared by every profile; set {key} in "
                        f"[plugins.capabilities]"
                    )
        if registries is None:
            registries = self._load_registries(settings)
        self.resolver = Resolver(registries)
        # None: the request's own cached estimate, shared with every other plugin.
        self.count_tokens = count_tokens
        self.counts: Counter[str] = Counter(dict.fromkeys(COUNTS, 0))

    @staticmethod
    def _load_registries(settings: CapabilitiesConfig) -> list[Registry]:
        registries = []
        try:
            if settings.registry_file:
                registries.append(Registry.load(settings.registry_file))
            if settings.bundled_registry:
                registries.append(Registry.bundled())
        except RegistryError as exc:
            raise ValueError(f"registry_file: {exc}") from None
        return registries

    def capabilities(self, provider: ProviderConfig) -> Capabilities:
        """This plugin's answer for ``provider`` (remembered per provider)."""
        return self.resolver(provider)

    # --- lifecycle -----------------------------------------------------------------------------

    def check_providers(self, config: CoreConfig) -> None:
        """Raise :class:`ConfigError` naming every bad key of any provider's ``capabilities``
        table and the valid keys."""
        errors = provider_table_errors(config)
        if errors:
            raise ConfigError("\n".join(errors))

    @hookimpl
    def check_config(self, config: CoreConfig) -> None:
        self.check_providers(config)

    @hookimpl
    def startup(self, app: AppContext) -> None:
        for provider in app.config.providers:
            self.resolver(provider)

    # --- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def capabilities_for(self, provider: ProviderConfig) -> Capabilities | None:
        caps = self.resolver(provider)
        return caps if caps.sources else None

    def tokens_of(self, request: RequestView) -> int:
        if self.count_tokens is None:
            return request.estimated_tokens()
        return self.count_tokens(request.conversation())

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        settings: CapabilitiesConfig = self.config_for(chain.profile)
        if settings.skip_over_context:
            skipped = skip_over_context(chain, self.resolver, lambda: self.tokens_of(request), NAME)
            self.counts["skipped_over_context"] += len(skipped)
        if settings.prefer_capable and len(chain.providers) > 1:
            moved = prefer_capable(
                chain,
                self.resolver,
                lambda: needs_of(request.conversation()),
                NAME,
                prefer_thinking=settings.prefer_thinking,
            )
            self.counts["moved_back"] += len(moved)

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | Reject | None:
        settings: CapabilitiesConfig = self.config_for(attempt.profile)
        if not settings.clamp_max_tokens:
            return None
        limit = self.resolver(attempt.provider).max_output_tokens
        if limit is None:
            return None
        requested = attempt.request.conversation().max_tokens
        clamped = clamp(requested, attempt.max_tokens, limit)
        if clamped is not None:
            attempt.max_tokens = clamped
            attempt.log_fields["max_tokens_clamped"] = {"requested": requested, "sent": clamped}
            self.counts["clamped"] += 1
        return None

    @hookimpl
    def register_commands(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> None:
        from coderouter_capabilities.cli import add_command

        add_command(subparsers)

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        providers = {}
        for provider, caps in self.resolver.known():
            flags = attrs.asdict(caps)
            flags.pop("sources")
            providers[provider.name] = {k: v for k, v in flags.items() if v is not None}
        return {"providers": providers, "counts": dict(self.counts)}
