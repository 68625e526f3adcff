"""The SQLite ledger's life in one worker process: opened at startup (retried now and then when
it cannot be), its queued rows and its WAL checkpoints written off the event loop, closed at
shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable

from coderouter_cost.ledger import Ledger

__all__ = ["CHECKPOINT_INTERVAL_S", "OPEN_RETRY_S", "SqliteUpkeep"]

# How often a worker moves its WAL into the database, off the event loop.
CHECKPOINT_INTERVAL_S = 1.0
OPEN_RETRY_S = 5.0


class SqliteUpkeep:
    """``report`` gets each problem as one line (a ``cost_ledger_error`` event)."""

    def __init__(self, ledger: Ledger, report: Callable[[str], None]) -> None:
        self.ledger = ledger
        self.report = report
        self._task: asyncio.Task[None] | None = None
        self._next_open_try = 0.0

    def opened(self) -> Ledger:
        """The ledger, opened first if it is not yet and the last try is long enough ago."""
        ledger = self.ledger
        if not ledger.is_open:
            now = time.monotonic()
            if now < self._next_open_try:
                return ledger
            try:
                ledger.open()
            except (sqlite3.Error, OSError) as exc:
                # Retried now and then, not on every hook call of every request.
                self._next_open_try = now + OPEN_RETRY_S
                self.report(
                    f"cost ledger {ledger.path}: cannot open ({exc}); spend is kept "
                    f"in memory and the ledger retried every {OPEN_RETRY_S:g} s"
                )
        return ledger

    def start(self, *, write_interval_s: float, checkpoint_interval_s: float) -> None:
        """Open the ledger and start the background task; ``write_interval_s > 0`` queues
        rows for it to write in batches."""
        ledger = self.opened()
        if not ledger.is_open:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop: SQLite keeps checkpointing inline
        ledger.defer_checkpoints()
        if write_interval_s > 0:
            ledger.defer_writes()
        self._task = loop.create_task(self._background(write_interval_s, checkpoint_interval_s))

    async def _background(self, write_interval_s: float, checkpoint_interval_s: float) -> None:
        """Off the event loop: queued rows every ``write_interval_s``, WAL checkpoints
        every ``checkpoint_interval_s``."""
        ledger = self.ledger
        interval = write_interval_s or checkpoint_interval_s
        last_checkpoint = time.monotonic()
        while True:
            await asyncio.sleep(min(interval, checkpoint_interval_s))
            if ledger.pending:
                problem = await asyncio.to_thread(ledger.write_queued)
                if problem is not None:
                    self.report(problem)
            now = time.monotonic()
            if ledger.unchecked_rows and now - last_checkpoint >= checkpoint_interval_s:
                last_checkpoint = now
                await asyncio.to_thread(ledger.checkpoint)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ledger.close()
