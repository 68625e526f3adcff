"""The chain a request starts from: the profile's providers, less the paid ones unless paid use
is allowed. The router applies both steps; the core plugin offers the first as the default
``resolve_chain``."""

from __future__ import annotations

from coderouter.config import Config
from coderouter.types import Chain

__all__ = ["apply_paid_gate", "default_chain"]


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
