"""This month's spend as one worker knows it: every host's rows read from Postgres, plus the
rows this worker recorded and has not read back yet.

Catching up exactly: a read keeps the oldest transaction id still running when it ran
(``pg_snapshot_xmin``). Every transaction older than that had finished, so its rows were in
that read; the next read asks only for rows of that transaction id or newer and skips the row
ids it has already counted. A row this worker counted when it recorded it is skipped when it is
read back, so each row counts once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import psycopg

from coderouter_cost.ledger import MonthSpend, Row, month_bounds
from coderouter_cost.pg_schema import COUNTED_BEFORE, MONTH_TOTALS, RECENT, SNAPSHOT_XMIN

__all__ = ["MonthReader"]

_TS: Final = 0
_PROFILE: Final = 1
_PROVIDER: Final = 2
_COST: Final = 12
_KEY: Final = 16


def _add(month: MonthSpend, row: Row) -> None:
    month.add(row[_TS], row[_PROVIDER], row[_PROFILE], row[_COST], row[_KEY])


class MonthReader:
    """``clock`` (Unix seconds) decides the month."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.month = MonthSpend(*month_bounds(clock()))
        self.loaded = False
        self._local: dict[str, Row] = {}
        self._seen: dict[str, int] = {}
        self._xmin: int | None = None

    def count_local(self, row_id: str, row: Row) -> None:
        """A row this worker recorded (or adopted): counted now, skipped when read back."""
        self._local[row_id] = row
        _add(self.month, row)

    def count_unkept(self, row: Row) -> None:
        """A row no spool could keep: counted in this month's spend of this worker only."""
        _add(self.month, row)

    def current(self) -> MonthSpend:
        now = self.clock()
        if not self.month.start <= now < self.month.end:
            self.month = MonthSpend(*month_bounds(now))
            start, end = self.month.start, self.month.end
            self._local = {k: r for k, r in self._local.items() if start <= r[_TS] < end}
            for row in self._local.values():
                _add(self.month, row)
            self.reload()
        return self.month

    def reload(self) -> None:
        """Read the whole month again at the next :meth:`refresh`."""
        self._xmin = None
        self._seen.clear()
        self.loaded = False

    async def refresh(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Read what every host committed since the last read (the whole month the first
        time), in one snapshot."""
        month, last = self.month, self._xmin
        totals: list[tuple[Any, ...]] = []
        counted: list[tuple[Any, ...]] = []
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            xmin = int((await _all(conn, SNAPSHOT_XMIN, ()))[0][0])
            if last is None:
                totals = await _all(conn, MONTH_TOTALS, (month.start, month.end, str(xmin)))
                counted = await _all(conn, COUNTED_BEFORE, (list(self._local), str(xmin)))
            recent = await _all(
                conn, RECENT, (str(xmin if last is None else last), month.start, month.end)
            )
        if month is not self.month or last != self._xmin:
            return  # the month turned or a reload was asked for meanwhile: read again
        if last is None:
            self._load(totals, [r[0] for r in counted])
        for row_id, xid, ts, provider, profile, cost, key in recent:
            if row_id in self._seen:
                continue
            self._seen[row_id] = int(xid)
            if self._local.pop(row_id, None) is None:
                month.add(ts, provider, profile, cost, key)
        self._seen = {k: x for k, x in self._seen.items() if x >= xmin}
        self._xmin = xmin
        self.loaded = True

    def _load(self, totals: list[tuple[Any, ...]], counted: list[str]) -> None:
        """The month's totals of every transaction before the snapshot's oldest running one,
        plus this worker's rows not among them."""
        month = self.month
        fresh = MonthSpend(month.month, month.start, month.end)
        for provider, profile, key, cost in totals:
            fresh.add(month.start, provider, profile, float(cost), key)
        for row_id in counted:
            self._local.pop(row_id, None)
        for row in self._local.values():
            _add(fresh, row)
        month.total, month.by_provider, month.by_profile, month.by_key = (
            fresh.total,
            fresh.by_provider,
            fresh.by_profile,
            fresh.by_key,
        )
        self._seen.clear()


async def _all(
    conn: psycopg.AsyncConnection[Any], sql: str, params: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()
