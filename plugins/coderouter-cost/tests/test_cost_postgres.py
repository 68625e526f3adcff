"""The Postgres ledger against a real PostgreSQL server: rows, batches, two hosts' spend, an
outage with the spool and its replay, rows left by a stopped or killed worker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from coderouter_cost.ledger import COLUMNS, Row
from coderouter_cost.pg_ledger import BATCH_ROWS, PostgresLedger
from coderouter_cost.pg_schema import redact
from coderouter_cost.spool import Spool, encode

from coderouter.plugins import PluginError, load_plugins
from coderouter.testing import ConfigBuilder
from coderouter.testing.fleet import until
from coderouter.testing.postgres_server import PostgresServer

NOW = 1_795_000_000.0  # 2026-11-18, mid-month
T = TypeVar("T")


def row(
    provider: str = "claude", cost: float = 0.25, profile: str = "default", key: str = ""
) -> Row:
    return (NOW, profile, provider, "m", "anthropic", 0, 200, 10, 20, 0, 0, 0, cost, 0.0, 1, 1, key)


def make_ledger(
    dsn: str, spool_dir: Path, events: list[tuple[str, str]] | None = None, **kwargs: Any
) -> PostgresLedger:
    found = events if events is not None else []
    return PostgresLedger(
        dsn,
        Spool(spool_dir, kwargs.pop("max_bytes", 1 << 20)),
        clock=lambda: NOW,
        on_event=lambda event, message: found.append((event, message)),
        connect_timeout_s=kwargs.pop("connect_timeout_s", 2.0),
        shutdown_timeout_s=kwargs.pop("shutdown_timeout_s", 2.0),
        **kwargs,
    )


def rows_in(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT row_id::text, xid::text, {', '.join(COLUMNS)} FROM attempts ORDER BY ts"
        ).fetchall()


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(body())


def test_rows_are_committed_with_the_sqlite_columns(postgres_dsn: str, tmp_path: Path) -> None:
    async def body() -> PostgresLedger:
        ledger = make_ledger(postgres_dsn, tmp_path)
        await ledger.start()
        ledger.append(row("claude", 0.25, key="alice"))
        ledger.append(row("gpt", 0.5, profile="night"))
        # write_interval_s = 0: the writer sends at once, without waiting for an interval.
        await until(lambda: ledger.rows_sent == 2, 10.0)
        await ledger.stop()
        return ledger

    ledger = run(body)
    stored = rows_in(postgres_dsn)
    assert [r[2:] for r in sorted(stored, key=lambda r: r[4])] == [
        row("claude", 0.25, key="alice"),
        row("gpt", 0.5, profile="night"),
    ]
    assert len({r[0] for r in stored}) == 2
    spend = ledger.spend()
    assert spend.total == 0.75
    assert spend.by_provider == {"claude": 0.25, "gpt": 0.5}
    assert spend.by_profile == {"default": 0.25, "night": 0.5}
    assert spend.by_key == {"alice": 0.25}  # keyless requests count in no key's spend
    # Nothing is left in the spool once Postgres has every row: the file is removed at stop.
    assert list(tmp_path.iterdir()) == []


def test_rows_go_in_batches_one_transaction_each(postgres_dsn: str, tmp_path: Path) -> None:
    async def body() -> None:
        ledger = make_ledger(postgres_dsn, tmp_path, write_interval_s=60.0)
        await ledger.start()
        for _ in range(120):
            ledger.append(row(cost=0.01))
        assert ledger.rows_sent == 0  # queued until the interval: nothing sent per row
        assert await ledger.sync()
        await ledger.stop()

    run(body)
    stored = rows_in(postgres_dsn)
    assert len(stored) == 120
    assert len({r[1] for r in stored}) == 1  # one transaction id: one batch


def test_a_long_spool_goes_in_bounded_transactions(postgres_dsn: str, tmp_path: Path) -> None:
    async def body() -> int:
        ledger = make_ledger(postgres_dsn, tmp_path, write_interval_s=60.0)
        await ledger.start()
        for _ in range(2 * BATCH_ROWS + 10):
            ledger.append(row(cost=0.01))
        assert await ledger.sync()
        size = ledger.spool.size
        await ledger.stop()
        return size

    assert run(body) == 0  # everything committed: the spool is empty
    stored = rows_in(postgres_dsn)
    assert len(stored) == 2 * BATCH_ROWS + 10
    assert len({r[1] for r in stored}) == 3


def test_two_hosts_see_each_others_spend_once(postgres_dsn: str, tmp_path: Path) -> None:
    async def body() -> tuple[float, float]:
        a = make_ledger(postgres_dsn, tmp_path / "a", write_interval_s=60.0)
        b = make_ledger(postgres_dsn, tmp_path / "b", write_interval_s=60.0)
        await a.start()
        await b.start()
        a.append(row("claude", 1.0))
        a.append(row("claude", 2.0))
        b.append(row("gpt", 4.0))
        assert await a.sync() and await b.sync() and await a.sync()
        # Read back twice more: a row already counted is never counted again.
        assert await a.sync() and await b.sync()
        totals = a.spend().total, b.spend().total
        await a.stop()
        await b.stop()
        return totals

    assert run(body) == (7.0, 7.0)


def test_a_row_committed_after_a_read_began_is_still_counted(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """A transaction that started before a read and commits after it: its row has an older
    transaction id than rows the read saw, and the next read still picks it up."""

    async def body() -> float:
        ledger = make_ledger(postgres_dsn, tmp_path, write_interval_s=60.0)
        await ledger.start()
        with psycopg.connect(postgres_dsn) as slow:
            slow.execute(
                f"INSERT INTO attempts (row_id, {', '.join(COLUMNS)}) VALUES "
                f"(gen_random_uuid(), {', '.join('%s' for _ in COLUMNS)})",
                row("slow", 8.0),
            )
            ledger.append(row("fast", 1.0))
            assert await ledger.sync()
            assert ledger.spend().total == 1.0
            slow.commit()
        assert await ledger.sync()
        total = ledger.spend().total
        await ledger.stop()
        return total

    assert run(body) == 9.0


def test_outage_spools_rows_and_replays_them_once(
    postgres_server: PostgresServer, postgres_dsn: str, tmp_path: Path
) -> None:
    events: list[tuple[str, str]] = []

    async def body() -> dict[str, Any]:
        ledger = make_ledger(postgres_dsn, tmp_path, events, write_interval_s=60.0)
        await ledger.start()
        ledger.append(row(cost=1.0))
        assert await ledger.sync()
        postgres_server.stop()
        try:
            for _ in range(3):
                ledger.append(row(cost=0.5))
            assert not await ledger.sync()
            assert not await ledger.sync()
            during = ledger.describe()
            assert ledger.spend().total == 2.5  # budgets count the spooled rows
            spooled = [json.loads(line) for line in Path(during["spool"]).read_bytes().split()]
            assert len(spooled) == 3
        finally:
            postgres_server.start()
        assert await ledger.sync()
        after = ledger.describe()
        assert ledger.spend().total == 2.5
        await ledger.stop()
        return {"during": during, "after": after}

    states = run(body)
    assert states["during"]["open"] is False
    assert states["during"]["outage_since"] is not None
    assert states["during"]["spooled_rows"] == 3
    assert "OperationalError" in states["during"]["last_error"]
    assert states["after"]["outage_since"] is None
    assert states["after"]["spooled_rows"] == 0
    assert len(rows_in(postgres_dsn)) == 4
    # The outage is reported once, however many writes failed, and its end once.
    assert [e for e, _ in events] == ["cost_ledger_error", "cost_ledger_recovered"]
    assert "unreachable" in events[0][1]


def test_rows_left_at_a_stop_during_an_outage_are_sent_by_the_next_worker(
    postgres_server: PostgresServer, postgres_dsn: str, tmp_path: Path
) -> None:
    async def stopped_while_down() -> None:
        ledger = make_ledger(postgres_dsn, tmp_path, shutdown_timeout_s=0.5)
        await ledger.start()
        postgres_server.stop()
        for _ in range(4):
            ledger.append(row(cost=0.25))
        await ledger.stop()

    try:
        run(stopped_while_down)
        assert len(list(tmp_path.glob("*.jsonl"))) == 1  # kept for the next worker
    finally:
        postgres_server.start()

    async def next_worker() -> float:
        ledger = make_ledger(postgres_dsn, tmp_path)
        await ledger.start()
        total = ledger.spend().total
        assert ledger.rows_adopted == 4
        await ledger.stop()
        return total

    assert run(next_worker) == 1.0
    assert len(rows_in(postgres_dsn)) == 4
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_killed_workers_spool_is_replayed_without_duplicates(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """A worker killed after Postgres committed its rows but before it emptied its spool:
    the rows are sent again and stored once, and counted once."""

    async def first() -> list[tuple[str, Row]]:
        ledger = make_ledger(postgres_dsn, tmp_path)
        await ledger.start()
        ledger.append(row(cost=1.0))
        ledger.append(row(cost=2.0))
        await until(lambda: ledger.rows_sent == 2, 10.0)
        await ledger.stop()
        return [(r[0], r[2:]) for r in rows_in(postgres_dsn)]  # type: ignore[misc]

    committed = run(first)
    # What the killed worker's file held: both committed rows, one more, and a torn line.
    orphan = tmp_path / "999-dead.jsonl"
    lost = row(cost=4.0)
    orphan.write_bytes(
        b"".join(encode(row_id, r) for row_id, r in committed)
        + encode("00000000-0000-4000-8000-000000000001", lost)
        + b'["00000000-0000'
    )
    events: list[tuple[str, str]] = []

    async def second() -> float:
        ledger = make_ledger(postgres_dsn, tmp_path, events)
        await ledger.start()
        total = ledger.spend().total
        await ledger.stop()
        return total

    assert run(second) == 7.0
    cost = 2 + COLUMNS.index("cost_usd")
    assert sorted(r[cost] for r in rows_in(postgres_dsn)) == [1.0, 2.0, 4.0]
    assert not orphan.exists()
    assert any("cut short" in message for _, message in events)


def test_a_full_spool_still_counts_the_spend(postgres_dsn: str, tmp_path: Path) -> None:
    ledger = make_ledger(postgres_dsn, tmp_path, max_bytes=len(encode("x" * 36, row())) * 2)
    ledger.spool.open()
    for _ in range(3):
        ledger.append(row(cost=1.0))
    assert ledger.rows_dropped == 1
    assert len(ledger.unsent) == 2
    assert ledger.spend().total == 3.0
    ledger.spool.close()


@pytest.mark.parametrize("room", [2, 0])
def test_orphaned_rows_without_room_in_this_spool_stay_in_their_file(
    tmp_path: Path, room: int
) -> None:
    """This worker's spool takes ``room`` of a dead worker's three rows; the others stay in
    the dead worker's file (nothing is dropped) and an event says how many."""
    orphan = tmp_path / "999-dead.jsonl"
    rows = [(f"00000000-0000-4000-8000-00000000000{n}", row(cost=float(n))) for n in (1, 2, 3)]
    orphan.write_bytes(b"".join(encode(row_id, r) for row_id, r in rows))
    events: list[tuple[str, str]] = []
    unreachable = "postgresql://router@127.0.0.1:1/ledger"
    line = len(encode(*rows[0]))
    ledger = make_ledger(unreachable, tmp_path, events, max_bytes=line * room + line // 2)
    ledger.connect_timeout_s = ledger.shutdown_timeout_s = 0.5

    async def adopt() -> list[str]:
        await ledger.start()
        adopted = [row_id for row_id, _ in ledger.unsent]
        await ledger.stop()
        return adopted

    assert run(adopt) == [row_id for row_id, _ in rows[:room]]
    assert ledger.rows_adopted == room and ledger.rows_dropped == 0
    left = [json.loads(text)[0] for text in orphan.read_text().splitlines()]
    assert left == [row_id for row_id, _ in rows[room:]]
    partial = [message for event, message in events if event == "cost_spool_adopt_partial"]
    assert len(partial) == 1 and f"{room} of 3 row(s) adopted, {3 - room} kept" in partial[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


ADOPT_UNDER_A_FILE_SIZE_LIMIT = """
import asyncio, json, resource, signal, sys
from pathlib import Path
from coderouter_cost.pg_ledger import PostgresLedger
from coderouter_cost.spool import Spool

directory, limit = Path(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
events = []
ledger = PostgresLedger(
    "postgresql://router@127.0.0.1:1/ledger",
    Spool(directory, 1 << 20),
    on_event=lambda event, message: events.append(event),
    connect_timeout_s=0.5,
    shutdown_timeout_s=0.5,
)


async def main():
    await ledger.start()
    await ledger.stop()


asyncio.run(main())
print(json.dumps({"adopted": ledger.rows_adopted, "events": events}))
"""


def test_orphaned_rows_stay_in_their_file_when_this_spool_cannot_be_written(
    tmp_path: Path,
) -> None:
    """Every write this worker makes past one and a half rows fails (a full disk): the
    dead worker's file keeps all its rows and this worker's spool holds no torn line."""
    orphan = tmp_path / "999-dead.jsonl"
    rows = [(f"00000000-0000-4000-8000-00000000000{n}", row(cost=float(n))) for n in (1, 2, 3)]
    data = b"".join(encode(row_id, r) for row_id, r in rows)
    orphan.write_bytes(data)
    limit = len(encode(*rows[0])) * 3 // 2
    done = subprocess.run(
        [sys.executable, "-B", "-c", ADOPT_UNDER_A_FILE_SIZE_LIMIT, str(tmp_path), str(limit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["adopted"] == 0 and "cost_spool_adopt_partial" in result["events"]
    assert orphan.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [orphan.name]


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (
            "postgresql://router:s3cret@db:5432/ledger?sslmode=require",
            "postgresql://router:***@db:5432/ledger?sslmode=require",
        ),
        (
            "postgresql://router@db/ledger?password=s3cret&sslmode=require",
            "postgresql://router@db/ledger?sslmode=require",
        ),
        ("host=db user=router password=s3cret dbname=ledger", "host=db user=router dbname=ledger"),
        ("host=db password = s3cret dbname=ledger", "host=db dbname=ledger"),
        ("host=db password='s3 cr\\'et' dbname=ledger", "host=db dbname=ledger"),
        ("postgresql://router@db/ledger", "postgresql://router@db/ledger"),
    ],
)
def test_the_dsn_is_shown_without_its_password(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown


def test_an_unknown_ledger_is_a_config_error_naming_the_choices() -> None:
    config = (
        ConfigBuilder()
        .provider("p", "http://127.0.0.1:9/v1")
        .profile("default", ["p"])
        .plugin("cost", ledger="mysql")
    )
    with pytest.raises(PluginError) as info:
        load_plugins(config.build())
    assert "plugins.cost: ledger: must be one of sqlite, postgres, got 'mysql'" in str(info.value)
