"""The ``cost`` plugin: prices every attempt, records it in the ledger, enforces budgets."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from coderouter import Plugin, hookimpl
from coderouter.config import Config as HostConfig
from coderouter.config import ConfigError, ProviderConfig
from coderouter.types import (
    Attempt,
    Chain,
    Reject,
    RequestView,
    Result,
    Skip,
    UpstreamError,
    Usage,
)
from coderouter_cost.budget_checks import BY, BudgetChecks
from coderouter_cost.fleet import FleetBudgets
from coderouter_cost.ledger import Ledger, MonthSpend, Row
from coderouter_cost.ledgers import SpendLedger
from coderouter_cost.pg_ledger import PostgresLedger
from coderouter_cost.pricing import Cost, Price, PriceTable, PriceTableError, Pricing
from coderouter_cost.settings import (
    CostConfig,
    ProviderCost,
    check_settings,
    ledger_dsn,
    ledger_path,
    parse_provider_cost,
    price_table_path,
    provider_costs,
    spool_dir,
)
from coderouter_cost.spool import Spool
from coderouter_cost.sqlite_upkeep import CHECKPOINT_INTERVAL_S, SqliteUpkeep

if TYPE_CHECKING:
    from coderouter.context import AppContext
    from coderouter.log import RequestLog

__all__ = ["COST_HEADER", "CostPlugin"]

COST_HEADER = "x-coderouter-cost-usd"
_NO_COST = Cost()
FLEET_PLUGIN = "cost.budgets"
_PRICE_CACHE_LIMIT = 4096


class CostPlugin(BudgetChecks, Plugin):
    """Prompt-cache-aware pricing, a durable spend ledger and monthly budgets.

    ``clock`` is the wall clock (Unix seconds): ledger timestamps and the UTC month budgets are
    counted in come from it, so tests can move it across a month boundary.
    """

    name = "cost"
    Config = CostConfig

    def __init__(
        self, config: CostConfig | None = None, profile_configs: dict[str, CostConfig] | None = None
    ) -> None:
        Plugin.__init__(self, config or CostConfig(), profile_configs)
        BudgetChecks.__init__(self)
        self.config: CostConfig
        self.profile_configs: dict[str, CostConfig]
        check_settings(self.config, self.profile_configs)
        self.clock: Callable[[], float] = time.time
        self.checkpoint_interval_s = CHECKPOINT_INTERVAL_S
        self.ledger: Ledger | None = None
        self.pg: PostgresLedger | None = None
        self.host_config: HostConfig | None = None
        self._pricing: Pricing | None = None
        self._provider_costs: dict[str, ProviderCost] = {}
        self._key_budgets: dict[str, float] = {}
        self._prices: dict[tuple[str, str], Price | None] = {}
        self._log: RequestLog | None = None
        self._sqlite: SqliteUpkeep | None = None
        self.fleet: FleetBudgets | None = None
        self._budgets = self.config.monthly_budget_usd is not None or any(
            c.monthly_budget_usd is not None for c in self.profile_configs.values()
        )

    # --- configuration ---------------------------------------------------------------------

    def bind(self, config: HostConfig) -> None:
        """Read what the plugin needs from the host config: every provider's ``cost`` table,
        the price tables and the ledger path. Raises :class:`ConfigError` naming bad keys."""
        if config is self.host_config:
            return
        costs = provider_costs(config)
        pricing = self._load_pricing(config)
        self.host_config = config
        self._provider_costs = costs
        self._pricing = pricing
        self._prices.clear()
        self._key_budgets = {
            k.name: k.monthly_budget_usd
            for k in config.server.keys
            if k.monthly_budget_usd is not None
        }
        self._budgets = (
            self._budgets
            or bool(self._key_budgets)
            or any(c.monthly_budget_usd is not None for c in costs.values())
        )
        if self.config.ledger == "postgres":
            self._bind_postgres(config)
            return
        path = ledger_path(self.config, config)
        if self.ledger is None or self.ledger.path != path:
            if self.ledger is not None:
                self.ledger.close()
            self.ledger = Ledger(
                path,
                busy_timeout_ms=self.config.busy_timeout_ms,
                clock=self._now,
                on_error=self._report,
            )
            self._sqlite = SqliteUpkeep(self.ledger, self._report)

    def _bind_postgres(self, config: HostConfig) -> None:
        dsn = ledger_dsn(self.config, config)
        spool = spool_dir(config)
        if self.pg is not None and self.pg.dsn == dsn and self.pg.spool.directory == spool:
            return
        self.pg = PostgresLedger(
            dsn,
            Spool(spool, int(self.config.spool_max_mb * 1024 * 1024)),
            write_interval_s=self.config.write_interval_s,
            clock=self._now,
            on_event=self._event,
        )

    def _load_pricing(self, config: HostConfig | None) -> Pricing:
        tables: list[PriceTable] = []
        path = price_table_path(self.config, config) if config is not None else None
        source = config.source if config is not None else "<config>"
        try:
            if path is not None:
                tables.append(PriceTable.load(path))
            if self.config.use_bundled_prices:
                tables.append(PriceTable.bundled())
        except PriceTableError as exc:
            raise ConfigError(
                f"config error in {source}: plugins.cost.price_table: {exc}"
            ) from None
        return Pricing(tables)

    def _now(self) -> float:
        return self.clock()

    def _report(self, message: str) -> None:
        self._event("cost_ledger_error", message)

    def _event(self, event: str, message: str) -> None:
        if self._log is not None:
            self._log.emit({"event": event, "message": message})
        else:
            print(message, file=sys.stderr)

    def provider_cost(self, provider: ProviderConfig) -> ProviderCost:
        found = self._provider_costs.get(provider.name)
        if found is None:
            found, errors = parse_provider_cost(provider.cost, f"providers.{provider.name}.cost")
            if errors:
                raise ConfigError("\n".join(errors))
            self._provider_costs[provider.name] = found
            self._budgets = self._budgets or found.monthly_budget_usd is not None
        return found

    def price(self, provider: ProviderConfig, model: str) -> Price | None:
        """The price of ``model`` on ``provider``, or None (unknown: costs nothing)."""
        key = (provider.name, model)
        try:
            return self._prices[key]
        except KeyError:
            pass
        if self._pricing is None:
            self._pricing = self._load_pricing(self.host_config)
        if len(self._prices) >= _PRICE_CACHE_LIMIT:
            self._prices.clear()
        found = self._pricing.price(
            model, self.provider_cost(provider).overrides, f"providers.{provider.name}.cost"
        )
        self._prices[key] = found
        return found

    # --- budgets ---------------------------------------------------------------------------

    # --- hooks -----------------------------------------------------------------------------

    @hookimpl
    def check_config(self, config: HostConfig) -> None:
        # Bad cost tables stop `coderouter serve` and `coderouter check` before any request.
        self.bind(config)

    @hookimpl
    def startup(self, app: AppContext) -> Awaitable[None] | None:
        self.bind(app.config)
        self._log = app.log
        self._start_fleet(app, self._open_ledger())
        # Budgets counted in the ledger need every worker to see every row as soon as it is
        # spent: with one, rows are written at once.
        batched = not self._budgets or self.fleet is not None
        interval = self.config.write_interval_s if batched else 0.0
        if self.pg is not None:
            self.pg.write_interval_s = interval
            return self.pg.start()
        if self._sqlite is not None:
            self._sqlite.start(
                write_interval_s=interval, checkpoint_interval_s=self.checkpoint_interval_s
            )
        return None

    def _start_fleet(self, app: AppContext, ledger: SpendLedger | None) -> None:
        """With a store that keeps budgets (``[state] backend = "redis"``) and some budget
        set, budgets are reserved and settled there, by every host alike."""
        book = app.store.budgets
        if book is None or not self._budgets or self.fleet is not None:
            return
        self.fleet = FleetBudgets(self, book, app.config.state.on_outage)
        app.pm.register(self.fleet, name=FLEET_PLUGIN)
        self.fleet.start_seeding(self._ledger_spend)

    def _ledger_spend(self) -> MonthSpend | None:
        ledger = self._open_ledger()
        return ledger.spend() if ledger is not None and ledger.is_open else None

    @hookimpl
    def shutdown(self, app: AppContext) -> Awaitable[None] | None:
        if self.fleet is not None:
            self.fleet.stop()
            if app.pm.has_plugin(FLEET_PLUGIN):
                app.pm.unregister(name=FLEET_PLUGIN)
            self.fleet = None
        if self.pg is not None:
            return self.pg.stop()
        if self._sqlite is not None:
            self._sqlite.stop()
        return None

    def _open_ledger(self) -> SpendLedger | None:
        """The configured ledger; SQLite's is opened first if it is not yet."""
        if self.pg is not None:
            return self.pg
        return self._sqlite.opened() if self._sqlite is not None else None

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        if not self._budgets:
            return
        if self.fleet is not None:
            self._remember(request, chain)  # admit_attempt reserves; refuse() needs the chain
            return
        ledger = self._open_ledger()
        if ledger is None:
            return
        spend = ledger.spend()
        self._remember(request, chain)
        blocked = [
            (p.name, reason)
            for p in chain
            if (
                reason := self.over_budget(
                    p, p.model_for(request.model), chain.profile, spend, request.key_name
                )
            )
            is not None
        ]
        if not blocked:
            return
        # When budgets alone leave nothing to call, the last provider stays in the chain so
        # before_attempt can answer 429 "budget" instead of the host's generic 502.
        budget_only = len(blocked) == len(chain) and all(s.by == BY for s in chain.skipped)
        keep = blocked[-1][0] if budget_only else None
        for name, reason in blocked:
            if name != keep:
                chain.skip(name, reason, by=BY)

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | Reject | None:
        if not self._budgets or self.fleet is not None:
            return None
        ledger = self._open_ledger()
        if ledger is None:
            return None
        spend = ledger.spend()
        provider = attempt.provider
        reason = self.over_budget(
            provider,
            provider.model_for(attempt.request.model),
            attempt.profile,
            spend,
            attempt.request.key_name,
        )
        if reason is None:
            self._forget(attempt.request)
            return None
        return self.refuse(attempt, reason, self.clock())

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        self.record(attempt, result.usage, result.status)

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        # A stream that fails after it started may still be billed for what it produced.
        if error.committed and error.usage is not None:
            self.record(attempt, error.usage, 502)
        elif self.fleet is not None:
            self.fleet.settle(attempt, 0.0)

    def record(self, attempt: Attempt, usage: Usage, status: int) -> None:
        """Price one attempt, annotate its response and log line, append it to the ledger."""
        provider = attempt.provider
        model = provider.model_for(attempt.request.model)
        price = self.price(provider, model)
        cost = price.cost(usage) if price is not None else _NO_COST
        attempt.response_headers[COST_HEADER] = f"{cost.usd:.6f}"
        attempt.log_fields["cost_usd"] = round(cost.usd, 6)
        if cost.savings_usd:
            attempt.log_fields["cache_savings_usd"] = round(cost.savings_usd, 6)
        if price is None and provider.paid:
            attempt.log_fields["cost_unpriced"] = True
        if self.fleet is not None:
            self.fleet.settle(attempt, cost.usd)
        ledger = self._open_ledger()
        if ledger is None:
            return
        row: Row = (
            self.clock(),
            attempt.profile,
            provider.name,
            model,
            attempt.request.ingress,
            int(attempt.stream),
            status,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            cost.usd,
            cost.savings_usd,
            int(price is not None),
            int(provider.paid),
            attempt.request.key_name,
        )
        ledger.append(row)

    @hookimpl
    def register_commands(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> None:
        from coderouter_cost.stats import add_stats_command

        add_stats_command(subparsers, self)

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"pid": os.getpid()}
        ledger: SpendLedger | None = self.pg or self.ledger
        if self.pg is not None:
            state.update(self.pg.describe())
        else:
            state["ledger"] = str(self.ledger.path) if self.ledger else None
            state["open"] = bool(self.ledger and self.ledger.is_open)
        if self.fleet is not None:
            state["fleet_budgets"] = self.fleet.describe()
        if ledger is None:
            return state
        spend = ledger.spend()
        state.update(
            {
                "month": spend.month,
                "spent_usd": {
                    "total": round(spend.total, 6),
                    "by_provider": {k: round(v, 6) for k, v in spend.by_provider.items()},
                    "by_profile": {k: round(v, 6) for k, v in spend.by_profile.items()},
                    "by_key": {k: round(v, 6) for k, v in spend.by_key.items()},
                },
                "budgets_usd": self.budgets(),
            }
        )
        if self.ledger is not None:
            state["pending_rows"] = len(self.ledger.pending)
            state["write_errors"] = self.ledger.write_errors
            state["last_error"] = self.ledger.last_error
        return state
