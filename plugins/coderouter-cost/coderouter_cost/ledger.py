"""The durable spend ledger: one SQLite row per priced attempt, shared by every worker on a host.

WAL mode lets readers and the single writer run at once; ``synchronous=NORMAL`` makes each commit
survive a killed process (a power loss may drop the last commits). Rows are either each their
own committed transaction, written at once (:meth:`Ledger.append`), or, once
:meth:`Ledger.defer_writes` is called, queued in memory and written in batches by
:meth:`Ledger.write_queued` off the event loop on a connection of its own.

``key_name`` is the name of the ingress key (``[[server.keys]]``) that sent the request, ``""``
when the router has no named keys. Ledgers written before the column existed get it on open
(``ALTER TABLE ... ADD COLUMN``, their rows read as ``""``).

Budgets need this month's spend on every request. :class:`MonthSpend` keeps it in memory per
worker and catches up incrementally: rows are append-only with increasing ids, so reading
``WHERE id > last_seen`` (a primary-key range, usually empty) picks up what other workers wrote.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import attrs

__all__ = ["COLUMNS", "Ledger", "MonthSpend", "Row", "connect", "has_column", "month_bounds"]

SCHEMA_VERSION = 2
COLUMNS = (
    "ts",
    "profile",
    "provider",
    "model",
    "ingress",
    "stream",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "savings_usd",
    "priced",
    "paid",
    "key_name",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    profile TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    ingress TEXT NOT NULL,
    stream INTEGER NOT NULL,
    status INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    savings_usd REAL NOT NULL,
    priced INTEGER NOT NULL,
    paid INTEGER NOT NULL,
    key_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempts_ts ON attempts(ts);
"""
_INSERT = f"INSERT INTO attempts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
_TS: Final = 0
_PROFILE: Final = 1
_PROVIDER: Final = 2
_COST: Final = 12
_KEY: Final = 16

# One ledger row in COLUMNS order; a plain tuple keeps the per-request write cheap.
Row = tuple[
    float, str, str, str, str, int, int, int, int, int, int, int, float, float, int, int, str
]


def month_bounds(ts: float) -> tuple[str, float, float]:
    """``("2026-11", start, end)``: the UTC calendar month holding ``ts``, as Unix times."""
    moment = datetime.fromtimestamp(ts, UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return f"{moment.year:04d}-{moment.month:02d}", start.timestamp(), end.timestamp()


@attrs.define
class MonthSpend:
    """What was spent in one UTC month, per provider, per profile, per ingress key and in
    total."""

    month: str
    start: float
    end: float
    last_id: int = 0
    total: float = 0.0
    by_provider: dict[str, float] = attrs.Factory(dict)
    by_profile: dict[str, float] = attrs.Factory(dict)
    by_key: dict[str, float] = attrs.Factory(dict)

    def add(self, ts: float, provider: str, profile: str, cost: float, key: str = "") -> None:
        if cost and self.start <= ts < self.end:
            self.total += cost
            self.by_provider[provider] = self.by_provider.get(provider, 0.0) + cost
            self.by_profile[profile] = self.by_profile.get(profile, 0.0) + cost
            if key:
                self.by_key[key] = self.by_key.get(key, 0.0) + cost

    def provider(self, name: str) -> float:
        return self.by_provider.get(name, 0.0)

    def profile(self, name: str) -> float:
        return self.by_profile.get(name, 0.0)

    def key(self, name: str) -> float:
        return self.by_key.get(name, 0.0)

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.end - now)


