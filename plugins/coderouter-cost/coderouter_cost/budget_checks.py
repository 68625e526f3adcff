"""Budget checks of the cost plugin: which budget an attempt would break, and the answer
(a skip, or 429 when budgets alone leave nothing to call).

:class:`BudgetChecks` is a base of :class:`~coderouter_cost.plugin.CostPlugin`; the checks read
the month's spend from the ledger (one host) or come from the state store's refusals (every
host, :mod:`coderouter_cost.fleet`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from coderouter.config import ProviderConfig
from coderouter.types import Attempt, Chain, Reject, RequestView, Skip
from coderouter_cost.ledger import MonthSpend, month_bounds
from coderouter_cost.pricing import Price, usd
from coderouter_cost.settings import CostConfig, ProviderCost

__all__ = ["BY", "BudgetChecks"]

BY = "cost"
# Requests whose chain is remembered for the call-time budget check; more than this many in
# flight at once in one worker only costs the 429 wording for the oldest, never a budget.
_CHAIN_MEMORY = 4096


class BudgetChecks:
    """Monthly budgets per provider, per profile, per ingress key and in total."""

    config: CostConfig
    profile_configs: dict[str, CostConfig]
    clock: Callable[[], float]
    _provider_costs: dict[str, ProviderCost]
    _key_budgets: dict[str, float]

    def __init__(self) -> None:
        self._chains: OrderedDict[int, tuple[weakref.ref[RequestView], Chain, list[int]]] = (
            OrderedDict()
        )

    def provider_cost(self, provider: ProviderConfig) -> ProviderCost:
        raise NotImplementedError

    def price(self, provider: ProviderConfig, model: str) -> Price | None:
        raise NotImplementedError

    def over_budget(
        self,
        provider: ProviderConfig,
        model: str,
        profile: str,
        spend: MonthSpend,
        key: str = "",
    ) -> str | None:
        """Why ``provider`` may not be called this month for a request sent with the ingress
        key named ``key``, or None."""
        own = self.provider_cost(provider).monthly_budget_usd
        if own is not None and spend.provider(provider.name) >= own:
            return (
                f"monthly budget {usd(own)} reached "
                f"(spent {usd(spend.provider(provider.name))} in {spend.month})"
            )
        price = self.price(provider, model)
        if price is None or not price.paid:
            return None
        total = self.config.monthly_budget_usd
        if total is not None and spend.total >= total:
            return (
                f"total monthly budget {usd(total)} reached "
                f"(spent {usd(spend.total)} in {spend.month})"
            )
        override = self.profile_configs.get(profile)
        if override is not None and override.monthly_budget_usd is not None:
            limit = override.monthly_budget_usd
            if spend.profile(profile) >= limit:
                return (
                    f"profile {profile!r} monthly budget {usd(limit)} reached "
                    f"(spent {usd(spend.profile(profile))} in {spend.month})"
                )
        key_limit = self._key_budgets.get(key) if key else None
        if key_limit is not None and spend.key(key) >= key_limit:
            return (
                f"key {key!r} monthly budget {usd(key_limit)} reached "
                f"(spent {usd(spend.key(key))} in {spend.month})"
            )
        return None

    def refuse(self, attempt: Attempt, reason: str, now: float) -> Skip | Reject:
        """Skip the attempt's provider for ``reason``, or answer 429 when it is the chain's
        last and budgets alone passed over every provider before it."""
        state = self._recall(attempt.request)
        if state is not None:
            chain, skipped_here = state
            if (
                attempt.index == len(chain.providers) - 1
                and skipped_here[0] == attempt.index
                and all(s.by == BY for s in chain.skipped)
            ):
                self._forget(attempt.request)
                return Reject(
                    f"provider {attempt.provider.name!r}: {reason}; no provider of profile "
                    f"{attempt.profile!r} is within its budget",
                    status=429,
                    error_type="budget",
                    retry_after_s=max(0.0, month_bounds(now)[2] - now),
                )
            skipped_here[0] += 1
        return Skip(reason)

    def _remember(self, request: RequestView, chain: Chain) -> None:
        self._chains[id(request)] = (weakref.ref(request), chain, [0])
        while len(self._chains) > _CHAIN_MEMORY:
            self._chains.popitem(last=False)

    def _recall(self, request: RequestView) -> tuple[Chain, list[int]] | None:
        entry = self._chains.get(id(request))
        if entry is None or entry[0]() is not request:
            return None
        return entry[1], entry[2]

    def _forget(self, request: RequestView) -> None:
        entry = self._chains.get(id(request))
        if entry is not None and entry[0]() is request:
            del self._chains[id(request)]

    def budgets(self) -> dict[str, Any]:
        """Every configured monthly budget: per provider, in total, per profile, per ingress
        key (``[[server.keys]]``)."""
        providers = {
            name: cost.monthly_budget_usd
            for name, cost in self._provider_costs.items()
            if cost.monthly_budget_usd is not None
        }
        profiles = {
            name: cfg.monthly_budget_usd
            for name, cfg in self.profile_configs.items()
            if cfg.monthly_budget_usd is not None
        }
        return {
            "providers": providers,
            "total": self.config.monthly_budget_usd,
            "profiles": profiles,
            "keys": dict(self._key_budgets),
        }

    def budget_spend(self, spend: MonthSpend) -> Mapping[str, float]:
        """The ledger's spend under every configured budget, by the store's budget key."""
        found: dict[str, float] = {}
        configured = self.budgets()
        for name in configured["providers"]:
            found[f"provider:{name}"] = spend.provider(name)
        if configured["total"] is not None:
            found["total"] = spend.total
        for name in configured["profiles"]:
            found[f"profile:{name}"] = spend.profile(name)
        for name in configured["keys"]:
            found[f"key:{name}"] = spend.key(name)
        return found
