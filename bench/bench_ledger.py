"""What the cost plugin's ledger adds to a request: one committed SQLite row, and the budget
reads, on the real file system.

Reported as the median, 90th, 99th and 99.9th percentile and the maximum of ``--iterations``
runs, in microseconds:

* ``append``: one ``INSERT`` committed in WAL mode with ``synchronous=NORMAL`` (what
  ``after_attempt`` writes per request), WAL checkpoints running in a background thread once a
  second as the plugin runs them;
* ``append, inline checkpoints``: the same with SQLite's default inline checkpoints every
  thousand pages (what the tail looks like without the background checkpoints);
* ``spend``: this month's spend when the worker's view is current (an empty primary-key range
  read: what ``filter_chain`` and ``before_attempt`` each do);
* ``request``: every hook the plugin runs for one request with budgets configured
  (``filter_chain`` + ``before_attempt`` + ``after_attempt``, pricing included);
* ``append, 2nd writer``: ``append`` while another process appends to the same ledger as fast
  as it can (two gunicorn workers under load);
* ``spend, 2nd writer``: ``spend`` while that process writes, so each read catches up on rows;
* ``append, postgres``: what ``after_attempt`` pays per row with ``ledger = "postgres"``: the
  row's id, one line written to the worker's spool file and the row counted in memory (the
  send to Postgres runs later in a background task, so no database is needed here).

    .venv/bin/python bench/bench_ledger.py [--iterations 20000] [--dir PATH] [--budget-us 100]

``--dir`` is where the ledger is written (default: a new temporary directory). Exits 1 when
the median ``request`` cost is over the budget.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coderouter_cost import CostPlugin, Ledger
from coderouter_cost.pg_ledger import PostgresLedger
from coderouter_cost.spool import Spool

from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder
from coderouter.types import Attempt, Chain, Draft, RequestView, Result, Usage


def row(ts: float) -> Any:
    return (
        ts,
        "default",
        "claude",
        "claude-sonnet-4-5",
        "anthropic",
        1,
        200,
        12,
        800,
        95_000,
        2_500,
        0,
        0.049911,
        0.2565,
        1,
        1,
        "",
    )


def timed(fn: Callable[[], object], iterations: int) -> dict[str, float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p90_us": round(samples[int(len(samples) * 0.9)], 1),
        "p99_us": round(samples[int(len(samples) * 0.99)], 1),
        "p999_us": round(samples[int(len(samples) * 0.999)], 1),
        "max_us": round(samples[-1], 1),
    }


def other_writer(path: str, stop: Any, ready: Any) -> None:
    ledger = Ledger(Path(path))
    ledger.open()
    ready.set()
    while not stop.is_set():
        ledger.append(row(time.time()))
    ledger.close()


def bench_request(directory: Path, iterations: int) -> dict[str, float]:
    config = (
        ConfigBuilder()
        .provider(
            "claude",
            "http://127.0.0.1:9",
            kind="anthropic",
            paid=True,
            model="claude-sonnet-4-5",
            cost={"monthly_budget_usd": 1e9},
        )
        .profile("default", ["claude"])
        .plugin("cost", monthly_budget_usd=1e9)
        .router(state_dir=str(directory / "plugin"))
        .build()
    )
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    plugin.bind(config)
    assert plugin.ledger is not None
    plugin.ledger.open()
    plugin.ledger.defer_checkpoints()
    usage = Usage(
        input_tokens=12, output_tokens=800, cache_read_tokens=95_000, cache_write_tokens=2_500
    )
    provider = config.provider("claude")

    def one() -> None:
        view = RequestView(
            "anthropic", {"model": "claude-sonnet-4-5", "stream": True}, {}, "", "default"
        )
        chain = Chain("default", [provider])
        plugin.filter_chain(request=view, chain=chain)
        attempt = Attempt(Draft(view), provider, 0, "default")
        plugin.before_attempt(attempt=attempt)
        plugin.after_attempt(
            attempt=attempt, result=Result(200, usage, "end_turn", 1.0, 0.2, "claude")
        )

    result = timed(one, iterations)
    plugin.ledger.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--dir", help="where to write the ledger (default: a temporary dir)")
    parser.add_argument("--budget-us", type=float, default=100.0)
    args = parser.parse_args()
    directory = Path(args.dir or tempfile.mkdtemp(prefix="coderouter-bench-ledger-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ledger.sqlite3"
    results: dict[str, Any] = {"dir": str(directory), "iterations": args.iterations}
    inline = Ledger(directory / "inline.sqlite3")
    inline.open()
    results["append, inline checkpoints"] = timed(
        lambda: inline.append(row(time.time())), args.iterations
    )
    inline.close()
    # As in the server: checkpoints deferred to a background thread once a second.
    ledger = Ledger(path)
    ledger.open()
    ledger.defer_checkpoints()
    stop_checkpoints = threading.Event()

    def checkpoints() -> None:
        while not stop_checkpoints.wait(1.0):
            if ledger.unchecked_rows:
                ledger.checkpoint()

    checkpointer = threading.Thread(target=checkpoints, daemon=True)
    checkpointer.start()
    for _ in range(1000):  # warm up: file grown, statements cached
        ledger.append(row(time.time()))
    ledger.spend()
    results["append"] = timed(lambda: ledger.append(row(time.time())), args.iterations)
    results["spend"] = timed(ledger.spend, args.iterations)
    results["request"] = bench_request(directory, args.iterations)

    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=other_writer, args=(str(path), stop, ready))
    writer.start()
    ready.wait(30)
    try:
        results["append, 2nd writer"] = timed(
            lambda: ledger.append(row(time.time())), args.iterations
        )
        results["spend, 2nd writer"] = timed(ledger.spend, args.iterations)
    finally:
        stop.set()
        writer.join(30)
        stop_checkpoints.set()
        checkpointer.join(30)
    ledger.close()
    spooled = PostgresLedger("postgresql://bench@127.0.0.1:9/none", Spool(directory, 1 << 30))
    spooled.spool.open()
    results["append, postgres"] = timed(lambda: spooled.append(row(time.time())), args.iterations)
    spooled.spool.close()
    print(json.dumps(results, indent=2))
    over = results["request"]["median_us"] > args.budget_us
    if over:
        print(
            f"median request cost {results['request']['median_us']} us is over the budget "
            f"of {args.budget_us} us",
            file=sys.stderr,
        )
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
