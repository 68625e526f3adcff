"""CodeRouter cost plugin: prompt-cache-aware pricing, a durable spend ledger shared by every
worker on a host, monthly budgets per provider, per profile and in total, and
``coderouter stats``."""

from coderouter_cost.ledger import Ledger, MonthSpend, month_bounds
from coderouter_cost.plugin import COST_HEADER, CostPlugin
from coderouter_cost.pricing import Cost, Price, PriceTable, Pricing
from coderouter_cost.settings import CostConfig, ProviderCost

__all__ = [
    "COST_HEADER",
    "Cost",
    "CostConfig",
    "CostPlugin",
    "Ledger",
    "MonthSpend",
    "Price",
    "PriceTable",
    "Pricing",
    "ProviderCost",
    "month_bounds",
]
