"""Budget reservations shared by every host: the :class:`BudgetBook` interface and its records
(``app.store.budgets`` with ``[state] backend = "redis"``, implemented by
:class:`~coderouter.state.redis_budgets.RedisBudgets`; the embedded store has none and budgets
stay with each plugin's own ledger).

Before an attempt a plugin reserves its worst-case cost against every budget that applies
(:meth:`BudgetBook.reserve`: spend plus live holds checked against each limit in one atomic
step); after it, it settles the real cost (:meth:`BudgetBook.settle`: the spend added and the
hold removed in one step). The reserve is awaited; the settle never waits. While the store is
unreachable :meth:`BudgetBook.reserve_locally` checks what this worker last heard plus its own
unsent settles, for ``[state] on_outage = "open"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

__all__ = [
    "Backlog",
    "BudgetBook",
    "BudgetOutage",
    "Hold",
    "Limit",
    "Refusal",
]


@attrs.frozen
class Limit:
    """One budget an attempt counts against: ``key`` names it (``provider:<name>``,
    ``profile:<name>``, ``total``, ...), ``usd`` is its limit (``None``: counted only)."""

    key: str
    usd: float | None


@attrs.frozen
class Hold:
    """A reservation: ``amount`` held against ``limits`` in ``period`` until settled or
    ``expires_at`` (wall time). ``local`` holds were admitted while Redis was unreachable."""

    id: str
    period: str
    limits: tuple[Limit, ...]
    amount: float
    expires_at: float
    local: bool = False


@attrs.frozen
class Refusal:
    """The budget without room for the amount asked: its limit, spend and live holds."""

    limit: Limit
    spent: float
    held: float


class BudgetOutage(Exception):
    """The store cannot answer (Redis unreachable or too slow)."""


class Backlog(BudgetOutage):
    """Too many settles wait to be sent: no new reservation until they are."""


class BudgetBook(Protocol):
    """Budgets every host counts against (see the module docstring)."""

    async def reserve(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal: ...

    def reserve_locally(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal: ...

    def settle(self, hold: Hold, cost: float, *, now: float) -> None: ...

    async def seed(self, period: str, spent: dict[str, float]) -> None: ...

    async def restored(self) -> None:
        """Returns when the store is reachable again after an outage."""
        ...

    def describe(self) -> dict[str, Any]: ...
