"""The essential core behaviour, registered in every plugin manager and never disabled."""

from __future__ import annotations

from coderouter.config import Config
from coderouter.hookspecs import hookimpl
from coderouter.types import Chain, RequestView

__all__ = ["CorePlugin", "apply_paid_gate", "default_chain"]


def default_chain(config: Config, profile: str) -> Chain:
    return Chain(profile=profile, providers=config.profile_chain(profile))


def apply_paid_gate(config: Config, chain: Chain) -> None:
    """Paid providers leave the chain unless paid use is allowed (router, profile or
    ``CODEROUTER_ALLOW_PAID=1``)."""
    if config.paid_allowed(chain.profile):
        return
    for provider in list(chain.providers):
        if provider.paid:
            chain.skip(provider.name, "paid provider; allow_paid is off", by="core")


class CorePlugin:
    """Core defaults that plugins may override (``trylast``)."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    @hookimpl(trylast=True)
    def resolve_chain(self, request: RequestView, profile: str) -> Chain | None:
        if self.config is None:
            return None
        return default_chain(self.config, profile)