def connect(path: Path, *, busy_timeout_ms: int, create: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (each statement is its own transaction) with WAL.

    ``create=False`` opens an existing ledger and never creates one (``coderouter stats``).
    """
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = str(path)
    else:
        target = f"{path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(
        target,
        isolation_level=None,
        check_same_thread=False,
        timeout=busy_timeout_ms / 1000,
        uri=not create,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if create:
        _set_wal(conn, busy_timeout_ms)
        conn.executescript(_SCHEMA)
        _migrate(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def has_column(conn: sqlite3.Connection, name: str) -> bool:
    return any(row[1] == name for row in conn.execute("PRAGMA table_info(attempts)"))


def _migrate(conn: sqlite3.Connection) -> None:
    """Columns added since a ledger was created; SQLite adds one without rewriting rows."""
    if has_column(conn, "key_name"):
        return
    try:
        conn.execute("ALTER TABLE attempts ADD COLUMN key_name TEXT NOT NULL DEFAULT ''")
    except sqlite3.OperationalError:
        # Another worker opening the same old ledger added it first.
        if not has_column(conn, "key_name"):
            raise


def _set_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Switching the journal mode takes a lock the busy handler does not always wait for, so
    # several workers opening a new ledger at once retry here.
    deadline = time.monotonic() + max(busy_timeout_ms, 1000) / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Ledger:
    """The ledger file of one worker process: append rows, read this month's spend.

    ``clock`` is the wall clock (Unix seconds) that decides the current month. Rows that cannot
    be written (the file is locked past ``busy_timeout_ms``, the disk is full) stay in memory,
    count towards the month's spend and are written with the next row or at :meth:`close`.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 2000,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self.on_error = on_error
        self.pending: list[Row] = []
        self.write_errors = 0
        self.last_error = ""
        self.unchecked_rows = 0
        self._conn: sqlite3.Connection | None = None
        self._month: MonthSpend | None = None
        self._lock = threading.Lock()
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self.deferred = False
        self._in_flight: list[Row] = []
        self._writer_conn: sqlite3.Connection | None = None
        self._writer_lock = threading.Lock()

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def open(self) -> None:
        with self._lock:
            if self._conn is None:
                self._conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
                self._month = None

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpoint_conn is not None:
                self._checkpoint_conn.close()
                self._checkpoint_conn = None
        with self._writer_lock:
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None
        with self._lock:
            if self._conn is None:
                return
            if self.pending:
                self._write_many([])
            self._conn.close()
            self._conn = None

    # --- checkpoints -----------------------------------------------------------------------

    def defer_checkpoints(self, backstop_pages: int = 10_000) -> None:
        """Leave WAL checkpoints to :meth:`checkpoint`, called off the event loop.

        A checkpoint copies the WAL into the database and syncs it: tens of milliseconds that
        would otherwise land inside an ``INSERT`` every thousand pages. SQLite still checkpoints
        inline past ``backstop_pages`` in case nobody calls :meth:`checkpoint`.
        """
        with self._lock:
            if self._conn is not None:
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {int(backstop_pages)}")

    def checkpoint(self) -> tuple[int, int, int] | None:
        """A passive checkpoint on a connection of its own (safe from any one thread at a
        time): ``(busy, wal_frames, checkpointed_frames)``, or None when it failed."""
        self.unchecked_rows = 0
        with self._checkpoint_lock:
            try:
                if self._checkpoint_conn is None:
                    self._checkpoint_conn = sqlite3.connect(
                        self.path, isolation_level=None, check_same_thread=False
                    )
                    self._checkpoint_conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
                busy, frames, done = self._checkpoint_conn.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)"
                ).fetchone()
            except sqlite3.Error as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.on_error is not None:
                    self.on_error(f"cost ledger {self.path}: checkpoint failed ({self.last_error})")
                return None
        return int(busy), int(frames), int(done)

    # --- writing ---------------------------------------------------------------------------

    def defer_writes(self) -> None:
        """From now on :meth:`append` only queues the row (it counts towards the spend at
        once); :meth:`write_queued`, called off the event loop, writes the queue."""
        self.deferred = True

    def write_queued(self) -> str | None:
        """Write the queued rows in one transaction on a connection of its own (safe from any
        one thread at a time; the lock the event loop takes is held only to swap lists).
        Returns the error message when the write failed (the rows stay queued)."""
        with self._lock:
            if not self.pending or self._conn is None:
                return None
            batch, self.pending = self.pending, []
            self._in_flight = batch
        with self._writer_lock:
            try:
                if self._writer_conn is None:
                    self._writer_conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
                conn = self._writer_conn
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, batch)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer_conn is not None and self._writer_conn.in_transaction:
                    self._writer_conn.execute("ROLLBACK")
                with self._lock:
                    self._in_flight = []
                    self.pending[:0] = batch
                    self.write_errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                return (
                    f"cost ledger {self.path}: write failed ({self.last_error}); "
                    f"{len(self.pending)} row(s) kept in memory and retried"
                )
        with self._lock:
            self._in_flight = []
            self.unchecked_rows += len(batch)
        return None

    def append(self, row: Row) -> bool:
        """Write ``row`` (and any rows kept from earlier failures); True when committed.
        With :meth:`defer_writes`, queue it (False)."""
        with self._lock:
            if self._conn is None or self.deferred:
                self.pending.append(row)
                return False
            if self.pending:
                return self._write_many([row])
            try:
                rowid = self._conn.execute(_INSERT, row).lastrowid
            except sqlite3.Error as exc:
                self._failed(exc, [row])
                return False
            self.unchecked_rows += 1
            month = self._month
            if month is not None and rowid == month.last_id + 1:
                # Nobody wrote in between: count the row here and spare the next read.
                month.last_id = rowid
                month.add(row[_TS], row[_PROVIDER], row[_PROFILE], row[_COST], row[_KEY])
            return True

    def _write_many(self, rows: list[Row]) -> bool:
        assert self._conn is not None
        batch = [*self.pending, *rows]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(_INSERT, batch)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self.pending = []
            self._failed(exc, batch)
            return False
        self.pending = []
        self.unchecked_rows += len(batch)
        return True

    def _failed(self, exc: sqlite3.Error, rows: Iterable[Row]) -> None:
        self.pending.extend(rows)
        self.write_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.on_error is not None:
            self.on_error(
                f"cost ledger {self.path}: write failed ({self.last_error}); "
                f"{len(self.pending)} row(s) kept in memory and retried"
            )

    # --- reading ---------------------------------------------------------------------------

    def spend(self) -> MonthSpend:
        """This UTC month's spend as committed by every worker, plus rows not yet written."""
        now = self.clock()
        with self._lock:
            month = self._month
            try:
                if month is None or not month.start <= now < month.end:
                    month = self._month = self._load(now)
                elif self._conn is not None:
                    self._catch_up(month)
            except sqlite3.Error as exc:
                # Reads in WAL mode fail only in rare recoveries; the router keeps answering
                # on the last known totals rather than failing every request.
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.on_error is not None:
                    self.on_error(f"cost ledger {self.path}: read failed ({self.last_error})")
                if month is None or not month.start <= now < month.end:
                    label, start, end = month_bounds(now)
                    month = MonthSpend(label, start, end)
            if not self.pending and not self._in_flight:
                return month
            view = attrs.evolve(
                month,
                by_provider=dict(month.by_provider),
                by_profile=dict(month.by_profile),
                by_key=dict(month.by_key),
            )
            # Rows being written right now may already be committed and read back into
            # ``month``: for that moment they count twice, never zero times.
            for row in (*self.pending, *self._in_flight):
                view.add(row[_TS], row[_PROVIDER], row[_PROFILE], row[_COST], row[_KEY])
            return view

    def _load(self, now: float) -> MonthSpend:
        label, start, end = month_bounds(now)
        month = MonthSpend(label, start, end)
        if self._conn is None:
            return month
        conn = self._conn
        conn.execute("BEGIN")
        try:
            (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()
            rows = conn.execute(
                "SELECT provider, profile, key_name, sum(cost_usd) FROM attempts "
                "WHERE ts >= ? AND ts < ? AND id <= ? GROUP BY provider, profile, key_name",
                (start, end, last),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        month.last_id = last
        for provider, profile, key, cost in rows:
            month.add(start, provider, profile, cost, key)
        return month

    def _catch_up(self, month: MonthSpend) -> None:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT id, ts, provider, profile, cost_usd, key_name FROM attempts WHERE id > ?",
            (month.last_id,),
        ).fetchall()
        for rowid, ts, provider, profile, cost, key in rows:
            month.add(ts, provider, profile, cost, key)
            month.last_id = max(month.last_id, rowid)
