"""Budgets every host counts against (``[state] backend = "redis"``): before an attempt its
worst-case cost is reserved in the store, after it the real cost is settled.

:class:`FleetBudgets` is registered as a plugin of its own (``cost.budgets``) in ``startup``
only when the store has budgets and some budget is set, so the router awaits ``admit_attempt``
only then. The worst case is the input tokens (:func:`input_tokens`) at the dearer of the input and
cache-write rates plus the attempt's output limit (``attempt.max_tokens``, else the request's
``max_tokens``, else ``reserve_output_tokens``) at the output rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coderouter import hookimpl
from coderouter.config import ProviderConfig
from coderouter.state.budgets import Backlog, BudgetBook, BudgetOutage, Hold, Limit, Refusal
from coderouter.types import Attempt, Reject, RequestView, Skip, Usage
from coderouter_cost.ledger import MonthSpend, month_bounds
from coderouter_cost.pricing import Price, usd

if TYPE_CHECKING:
    from coderouter_cost.plugin import CostPlugin

__all__ = ["FleetBudgets", "budget_name"]

SCRATCH = "cost"
OUTAGE_STATUS = 503
SEED_RETRY_S = 1.0
SEED_TRIES = 60
CHARS_PER_TOKEN = 4  # as coderouter.wire.tokens counts
DECODE_ABOVE_BYTES = 1 << 20


def input_tokens(request: RequestView) -> int:
    """The request's input tokens, estimated high: a body up to :data:`DECODE_ABOVE_BYTES`
    counts its bytes at the router's characters per token (more than the estimate of its
    text, without decoding it on every attempt), a larger one (likely images, whose bytes
    are no measure of their tokens) gets the router's estimate."""
    length = request.header("content-length")
    if length.isdigit() and int(length) <= DECODE_ABOVE_BYTES:
        return -(-int(length) // CHARS_PER_TOKEN)
    try:
        return request.estimated_tokens()
    except ValueError:
        return 0


def requested_output(body: dict[str, Any]) -> int | None:
    """The output limit the client asked for, in any of the three wire formats."""
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def budget_name(limit: Limit) -> str:
    """How a budget is named to the client: ``total monthly budget $200.00``."""
    amount = usd(limit.usd) if limit.usd is not None else "(no limit)"
    kind, _, name = limit.key.partition(":")
    if kind == "total":
        return f"total monthly budget {amount}"
    if kind == "provider":
        return f"monthly budget {amount}"
    return f"{kind} {name!r} monthly budget {amount}"


class FleetBudgets:
    """The cost plugin's reservations in the state store's budget book."""

    def __init__(self, plugin: CostPlugin, book: BudgetBook, on_outage: str) -> None:
        self.plugin = plugin
        self.book = book
        self.on_outage = on_outage
        self.refused_outage = 0
        self.admitted_locally = 0
        self._seeding: asyncio.Task[None] | None = None

    # --- what applies and how much -----------------------------------------------------------

    def limits(
        self, provider: ProviderConfig, price: Price | None, profile: str, key: str = ""
    ) -> list[Limit]:
        """The budgets an attempt on ``provider`` for a request of ingress key ``key`` counts
        against, as the ledger checks them."""
        plugin = self.plugin
        found: list[Limit] = []
        own = plugin.provider_cost(provider).monthly_budget_usd
        if own is not None:
            found.append(Limit(f"provider:{provider.name}", own))
        if price is None or not price.paid:
            return found
        if plugin.config.monthly_budget_usd is not None:
            found.append(Limit("total", plugin.config.monthly_budget_usd))
        override = plugin.profile_configs.get(profile)
        if override is not None and override.monthly_budget_usd is not None:
            found.append(Limit(f"profile:{profile}", override.monthly_budget_usd))
        key_limit = plugin._key_budgets.get(key) if key else None
        if key_limit is not None:
            found.append(Limit(f"key:{key}", key_limit))
        return found

    def worst_case(self, attempt: Attempt, price: Price | None) -> float:
        if price is None:
            return 0.0
        request = attempt.request
        tokens = input_tokens(request)
        output = (
            attempt.max_tokens
            or requested_output(request.body)
            or self.plugin.config.reserve_output_tokens
        )
        fresh = price.cost(Usage(input_tokens=tokens)).usd
        written = price.cost(Usage(cache_write_tokens=tokens)).usd
        return max(fresh, written) + price.cost(Usage(output_tokens=output)).usd

    def idle_hooks(self, profile: str) -> tuple[str, ...]:
        """Nothing to reserve where the cost plugin is off (``[profiles.<p>.plugins.cost]
        enabled = false``): its ``after_attempt`` would never settle the hold."""
        host = self.plugin.host_config
        settings = host.profiles.get(profile) if host is not None else None
        if settings is not None and settings.plugins.get("cost", {}).get("enabled") is False:
            return ("admit_attempt", "release_attempt")
        return ()

    # --- hooks -------------------------------------------------------------------------------

    @hookimpl
    async def admit_attempt(self, attempt: Attempt) -> Skip | Reject | None:
        plugin = self.plugin
        provider = attempt.provider
        price = plugin.price(provider, provider.model_for(attempt.request.model))
        limits = self.limits(provider, price, attempt.profile, attempt.request.key_name)
        if not limits:
            return None
        amount = self.worst_case(attempt, price)
        now = plugin.clock()
        period = month_bounds(now)[0]
        ttl_s = plugin.config.reservation_ttl_s
        try:
            found = await self.book.reserve(limits, amount, period=period, now=now, ttl_s=ttl_s)
        except Backlog as exc:
            return self._outage(attempt, limits, f"budget settles wait for the store ({exc})")
        except BudgetOutage as exc:
            if self.on_outage == "closed":
                return self._outage(attempt, limits, f"the state store is unreachable ({exc})")
            found = self.book.reserve_locally(limits, amount, period=period, now=now, ttl_s=ttl_s)
            if isinstance(found, Hold):
                self.admitted_locally += 1
        if isinstance(found, Refusal):
            return plugin.refuse(attempt, self._reason(found, amount, period), now)
        attempt.scratch[SCRATCH] = found
        return None

    @hookimpl
    def release_attempt(self, attempt: Attempt) -> None:
        self.settle(attempt, 0.0)

    def settle(self, attempt: Attempt, cost: float) -> None:
        """Count ``cost`` against the attempt's hold (if it has one) and free the hold."""
        hold = attempt.scratch.pop(SCRATCH, None)
        if isinstance(hold, Hold):
            self.book.settle(hold, cost, now=self.plugin.clock())

    # --- answers -----------------------------------------------------------------------------

    @staticmethod
    def _reason(refusal: Refusal, amount: float, period: str) -> str:
        return (
            f"{budget_name(refusal.limit)} reached (spent {usd(refusal.spent)} and "
            f"{usd(refusal.held)} held by requests in flight in {period}; this attempt may "
            f"cost up to {usd(amount)})"
        )

    def _outage(self, attempt: Attempt, limits: list[Limit], why: str) -> Reject:
        self.refused_outage += 1
        names = ", ".join(budget_name(limit) for limit in limits)
        return Reject(
            f"provider {attempt.provider.name!r}: cannot check the {names} because {why}; "
            f'[state] on_outage = "closed" refuses requests under a budget meanwhile',
            status=OUTAGE_STATUS,
            error_type="overloaded",
            retry_after_s=1.0,
        )

    # --- seeding -----------------------------------------------------------------------------

    def start_seeding(self, spend_now: Callable[[], MonthSpend | None]) -> None:
        """Raise the store's spend of this month to at least the ledger's, in the background:
        once the store answers (it connects after the plugins' startup) and again whenever it
        is back after an outage (a Redis that restarted without its data starts again from
        the ledger)."""
        self._seeding = asyncio.get_running_loop().create_task(
            self._seed_loop(spend_now), name="coderouter-cost-seed"
        )

    async def _seed_loop(self, spend_now: Callable[[], MonthSpend | None]) -> None:
        while True:
            for _ in range(SEED_TRIES):
                spend = spend_now()
                if spend is None:
                    break
                try:
                    await self.book.seed(spend.month, dict(self.plugin.budget_spend(spend)))
                    break
                except BudgetOutage:
                    await asyncio.sleep(SEED_RETRY_S)
            await self.book.restored()

    def stop(self) -> None:
        if self._seeding is not None:
            self._seeding.cancel()
            self._seeding = None

    def describe(self) -> dict[str, Any]:
        return {
            "scope": "every host on the state store",
            "on_outage": self.on_outage,
            "refused_for_outage": self.refused_outage,
            "admitted_locally": self.admitted_locally,
            "reservation_ttl_s": self.plugin.config.reservation_ttl_s,
            **self.book.describe(),
        }
