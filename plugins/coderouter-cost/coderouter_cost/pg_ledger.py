"""The Postgres ledger: one row per priced attempt in a database every host shares.

Hooks never wait on the network. :meth:`PostgresLedger.append` writes the row to this worker's
spool file (:mod:`coderouter_cost.spool`) and counts it in memory; a writer task on the event
loop sends spooled rows to Postgres (at once with ``write_interval_s = 0``, else every
``write_interval_s``), then reads back what every host wrote since its last read, so
:meth:`PostgresLedger.spend` answers from memory. When Postgres is unreachable the rows wait in
the spool, budgets count them, and the writer retries; what is left at shutdown stays in the
spool for the next worker to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from coderouter_cost.ledger import MonthSpend, Row
from coderouter_cost.pg_schema import INSERT, SCHEMA, SCHEMA_LOCK, redact
from coderouter_cost.pg_spend import MonthReader
from coderouter_cost.spool import Orphan, Spool, SpooledRow, encode

__all__ = ["PostgresLedger"]

REFRESH_S = 0.5
RETRY_S = 1.0
RETRY_MAX_S = 10.0
ORPHAN_CHECK_S = 10.0
BATCH_ROWS = 500
# A statement that waits longer (a lock, a stalled server) fails and counts as an outage, so
# the writer never hangs with rows unsent.
STATEMENT_TIMEOUT_MS = 10_000
_DOWN = (psycopg.Error, PoolTimeout, OSError, TimeoutError)
# The ledger reports an outage once, and its end; the pool would log every failed attempt.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class PostgresLedger:
    """One worker's view of the Postgres ledger. ``on_event(event, message)`` gets an outage
    once when it starts and once when it ends, and every spool problem."""

    def __init__(
        self,
        dsn: str,
        spool: Spool,
        *,
        write_interval_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[str, str], None] | None = None,
        connect_timeout_s: float = 3.0,
        shutdown_timeout_s: float = 5.0,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.dsn = dsn
        self.spool = spool
        self.write_interval_s = write_interval_s
        self.clock = clock
        self.on_event = on_event
        self.connect_timeout_s = connect_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.refresh_s = refresh_s
        self.outage_since: float | None = None
        self.last_error = ""
        self.rows_sent = 0
        self.rows_adopted = 0
        self.rows_dropped = 0
        self.unsent: list[SpooledRow] = []
        self.reader = MonthReader(clock)
        self._pool: AsyncConnectionPool | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_S
        self._orphans_at = 0.0
        self._next_send = 0.0

    @property
    def where(self) -> str:
        return redact(self.dsn)

    @property
    def is_open(self) -> bool:
        return self.reader.loaded

    # --- hooks' side: no network -----------------------------------------------------------

    def append(self, row: Row) -> bool:
        row_id = str(uuid.uuid4())
        line = encode(row_id, row)
        if self.spool.add(line):
            self.unsent.append((row_id, row))
            self.reader.count_local(row_id, row)
        else:
            # The spool is full (a long outage) or unwritable: the spend still counts here.
            self.rows_dropped += 1
            if self.rows_dropped == 1:
                self._event(
                    "cost_ledger_error",
                    f"cost ledger spool {self.spool.directory}: full or unwritable "
                    f"({self.spool.max_bytes} bytes); rows are counted but not kept",
                )
            self.reader.count_unkept(row)
        if self.write_interval_s == 0 and self._wake is not None:
            self._wake.set()
        return False

    def spend(self) -> MonthSpend:
        month = self.reader.current()
        if not self.reader.loaded and self._wake is not None:
            self._wake.set()  # a new month: load it now
        return month

    def describe(self) -> dict[str, Any]:
        return {
            "ledger": self.where,
            "backend": "postgres",
            "open": self.outage_since is None and self._pool is not None,
            "loaded": self.reader.loaded,
            "outage_since": self.outage_since,
            "spool": str(self.spool.path) if self.spool.path else None,
            "spooled_rows": len(self.unsent),
            "spool_bytes": self.spool.size,
            "rows_sent": self.rows_sent,
            "rows_adopted": self.rows_adopted,
            "rows_dropped": self.rows_dropped,
            "last_error": self.last_error,
        }

    def _event(self, event: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(event, message)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool, adopt orphaned spools, then sync once (bounded by
        ``connect_timeout_s``) so the first budget check knows this month's spend."""
        if self._task is not None:
            return
        self.spool.open()
        await self._adopt_orphans()
        self._wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sync(), self.connect_timeout_s)
        self._next_send = time.monotonic() + self.write_interval_s
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Send what is left (bounded by ``shutdown_timeout_s``); rows Postgres did not take
        stay in the spool file for the next worker."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.unsent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sync(refresh=False), self.shutdown_timeout_s)
        await self._drop_pool()
        self.spool.close()
        self._wake = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_s)
            self._wake.clear()
            now = time.monotonic()
            if self.outage_since is not None and now < self._retry_at:
                continue
            if now >= self._orphans_at:
                self._orphans_at = now + ORPHAN_CHECK_S
                await self._adopt_orphans()
            send = now >= self._next_send
            if send:
                self._next_send = now + self.write_interval_s
            await self.sync(send=send)

    # --- the writer's side -----------------------------------------------------------------

    async def sync(self, *, send: bool = True, refresh: bool = True) -> bool:
        """Send the spooled rows and catch up on every host's; False during an outage."""
        try:
            pool = await self._connect()
            async with pool.connection() as conn:
                if send:
                    await self._send(conn)
                if refresh:
                    await self.reader.refresh(conn)
        except _DOWN as exc:
            self._down(await self._reason(exc))
            await self._drop_pool()
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.spool.sync)
            return False
        if self.outage_since is not None:
            down_s = time.time() - self.outage_since
            self.outage_since = None
            self._event(
                "cost_ledger_recovered",
                f"cost ledger {self.where}: reachable again after {down_s:.1f} s; "
                f"{self.rows_sent} row(s) sent by this worker so far, "
                f"{len(self.unsent)} waiting in its spool",
            )
        self._retry_s = RETRY_S
        return True

    def _down(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}".strip()
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
        if self.outage_since is None:
            self.outage_since = time.time()
            self._event(
                "cost_ledger_error",
                f"cost ledger {self.where}: unreachable ({self.last_error}); requests are "
                f"answered, rows wait in {self.spool.directory} and are sent when it is back",
            )

    async def _reason(self, exc: BaseException) -> BaseException:
        """What the database said, when the pool only says it had no connection to lend."""
        if not isinstance(exc, PoolTimeout):
            return exc
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, connect_timeout=max(1, int(self.connect_timeout_s))
            )
        except psycopg.Error as refused:
            return refused
        await conn.close()
        return exc

    async def _drop_pool(self) -> None:
        # After a failure the next try starts a new pool: one connection attempt per retry,
        # at the ledger's own pace, rather than the pool's reconnect backoff.
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(*_DOWN):
                await pool.close(timeout=1.0)

    async def _connect(self) -> AsyncConnectionPool:
        if self._pool is not None:
            return self._pool
        # One plain connection first: it creates the table, and while Postgres is down it
        # fails fast with the server's own reason, before any pool exists.
        timeout = max(1, int(self.connect_timeout_s))
        async with (
            await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=timeout
            ) as conn,
            conn.transaction(),
        ):
            await _bounded(conn)
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in SCHEMA:
                await conn.execute(statement)
        # The pool checks a connection before lending it, so the first write after a
        # restart of Postgres does not fail on a dead socket.
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=1,
            max_size=2,
            open=False,
            timeout=self.connect_timeout_s,
            check=AsyncConnectionPool.check_connection,
            configure=_bounded,
            kwargs={"autocommit": True, "connect_timeout": timeout},
            name="coderouter-cost",
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout_s)
        except BaseException:
            await pool.close(timeout=0)
            raise
        self._pool = pool
        return self._pool

    async def _send(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Send the rows spooled so far, ``BATCH_ROWS`` a transaction; rows appended meanwhile
        wait for the next send, so a busy worker still gets to read between sends."""
        total, done = len(self.unsent), 0
        if not total:
            return
        try:
            while done < total:
                batch = self.unsent[done : min(done + BATCH_ROWS, total)]
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.executemany(INSERT, [(row_id, *row) for row_id, row in batch])
                done += len(batch)
        finally:
            # Rows appended while the batches were on their way are behind them in the list.
            del self.unsent[:done]
            self.rows_sent += done
        self.spool.keep_only(self.unsent)

    def _adopt(self, orphans: list[Orphan]) -> None:
        """Take over the rows of spool files no running worker holds: copied into this spool
        (one write each) before the file is removed. Rows this spool has no room for (or a
        failed write) stay in the file for a later look."""
        for orphan in orphans:
            kept = self.spool.add_all(orphan.rows)
            for row_id, row in orphan.rows[:kept]:
                self.unsent.append((row_id, row))
                self.reader.count_local(row_id, row)
            self.rows_adopted += kept
            rest = orphan.rows[kept:]
            if rest:
                Spool.keep_rest(orphan, rest)
                self._event(
                    "cost_spool_adopt_partial",
                    f"cost ledger spool {orphan.path}: {kept} of {len(orphan.rows)} row(s) "
                    f"adopted, {len(rest)} kept in the file for a later try (this worker's "
                    f"spool is full or unwritable)",
                )
            else:
                Spool.release(orphan)
            if orphan.cut:
                self._event(
                    "cost_ledger_error",
                    f"cost ledger spool {orphan.path}: {orphan.cut} line(s) cut short by a "
                    f"crash skipped",
                )
        if any(orphan.rows for orphan in orphans):
            # Some may be in Postgres already, counted in an earlier read: the next read
            # loads the month again and counts each row once.
            self.reader.reload()

    async def _adopt_orphans(self) -> None:
        try:
            orphans = await asyncio.to_thread(self.spool.claim_orphans)
        except OSError as exc:
            self._event("cost_ledger_error", f"cost ledger spool {self.spool.directory}: {exc}")
            return
        self._adopt(orphans)


async def _bounded(conn: psycopg.AsyncConnection[Any]) -> None:
    # Set on the session rather than as DSN options, which the operator's DSN may carry.
    await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
