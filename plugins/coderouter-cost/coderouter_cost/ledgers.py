"""What budgets and the plugin use of a ledger, whichever is configured.

:class:`~coderouter_cost.ledger.Ledger` (SQLite, one host) and
:class:`~coderouter_cost.pg_ledger.PostgresLedger` (several hosts) both implement it. Neither
call waits on the network: ``append`` records a row durably on the host and ``spend`` answers
from memory kept current by the ledger itself.
"""

from __future__ import annotations

from typing import Protocol

from coderouter_cost.ledger import MonthSpend, Row

__all__ = ["SpendLedger"]


class SpendLedger(Protocol):
    @property
    def where(self) -> str:
        """The ledger file, or the Postgres DSN without its password."""
        ...

    @property
    def is_open(self) -> bool:
        """Whether :meth:`spend` holds the ledger's own totals (the file is open, or this
        month was read from Postgres), not only this worker's rows."""
        ...

    def append(self, row: Row) -> bool:
        """Record one priced attempt (it counts towards :meth:`spend` at once); True when the
        row is already committed to the ledger itself."""
        ...

    def spend(self) -> MonthSpend:
        """This UTC month's spend of every worker and host, as far as this worker knows it."""
        ...
